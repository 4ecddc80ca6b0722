"""The aggregate tables a synthetic population is drawn from, as shipped with scslab.

`scslab/data/NAME.yaml` holds a city's (or the country's) aggregates, each with its
source and grade or ASSUMED: residents by district, age band and sex, the migrants' age
profile, education, employment sectors and firm sizes. Aggregates only: no person-level
data. `city_table` reads one; the keys the population is drawn from are those of
beijing-2020.yaml.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
"""The ten-year age bands of every table, youngest first (a resident's age_band indexes it)."""


@cache
def city_table(name: str = "beijing-2020") -> dict[str, Any]:
    """The aggregate table shipped with scslab (district sizes, age bands, shares)."""
    text = (resources.files("scslab") / "data" / f"{name}.yaml").read_text("utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    return table
