"""Layer 1, the scenario and the population: a scenario's rules as typed, validated
values (schema), and the synthetic city drawn from aggregate tables (population).
Imports nothing of scslab's other layers."""
