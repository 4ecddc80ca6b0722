"""Layer 6, many runs: experiment files and their designs (spec), sweeps over seeds and
parameters on Dask (sweep), `scslab.Experiment`, which runs and plots one (experiment),
calibration to published figures (calibration) and global sensitivity analysis
(sensitivity)."""
