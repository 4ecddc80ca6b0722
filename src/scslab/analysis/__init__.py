"""Layer 5, analysis: the rights lint of a scenario's rules (lint), harm measured in
runs (harm), one resident's story (explain), scenarios compared (compare), the
figures registry (figures) and the one statistics module (stats)."""
