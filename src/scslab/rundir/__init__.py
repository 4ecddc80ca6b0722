"""Layer 4, the run directory: claiming and writing a run whole or not at all (claim),
the manifest read back and checked (manifest), Results as data with Parquet I/O and
query (results), and a simulation run into a directory (run)."""
