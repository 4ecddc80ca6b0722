"""Layer 5, analysis: the rights lint of a scenario's rules (lint, against the tables of
principles and contexts in principles, reporting findings), harm measured in runs
(harm) and summarised across seeds (harmsummary), one resident's story (explain),
scenarios compared (compare), the figures registry (figures) and the one statistics
module (stats)."""
