"""The population section of a scenario: the figures the synthetic city is drawn from.

Beside the aggregate table it names (districts, age bands, education, sectors: in
`scslab/data/`), a scenario gives the city's size, its shares (migrants, employment),
household size, market entities per resident, how residents know each other, and the
model of income that income deciles are cut from. Each default says its source, or
ASSUMED and why that value (the defaults are Beijing's, as the built-in scenarios give
them). `scslab.scenario.population.build_population` draws the city from this section.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from scslab.scenario.bounds import (
    MAX_RESIDENTS,
    Count,
    FirmsPerResident,
    Probability,
    Strict,
    at_most,
)

LogSd = Annotated[float, Field(strict=True, ge=0.0, le=5.0)]
"""A standard deviation of latent income (log scale), from 0 to 5."""
LogShift = Annotated[float, Field(strict=True, ge=-5.0, le=5.0)]
"""A shift of latent income (log scale), from -5 to 5 (a factor of e**5, about 150)."""


class LatentIncome(Strict):
    """The latent income that residents' income deciles are cut from (ASSUMED shape).

    A resident's latent income (log scale, no unit) is a normal household effect, shared
    by the household's members, plus a normal individual effect, plus the effect of
    their education level, plus `migrant_shift` for migrants. Income deciles are the
    city's own tenths of it, so only the ratios of these numbers matter: they set how
    strongly a resident's decile follows their household, education and hukou, not any
    level of income. With the defaults the latent income has a standard deviation near
    1 (a log-normal income with sd 1 has a Gini index of 0.52).
    """

    household_sd: LogSd = Field(
        0.8,
        description="Standard deviation of the household effect (ASSUMED: members pool "
        "income, so households differ more than members do: 0.8 of a total near 1).",
    )
    individual_sd: LogSd = Field(
        0.6,
        description="Standard deviation of each resident's own effect (ASSUMED: with the "
        "household's 0.8, a total sd of 1; members share 64% of the variance).",
    )
    migrant_shift: LogShift = Field(
        -0.3,
        description="Added for migrants (no local hukou) (ASSUMED: exp(-0.3), about 0.74 "
        "of the income of a hukou holder of equal education and household).",
    )
    education_effect: tuple[LogShift, LogShift, LogShift] = Field(
        (-0.5, 0.0, 0.6),
        description="Added for primary, secondary, tertiary education (ASSUMED: relative "
        "to secondary, about 0.6 of the income with primary or less, exp(-0.5), and 1.8 "
        "times with a degree, exp(0.6)).",
    )


class PopulationSpec(Strict):
    """Aggregate statistics the synthetic city is drawn from (scale 1 = the whole city)."""

    table: Literal["beijing-2020", "china-2020"] = Field(
        "beijing-2020",
        description=(
            "Aggregate table the residents are drawn from: beijing-2020 (Beijing's 16 "
            "districts) or china-2020 (the 31 provinces as districts; its national "
            "figures for the other keys: scslab.scenario.nation.population_spec())."
        ),
    )
    residents_at_scale_1: Annotated[
        int, Field(strict=True, ge=1), at_most(MAX_RESIDENTS, " residents", "ids are int32")
    ] = Field(21_542_000, description="Residents at scale 1 (Beijing, end-2018 estimate, B).")
    migrant_share: Probability = Field(
        0.385, description="Share of residents without local hukou (Beijing 2020, B)."
    )
    household_size_mean: Annotated[float, Field(strict=True, ge=1.0, le=8.0)] = Field(
        2.31, description="Mean household size, persons (Beijing 2020, B)."
    )
    household_size_max: Annotated[int, Field(strict=True, ge=1, le=16)] = Field(
        8,
        description="Largest household, persons: sizes are 1 + Poisson(mean - 1), the "
        "larger ones counted at this size (ASSUMED: households of more than 8 are rare, "
        "and each member counts every other as a contact).",
    )
    employment_rate: Probability = Field(
        0.75, description="Share of residents aged 20-59 in work (ASSUMED)."
    )
    enterprises_per_resident: FirmsPerResident = Field(
        0.0766, description="Enterprises per resident (Beijing: 1.65M / 21.54M, end-2018, B)."
    )
    individual_businesses_per_resident: FirmsPerResident = Field(
        0.0227,
        description="Individual businesses per resident (Beijing: 489,000 / 21.54M, end-2018, B).",
    )
    legal_rep_poorest_to_richest: Annotated[float, Field(strict=True, ge=0.001, le=1000.0)] = Field(
        0.1,
        description="Chance of a resident of the poorest income decile to be drawn as a "
        "market entity's legal representative, relative to one of the richest, linear in "
        "the decile between (ASSUMED: owners are better off; weights 1 to 10).",
    )
    friends_per_resident: Annotated[Count, Field(le=200)] = Field(
        8, description="Named friends, contacts beyond home and work (ASSUMED)."
    )
    friends_same_district: Probability = Field(
        0.7, description="Share of friends from one's own district (ASSUMED)."
    )
    coworker_contacts: Annotated[Count, Field(le=50)] = Field(
        4, description="Nearest colleagues counted as contacts (ASSUMED)."
    )
    children_share_of_parents: Probability = Field(
        0.35,
        description="(ASSUMED; informational: parents are the working-age members of "
        "households with someone under 20.)",
    )
    income: LatentIncome = Field(
        LatentIncome(),
        description="The latent income that income deciles are cut from: a household "
        "effect, an individual effect, education and hukou (ASSUMED shape; deciles are the "
        "city's own tenths, so only the ratios of its numbers matter).",
    )

    @model_validator(mode="after")
    def _household(self) -> Self:
        if self.household_size_mean > self.household_size_max:
            raise ValueError(
                f"household_size_mean: at most household_size_max ({self.household_size_max})"
            )
        return self

    def legal_rep_weights(self) -> list[float]:
        """Weight of each income decile (0 = poorest) in drawing legal representatives,
        relative to the poorest: linear from 1 to 1 / legal_rep_poorest_to_richest."""
        richest = 1.0 / self.legal_rep_poorest_to_richest
        return [1.0 + (richest - 1.0) * d / 9.0 for d in range(10)]
