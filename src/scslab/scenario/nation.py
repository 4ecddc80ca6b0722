"""The national population table: mainland China's 31 provinces as a population's districts.

`scslab/data/china-2020.yaml` holds the 2020 census aggregates (residents and urban share
of each province, national age bands, sex, the floating population, education, sectors),
each with its source and grade. It is written with the keys of the city table
(beijing-2020.yaml) that `build_population` reads, so a scenario whose population section
says `table: china-2020` draws its residents from the 31 provinces; `population_spec()`
gives that section with the national figures (residents, migrant share, household size,
market entities). `load_nation()` reads the table and checks that its figures add up.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.tables import AGE_BANDS, city_table

N_PROVINCES = 31
"""Provincial-level divisions of mainland China: 22 provinces, 5 autonomous regions and
4 municipalities."""

Count = Annotated[int, Field(strict=True, ge=1)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


def _close(a: float, b: float, rel: float) -> bool:
    """Whether a and b differ by at most `rel` of b."""
    return abs(a - b) <= rel * abs(b)


class NationTable(BaseModel):
    """The national aggregate table (people, shares of people; no person-level data)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    national_total: Count  # census total: the provinces and the military (people)
    military: Annotated[int, Field(strict=True, ge=0)]  # in national_total, in no province
    districts: dict[str, Count]  # residents of each province (people)
    urban_total: Count  # urban residents, national (people)
    urban_share: dict[str, Share]  # share of each province's residents living in towns
    age_bands: dict[str, Count]  # people in each ten-year band, national
    males: Count
    male_share: Share
    separated_from_hukou: Count  # residents living away from their hukou place (people)
    separated_within_city: Count  # of whom moved within one city's districts
    floating_population: Count  # the others: separated_from_hukou less separated_within_city
    inter_provincial_migrants: Count  # of the floating population, from another province
    inter_provincial_in_migrants: dict[str, Count]  # by province of residence, where known
    migrant_age_weight: list[Annotated[float, Field(ge=0.0)]]
    education_totals: dict[str, Count]  # highest level completed, all residents (people)
    education_levels: list[str]
    education_share_hukou: list[Share]
    education_share_migrant: list[Share]
    sectors: dict[str, Share]  # share of workers in each sector
    enterprise_size_pareto_shape: Annotated[float, Field(gt=0.0)]
    individual_business_employees: tuple[Count, Count]  # fewest and most people employed
    population_spec: dict[str, Any]  # the scenario population section (PopulationSpec keys)

    @model_validator(mode="after")
    def _provinces(self) -> Self:
        if len(self.districts) != N_PROVINCES:
            raise ValueError(f"districts: {N_PROVINCES} provinces expected, {len(self.districts)}")
        if set(self.urban_share) != set(self.districts):
            raise ValueError("urban_share: one share for each province in districts")
        unknown = set(self.inter_provincial_in_migrants) - set(self.districts)
        if unknown:
            raise ValueError(f"inter_provincial_in_migrants: unknown provinces {sorted(unknown)}")
        for name, migrants in self.inter_provincial_in_migrants.items():
            if migrants > self.districts[name]:
                raise ValueError(f"inter_provincial_in_migrants.{name}: more than its residents")
        total = sum(self.districts.values()) + self.military
        if not _close(total, self.national_total, 0.001):
            raise ValueError(
                f"districts: {total:,} residents with the military, "
                f"national_total {self.national_total:,}"
            )
        urban = sum(self.urban_share[k] * v for k, v in self.districts.items()) + self.military
        if not _close(urban, self.urban_total, 0.001):
            raise ValueError(f"urban_share: {urban:,.0f} urban residents, {self.urban_total:,}")
        return self

    @model_validator(mode="after")
    def _people(self) -> Self:
        if tuple(self.age_bands) != AGE_BANDS:
            raise ValueError(f"age_bands: the bands {', '.join(AGE_BANDS)}, in that order")
        if len(self.migrant_age_weight) != len(AGE_BANDS):
            raise ValueError("migrant_age_weight: one weight an age band")
        ages = sum(self.age_bands.values())
        if not _close(ages, self.national_total, 0.01):
            raise ValueError(f"age_bands: {ages:,} people, national_total {self.national_total:,}")
        if not _close(self.males / self.national_total, self.male_share, 0.001):
            raise ValueError("male_share: not males / national_total")
        if self.separated_within_city + self.floating_population != self.separated_from_hukou:
            raise ValueError("separated_from_hukou: not within-city plus floating population")
        if self.inter_provincial_migrants > self.floating_population:
            raise ValueError("inter_provincial_migrants: more than the floating population")
        if sum(self.inter_provincial_in_migrants.values()) > self.inter_provincial_migrants:
            raise ValueError("inter_provincial_in_migrants: more than inter_provincial_migrants")
        if self.separated_from_hukou > self.national_total:
            raise ValueError("separated_from_hukou: more than national_total")
        if sum(self.education_totals.values()) > self.national_total:
            raise ValueError("education_totals: more than national_total")
        return self

    @model_validator(mode="after")
    def _shares(self) -> Self:
        for key in ("education_share_hukou", "education_share_migrant"):
            shares = getattr(self, key)
            if len(shares) != len(self.education_levels):
                raise ValueError(f"{key}: one share an education level")
            if not _close(sum(shares), 1.0, 1e-6):
                raise ValueError(f"{key}: shares sum to {sum(shares):g}, not 1")
        fewest, most = self.individual_business_employees
        if fewest > most:
            raise ValueError("individual_business_employees: the fewest first, then the most")
        if not _close(sum(self.sectors.values()), 1.0, 1e-6):
            raise ValueError(f"sectors: shares sum to {sum(self.sectors.values()):g}, not 1")
        spec = PopulationSpec.model_validate(self.population_spec)
        if spec.residents_at_scale_1 != self.province_total:
            raise ValueError("population_spec.residents_at_scale_1: not the provinces' total")
        if abs(spec.migrant_share - self.floating_population / self.province_total) > 1e-3:
            raise ValueError("population_spec.migrant_share: not the floating population's share")
        return self

    @property
    def province_total(self) -> int:
        """Residents of the 31 provinces (people; the national total less the military)."""
        return sum(self.districts.values())

    def province_shares(self) -> dict[str, float]:
        """Each province's share of the provinces' residents."""
        total = self.province_total
        return {name: people / total for name, people in self.districts.items()}

    def age_shares(self) -> dict[str, float]:
        """Each age band's share of the national total."""
        total = sum(self.age_bands.values())
        return {band: people / total for band, people in self.age_bands.items()}

    def in_migrant_share(self, province: str) -> float | None:
        """Share of a province's residents who came from another province (None: unknown)."""
        migrants = self.inter_provincial_in_migrants.get(province)
        return None if migrants is None else migrants / self.districts[province]


def load_nation(name: str = "china-2020") -> NationTable:
    """The national table shipped with scslab, checked (pydantic ValidationError if a
    figure is out of bounds or the totals disagree)."""
    return NationTable.model_validate(city_table(name))


def population_spec(name: str = "china-2020", **overrides: Any) -> PopulationSpec:
    """The scenario population section for the whole country: the table's national
    figures (residents at scale 1, migrant share, household size, employment, market
    entities per resident), with `overrides` (PopulationSpec keys) on top. Scale 1 is
    every resident of the provinces; scale 0.0001 about 141,000 residents."""
    return PopulationSpec.model_validate({**load_nation(name).population_spec, **overrides})
