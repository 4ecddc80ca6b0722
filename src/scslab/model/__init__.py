"""Layer 2, the model: the mechanisms of a social credit system as small functions and
kernels over arrays (departments and records, scoring, lists and measures, activities,
behaviour, due process), with their random streams. Imports only the scenario layer."""
