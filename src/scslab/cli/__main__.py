"""`python -m scslab.cli`: the command line, as the `scslab` script runs it."""

from scslab.cli import main

main()
