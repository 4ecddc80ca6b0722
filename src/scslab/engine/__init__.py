"""Layer 3, the engine: the state of a run, the step table of a day, the loops that run
days (general and compiled), the collectors and the output tables. Imports the model
and the scenario layers."""
