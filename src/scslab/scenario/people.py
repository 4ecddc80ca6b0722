"""Synthetic residents in households, and the market entities that employ them.

A resident is an integer id (its position in every array) with attributes; there are no
names, no identity numbers and no person-level input of any kind. Households are drawn
first (size, district, hukou), then each member's age band, sex and education from the
aggregate table, a latent income from the scenario's income model (its deciles are the
city's own tenths of it), and work: employment and sector. Market entities then draw a
legal representative and employ the private-sector workers. Everything is
struct-of-arrays with compact dtypes, drawn by compiled loops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scslab.kernelcache import kernel
from scslab.scenario.population_spec import PopulationSpec
from scslab.scenario.sampling import cumulative, draw_by_group, pick, search_sorted
from scslab.scenario.tables import city_table
from scslab.streams import day_rng

WORKING_BANDS = (2, 3, 4, 5)  # 20 to 59
LEGAL_REP_BANDS = (2, 6)
"""Age bands legal representatives are drawn from, first and last: 20 to 69 (ASSUMED:
adults of working age and the recently retired, who still own and run businesses)."""
ENTERPRISE, INDIVIDUAL_BUSINESS = 0, 1
NO_EMPLOYER = -1


@dataclass
class Residents:
    """Synthetic residents, one array per attribute, indexed by resident id."""

    district: np.ndarray  # uint8, index into Population.district_names
    migrant: np.ndarray  # bool, True = no local hukou
    age_band: np.ndarray  # uint8, index into AGE_BANDS
    male: np.ndarray  # bool
    income_decile: np.ndarray  # uint8, 0 = poorest tenth of the city, 9 = richest
    education: np.ndarray  # uint8, index into table education_levels
    sector: np.ndarray  # int8, index into Population.sector_names, -1 = not employed
    employer: np.ndarray  # int32, enterprise id, -1 = none (not employed, or public sector)
    household: np.ndarray  # int32, household id (households are contiguous id ranges)
    parent: np.ndarray  # bool, adult 20-59 living with a child under 20

    def __len__(self) -> int:
        return len(self.district)


@dataclass
class Enterprises:
    """Market entities: enterprises and individual businesses, indexed by enterprise id."""

    kind: np.ndarray  # uint8, ENTERPRISE or INDIVIDUAL_BUSINESS
    district: np.ndarray  # uint8
    sector: np.ndarray  # int8, index into Population.sector_names
    employees: np.ndarray  # int32, number of residents employed
    legal_rep: np.ndarray  # int32, resident id of the legal representative

    def __len__(self) -> int:
        return len(self.kind)


def _age_distributions(table: dict[str, Any], migrant_share: float) -> tuple[np.ndarray, ...]:
    """Age-band distributions of migrants and hukou holders matching the census overall."""
    census = np.array(list(table["age_bands"].values()), dtype=np.float64)
    census /= census.sum()
    mig = census * np.asarray(table["migrant_age_weight"])
    mig /= mig.sum()
    if migrant_share >= 1.0:
        return mig, mig
    huk = np.clip(census - migrant_share * mig, 1e-6, None)
    huk /= huk.sum()
    return mig, huk


@kernel
def _people(
    rng: np.random.Generator,
    migrant: np.ndarray,
    hh_starts: np.ndarray,
    band_cdfs: np.ndarray,
    male_share: float,
    edu_cdfs: np.ndarray,
    household_sd: float,
    individual_sd: float,
    edu_effect: np.ndarray,
    migrant_shift: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Age band (uint8), male (bool), education (uint8) and latent income (float64, log
    scale, arbitrary units) of every resident, household by household.

    `band_cdfs` rows: migrant member, migrant head, hukou member, hukou head (the head is
    a household's first member); `edu_cdfs` rows: hukou, migrant. Under-10s have
    education level 0, under-20s at most level 1. Latent income is a normal household
    effect (sd `household_sd`) plus a normal individual effect (sd `individual_sd`) plus
    `edu_effect` of the level, plus `migrant_shift` for migrants (PopulationSpec.income).
    """
    n = len(migrant)
    age = np.empty(n, np.uint8)
    male = np.empty(n, np.bool_)
    edu = np.empty(n, np.uint8)
    latent = np.empty(n, np.float64)
    for h in range(len(hh_starts) - 1):
        z = rng.normal(0.0, household_sd)
        for i in range(hh_starts[h], hh_starts[h + 1]):
            m = migrant[i]
            row = (0 if m else 2) + (1 if i == hh_starts[h] else 0)
            b = pick(band_cdfs[row], rng.random())
            male[i] = rng.random() < male_share
            e = pick(edu_cdfs[1 if m else 0], rng.random())
            if b == 0:
                e = 0
            elif b == 1:
                e = min(e, 1)
            age[i] = b
            edu[i] = e
            latent[i] = (z + rng.normal(0.0, individual_sd)) + (edu_effect[e] + migrant_shift * m)
    return age, male, edu, latent


@kernel
def _household_sizes(rng: np.random.Generator, cdf: np.ndarray, count: int) -> np.ndarray:
    """`count` household sizes (int64): 1 + the index `cdf` picks for a uniform draw."""
    out = np.empty(count, np.int64)
    for h in range(count):
        out[h] = 1 + pick(cdf, rng.random())
    return out


@kernel
def _work(
    rng: np.random.Generator,
    age_band: np.ndarray,
    latent: np.ndarray,
    cuts: np.ndarray,
    employment_rate: float,
    lo: int,
    hi: int,
    sector_cdf: np.ndarray,
    hh_starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Income decile (uint8: cuts strictly below the latent income), sector (int8, -1 =
    not employed) and parent (bool: working age in a household with someone under 20).

    Working age is bands lo..hi; each working-age resident draws employment, and if
    employed, a sector.
    """
    n = len(age_band)
    decile = np.empty(n, np.uint8)
    sector = np.full(n, -1, np.int8)
    for i in range(n):
        v = latent[i]
        d = 0
        while d < len(cuts) and cuts[d] < v:
            d += 1
        decile[i] = d
        if lo <= age_band[i] <= hi and rng.random() < employment_rate:
            sector[i] = pick(sector_cdf, rng.random())
    parent = np.zeros(n, np.bool_)
    for h in range(len(hh_starts) - 1):
        child = False
        for i in range(hh_starts[h], hh_starts[h + 1]):
            if age_band[i] < 2:
                child = True
                break
        if child:
            for i in range(hh_starts[h], hh_starts[h + 1]):
                parent[i] = lo <= age_band[i] <= hi
    return decile, sector, parent


@kernel
def _members(
    hh_starts: np.ndarray, hh_district: np.ndarray, hh_migrant: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Household id (int32), district (uint8) and migrant flag of every resident, from
    the households' start offsets (contiguous id ranges) and household attributes."""
    n = hh_starts[-1]
    household = np.empty(n, np.int32)
    district = np.empty(n, np.uint8)
    migrant = np.empty(n, np.bool_)
    for h in range(len(hh_starts) - 1):
        for i in range(hh_starts[h], hh_starts[h + 1]):
            household[i] = h
            district[i] = hh_district[h]
            migrant[i] = hh_migrant[h]
    return household, district, migrant


def _band_cdfs(dist: np.ndarray, head_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Age-band tables for household members and heads (heads are 20 or over)."""
    adult = dist.copy()
    adult[:2] = 0.0
    adult /= adult.sum()
    members = np.clip(dist - head_share * adult, 0.0, None) if head_share < 1 else dist
    members = members / members.sum()
    return cumulative(members), cumulative(adult)


def build_residents(
    spec: PopulationSpec, n: int, seed: int
) -> tuple[Residents, np.ndarray, dict[str, Any]]:
    """Draw n residents in households; returns residents, household start offsets, table."""
    table = city_table(spec.table)
    rng = day_rng(seed, "population.households")
    mean_extra = spec.household_size_mean - 1.0
    n_households = int(n / spec.household_size_mean * 1.1) + 8
    # 1 + Poisson(mean - 1), the larger counted at household_size_max: one table draw
    # per household
    top = spec.household_size_max
    k = np.arange(top)
    pmf = np.exp(-mean_extra) * mean_extra**k / np.cumprod(np.maximum(k, 1))
    pmf[top - 1] = max(1.0 - pmf[: top - 1].sum(), 0.0)
    size_cdf = cumulative(pmf)
    sizes = _household_sizes(rng, size_cdf, n_households)
    while sizes.sum() < n:  # the cap made households too small for the estimate above
        sizes = np.concatenate([sizes, _household_sizes(rng, size_cdf, n_households)])
    ends = np.cumsum(sizes)
    n_households = int(np.searchsorted(ends, n) + 1)
    sizes = sizes[:n_households]
    sizes[-1] -= int(ends[n_households - 1] - n)
    starts = np.zeros(n_households + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])

    census = np.array(list(table["districts"].values()), dtype=np.float64)
    # Households in district order: residents of a district form one id range, which
    # keeps the contact graph local in memory (friends are mostly from one's district).
    # (Sorted categorical draws = the draws' counts laid out in order.)
    hh_pick = search_sorted(cumulative(census / census.sum()), rng.random(n_households), 1.0, True)
    per_district = np.bincount(hh_pick, minlength=len(census))
    hh_district = np.repeat(np.arange(len(census), dtype=np.uint8), per_district)
    hh_migrant = rng.random(n_households) < spec.migrant_share
    household, district, migrant = _members(starts, hh_district, hh_migrant)

    rng = day_rng(seed, "population.people")
    mig_dist, huk_dist = _age_distributions(table, spec.migrant_share)
    mig_member, mig_head = _band_cdfs(mig_dist, n_households / n)
    huk_member, huk_head = _band_cdfs(huk_dist, n_households / n)
    edu_cdfs = np.stack(
        [cumulative(table["education_share_hukou"]), cumulative(table["education_share_migrant"])]
    )
    income = spec.income
    edu_effect = np.array(income.education_effect, dtype=np.float64)
    if len(table["education_levels"]) != len(edu_effect):
        raise ValueError("the income gradient needs one entry per education level")
    # Income: a household effect, an individual effect, education and hukou gradients
    # (PopulationSpec.income, ASSUMED shape); deciles are the city's own quantiles of
    # this latent income.
    age_band, male, education, latent = _people(
        rng,
        migrant,
        starts,
        np.stack([mig_member, mig_head, huk_member, huk_head]),
        float(table["male_share"]),
        edu_cdfs,
        income.household_sd,
        income.individual_sd,
        edu_effect,
        income.migrant_shift,
    )
    # (a 1,000,000 sample with replacement pins the cuts as well as one without)
    sample = latent if n <= 1_000_000 else latent[rng.integers(0, n, 1_000_000)]
    cuts = np.quantile(sample, np.linspace(0.1, 0.9, 9))
    sector_share = np.array(list(table["sectors"].values()), dtype=np.float64)
    income_decile, sector, parent = _work(
        rng,
        age_band,
        latent,
        cuts,
        spec.employment_rate,
        min(WORKING_BANDS),
        max(WORKING_BANDS),
        cumulative(sector_share),
        starts,
    )
    del latent, sample

    residents = Residents(
        district=district,
        migrant=migrant,
        age_band=age_band,
        male=male,
        income_decile=income_decile,
        education=education,
        sector=sector,
        employer=np.full(n, NO_EMPLOYER, dtype=np.int32),
        household=household,
        parent=parent,
    )
    return residents, starts, table


@kernel
def _employ(
    workers: np.ndarray,
    picks: np.ndarray,
    enterprise_sector: np.ndarray,
    employer: np.ndarray,
    sector: np.ndarray,
    n_firms: int,
) -> np.ndarray:
    """Write employer and sector of each worker (picks[k] is worker k's firm); head counts."""
    employees = np.zeros(n_firms, np.int32)
    for k in range(len(workers)):
        f = min(picks[k], n_firms - 1)
        w = workers[k]
        employer[w] = f
        sector[w] = enterprise_sector[f]
        employees[f] += 1
    return employees


def build_enterprises(
    spec: PopulationSpec, residents: Residents, seed: int, sector_names: list[str], table: dict
) -> Enterprises:
    """Draw market entities, their legal representatives, and employ residents in them."""
    n = len(residents)
    rng = day_rng(seed, "population.enterprises")
    n_ent = round(n * spec.enterprises_per_resident)
    n_ib = round(n * spec.individual_businesses_per_resident)
    total = n_ent + n_ib
    kind = np.concatenate(
        [np.full(n_ent, ENTERPRISE, np.uint8), np.full(n_ib, INDIVIDUAL_BUSINESS, np.uint8)]
    )
    # Legal representatives: adults 20-69, more likely the richer (weights by income
    # decile: PopulationSpec.legal_rep_poorest_to_richest).
    first, last = LEGAL_REP_BANDS
    adult = (residents.age_band >= first) & (residents.age_band <= last)
    if not adult.any():
        adult[:] = True
    keys = np.where(adult, residents.income_decile.astype(np.int8), np.int8(-1))
    weights = np.array(spec.legal_rep_weights(), dtype=np.float64)
    legal_rep = draw_by_group(rng, keys, weights, total)
    del keys, adult
    district = residents.district[legal_rep] if total else np.zeros(0, np.uint8)

    private = [i for i, s in enumerate(sector_names) if s != "public_sector"]
    shares = np.array([table["sectors"][sector_names[i]] for i in private], dtype=np.float64)
    sector = np.array(private, dtype=np.int8)[
        search_sorted(cumulative(shares / shares.sum()), rng.random(total), 1.0, True)
    ]

    # Employment: private-sector workers pick an employer with probability proportional
    # to a size weight: 1 + Pareto for enterprises, uniform from the table's smallest to
    # largest individual business (both ASSUMED, in the table).
    fewest, most = table["individual_business_employees"]
    if not 1 <= fewest <= most:
        raise ValueError("individual_business_employees: [fewest, most], 1 <= fewest <= most")
    size_w = np.concatenate(
        [
            rng.pareto(float(table["enterprise_size_pareto_shape"]), n_ent) + 1.0,
            rng.integers(int(fewest), int(most) + 1, n_ib).astype(np.float64),
        ]
    )
    workers = np.flatnonzero(residents.sector >= 0)
    public = sector_names.index("public_sector") if "public_sector" in sector_names else -1
    workers = workers[residents.sector[workers] != public]
    if total and len(workers):
        cum = np.cumsum(size_w)
        picks = search_sorted(cum, rng.random(len(workers)), float(cum[-1]), False)
        employees = _employ(workers, picks, sector, residents.employer, residents.sector, total)
    else:
        employees = np.zeros(total, np.int32)
    return Enterprises(
        kind=kind, district=district, sector=sector, employees=employees, legal_rep=legal_rep
    )
