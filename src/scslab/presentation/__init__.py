"""Layer 7, presentation: plots, HTML reports, the dashboard, sweep reports and the
scenario reference. The command line (scslab.cli) sits above it."""
