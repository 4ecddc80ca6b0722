"""Layer 6, many runs: experiment files and sweeps over seeds and parameters
(experiment), calibration to published figures (calibration) and global sensitivity
analysis (sensitivity)."""
