"""Layer 1, the scenario and the population. Imports nothing of scslab's other layers.

A scenario's rules as typed, validated values: `schema` (the Scenario), made of `sections`
(the rules) and `population_spec` (the city's figures and income model), within `bounds`;
read by `loader` (files, built-ins, `extends:`) through `safeyaml` (YAML within limits,
ScenarioError), and edited by `changes` (dotted keys, --set). `rates` holds the rate
multipliers the validation shares with the model.

The synthetic city drawn from aggregate tables: `population` (build_population), from
`tables` (the shipped aggregates), `people` (residents, households, market entities) and
`contacts` (who knows whom), with the compiled draws of `sampling`; `nation` reads and
checks the national table.
"""
