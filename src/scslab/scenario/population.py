"""Synthetic residents, market entities and their contact graph, from aggregate tables.

A resident is an integer id (its position in every array) with attributes; there are no
names, no identity numbers and no person-level input of any kind. Attributes are drawn
from the aggregate tables in `scslab/data/beijing-2020.yaml` and the scenario's
`population` section. Everything is struct-of-arrays with compact dtypes; the graph is
CSR (int64 offsets, int32 ids), built by compiled counting sorts, not by Python loops.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numba as nb
import numpy as np
import yaml

from scslab.scenario.schema import PopulationSpec
from scslab.streams import day_rng, splitmix64, stream_key

AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")
ADULT_BANDS = slice(2, None)  # 20 and over
WORKING_BANDS = (2, 3, 4, 5)  # 20 to 59
ENTERPRISE, INDIVIDUAL_BUSINESS = 0, 1
NO_EMPLOYER = -1


@cache
def city_table(name: str = "beijing-2020") -> dict[str, Any]:
    """The aggregate table shipped with scslab (district sizes, age bands, shares)."""
    text = (resources.files("scslab") / "data" / f"{name}.yaml").read_text("utf-8")
    table: dict[str, Any] = yaml.safe_load(text)
    return table


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


@dataclass
class Graph:
    """A directed graph in CSR form: the neighbours of i are indices[indptr[i]:indptr[i+1]]."""

    indptr: np.ndarray  # int64, length n + 1
    indices: np.ndarray  # int32

    def neighbours(self, i: int) -> np.ndarray:
        """Ids adjacent to i."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def degree(self) -> np.ndarray:
        """Number of neighbours of every node."""
        return np.diff(self.indptr)


@dataclass
class Population:
    """The synthetic city: residents, enterprises and who knows whom."""

    residents: Residents
    enterprises: Enterprises
    contacts: Graph  # i -> the residents i counts as contacts (household, work, friends)
    contacts_of: Graph  # i -> the residents who count i as a contact (the transpose)
    represented: Graph  # resident -> enterprises whose legal representative they are
    district_names: list[str]
    sector_names: list[str]
    education_names: list[str]

    @property
    def n_residents(self) -> int:
        """Number of residents."""
        return len(self.residents)

    @property
    def n_enterprises(self) -> int:
        """Number of market entities (enterprises and individual businesses)."""
        return len(self.enterprises)


def resident_count(spec: PopulationSpec, scale: float | None, residents: int | None) -> int:
    """Residents in a city of `scale` (1 = the whole city), or the absolute `residents`."""
    if residents is not None:
        return int(residents)
    return max(1, round(spec.residents_at_scale_1 * (0.01 if scale is None else scale)))


def estimated_bytes(spec: PopulationSpec, n_residents: int) -> int:
    """Peak memory (bytes) a run of this size needs: population, graph and engine state."""
    household_degree = max(spec.household_size_mean - 1.0, 0.0) * 1.5
    degree = spec.friends_per_resident + spec.coworker_contacts * 0.6 + household_degree
    per_resident = 16 + 2 * (8 + 4 * degree) + 48  # attributes, both CSRs, engine state
    per_resident += 4 * degree  # transient copy while transposing the graph
    firms = spec.enterprises_per_resident + spec.individual_businesses_per_resident
    return int(n_residents * (per_resident + firms * 40) + 200e6)


def available_bytes() -> int:
    """Memory this process can still take (MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


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


def _cdf(p: np.ndarray | list[float]) -> np.ndarray:
    """The cumulative table `Generator.choice(..., p=p)` searches (float64, last entry 1)."""
    cdf = np.asarray(p, dtype=np.float64).cumsum()
    cdf /= cdf[-1]
    return cdf


@nb.njit(cache=True)
def _search_sorted(cdf: np.ndarray, x: np.ndarray, scale: float, right: bool) -> np.ndarray:
    """`np.searchsorted(cdf, x * scale, side)` for many unsorted x, through a guide table.

    Exactly the numpy result (the guide table only picks where the scan starts), in
    O(1) expected memory reads per x instead of a binary search over a large `cdf`.
    Returns int64 positions.
    """
    m = len(cdf)
    out = np.empty(len(x), np.int64)
    if m == 0:
        out[:] = 0
        return out
    top = cdf[m - 1]
    n_guide = m
    guide = np.empty(n_guide, np.int64)
    step = top / n_guide if top > 0 else 1.0
    j = 0
    for k in range(n_guide):
        t = k * step
        while j < m - 1 and cdf[j] <= t:
            j += 1
        guide[k] = j
    inv = n_guide / top if top > 0 else 0.0
    for i in range(len(x)):
        v = x[i] * scale
        k = int(v * inv) if v > 0 else 0
        j = guide[min(max(k, 0), n_guide - 1)]
        if right:
            while j > 0 and cdf[j - 1] > v:
                j -= 1
            while j < m and cdf[j] <= v:
                j += 1
        else:
            while j > 0 and cdf[j - 1] >= v:
                j -= 1
            while j < m and cdf[j] < v:
                j += 1
        out[i] = j
    return out


@nb.njit(cache=True, inline="always")
def _pick(cdf: np.ndarray, u: float) -> int:
    """`np.searchsorted(cdf, u, side="right")` for a short table and u in [0, 1)."""
    k = 0
    while k < len(cdf) - 1 and cdf[k] <= u:
        k += 1
    return k


@nb.njit(cache=True)
def _people(
    rng: np.random.Generator,
    migrant: np.ndarray,
    hh_starts: np.ndarray,
    band_cdfs: np.ndarray,
    male_share: float,
    edu_cdfs: np.ndarray,
    edu_effect: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Age band (uint8), male (bool), education (uint8) and latent income (float64, log
    scale, arbitrary units) of every resident, household by household.

    `band_cdfs` rows: migrant member, migrant head, hukou member, hukou head (the head is
    a household's first member); `edu_cdfs` rows: hukou, migrant. Under-10s have
    education level 0, under-20s at most level 1. Latent income is a normal household
    effect (sd 0.8) plus a normal individual effect (sd 0.6) plus `edu_effect` of the
    level, minus 0.3 for migrants.
    """
    n = len(migrant)
    age = np.empty(n, np.uint8)
    male = np.empty(n, np.bool_)
    edu = np.empty(n, np.uint8)
    latent = np.empty(n, np.float64)
    for h in range(len(hh_starts) - 1):
        z = rng.normal(0.0, 0.8)
        for i in range(hh_starts[h], hh_starts[h + 1]):
            m = migrant[i]
            row = (0 if m else 2) + (1 if i == hh_starts[h] else 0)
            b = _pick(band_cdfs[row], rng.random())
            male[i] = rng.random() < male_share
            e = _pick(edu_cdfs[1 if m else 0], rng.random())
            if b == 0:
                e = 0
            elif b == 1:
                e = min(e, 1)
            age[i] = b
            edu[i] = e
            latent[i] = (z + rng.normal(0.0, 0.6)) + (edu_effect[e] - 0.3 * m)
    return age, male, edu, latent


@nb.njit(cache=True)
def _household_sizes(rng: np.random.Generator, cdf: np.ndarray, count: int) -> np.ndarray:
    """`count` household sizes (int64): 1 + the index `cdf` picks for a uniform draw."""
    out = np.empty(count, np.int64)
    for h in range(count):
        out[h] = 1 + _pick(cdf, rng.random())
    return out


@nb.njit(cache=True)
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
            sector[i] = _pick(sector_cdf, rng.random())
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


@nb.njit(cache=True)
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
    return _cdf(members), _cdf(adult)


def build_residents(
    spec: PopulationSpec, n: int, seed: int
) -> tuple[Residents, np.ndarray, dict[str, Any]]:
    """Draw n residents in households; returns residents, household start offsets, table."""
    table = city_table(spec.table)
    rng = day_rng(seed, "population.households")
    mean_extra = spec.household_size_mean - 1.0
    n_households = int(n / spec.household_size_mean * 1.1) + 8
    # 1 + Poisson(mean - 1), capped at 8: one table draw per household
    k = np.arange(8)
    pmf = np.exp(-mean_extra) * mean_extra**k / np.cumprod(np.maximum(k, 1))
    pmf[7] = max(1.0 - pmf[:7].sum(), 0.0)
    sizes = _household_sizes(rng, _cdf(pmf), n_households)
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
    hh_pick = _search_sorted(_cdf(census / census.sum()), rng.random(n_households), 1.0, True)
    per_district = np.bincount(hh_pick, minlength=len(census))
    hh_district = np.repeat(np.arange(len(census), dtype=np.uint8), per_district)
    hh_migrant = rng.random(n_households) < spec.migrant_share
    household, district, migrant = _members(starts, hh_district, hh_migrant)

    rng = day_rng(seed, "population.people")
    mig_dist, huk_dist = _age_distributions(table, spec.migrant_share)
    mig_member, mig_head = _band_cdfs(mig_dist, n_households / n)
    huk_member, huk_head = _band_cdfs(huk_dist, n_households / n)
    edu_cdfs = np.stack(
        [_cdf(table["education_share_hukou"]), _cdf(table["education_share_migrant"])]
    )
    edu_effect = np.array([-0.5, 0.0, 0.6])
    if len(table["education_levels"]) != len(edu_effect):
        raise ValueError("the income gradient needs one entry per education level")
    # Income: a household effect, an individual effect, education and hukou gradients
    # (ASSUMED shape); deciles are the city's own quantiles of this latent income.
    age_band, male, education, latent = _people(
        rng,
        migrant,
        starts,
        np.stack([mig_member, mig_head, huk_member, huk_head]),
        float(table["male_share"]),
        edu_cdfs,
        edu_effect,
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
        _cdf(sector_share),
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


@nb.njit(cache=True)
def _draw_by_group(
    rng: np.random.Generator, keys: np.ndarray, weights: np.ndarray, count: int
) -> np.ndarray:
    """`count` ids (int32, with replacement), each id drawn with probability proportional
    to `weights[keys[id]]`; ids with a key < 0 are never drawn. Picks the group by its
    total weight, then an id uniformly within the group."""
    order, offsets, _ = _group_by(keys, len(weights))
    mass = np.empty(len(weights), np.float64)
    for g in range(len(weights)):
        mass[g] = weights[g] * (offsets[g + 1] - offsets[g])
    cdf = np.cumsum(mass)
    cdf /= cdf[-1]
    out = np.empty(count, np.int32)
    for k in range(count):
        g = _pick(cdf, rng.random())
        size = offsets[g + 1] - offsets[g]
        out[k] = order[offsets[g] + min(int(rng.random() * size), size - 1)]
    return out


@nb.njit(cache=True)
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
    # Legal representatives: adults 20-69, more likely the richer (ASSUMED weight decile+1).
    adult = (residents.age_band >= 2) & (residents.age_band <= 6)
    if not adult.any():
        adult[:] = True
    keys = np.where(adult, residents.income_decile.astype(np.int8), np.int8(-1))
    legal_rep = _draw_by_group(rng, keys, np.arange(1.0, 11.0), total)
    del keys, adult
    district = residents.district[legal_rep] if total else np.zeros(0, np.uint8)

    private = [i for i, s in enumerate(sector_names) if s != "public_sector"]
    shares = np.array([table["sectors"][sector_names[i]] for i in private], dtype=np.float64)
    sector = np.array(private, dtype=np.int8)[
        _search_sorted(_cdf(shares / shares.sum()), rng.random(total), 1.0, True)
    ]

    # Employment: private-sector workers pick an employer with probability proportional
    # to a heavy-tailed size weight (ASSUMED Pareto for enterprises, 1-3 for businesses).
    size_w = np.concatenate(
        [
            rng.pareto(float(table["enterprise_size_pareto_shape"]), n_ent) + 1.0,
            rng.integers(1, 4, n_ib).astype(np.float64),
        ]
    )
    workers = np.flatnonzero(residents.sector >= 0)
    public = sector_names.index("public_sector") if "public_sector" in sector_names else -1
    workers = workers[residents.sector[workers] != public]
    if total and len(workers):
        cum = np.cumsum(size_w)
        picks = _search_sorted(cum, rng.random(len(workers)), float(cum[-1]), False)
        employees = _employ(workers, picks, sector, residents.employer, residents.sector, total)
    else:
        employees = np.zeros(total, np.int32)
    return Enterprises(
        kind=kind, district=district, sector=sector, employees=employees, legal_rep=legal_rep
    )


@nb.njit(cache=True)
def _group_by(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counting sort by key (keys < 0 dropped): ids in key order, offsets of each key,
    and each id's rank within its key's group (-1 where the key is < 0)."""
    counts = np.zeros(n_groups + 1, np.int64)
    for k in keys:
        if k >= 0:
            counts[k + 1] += 1
    offsets = np.cumsum(counts)
    pos = offsets[:-1].copy()
    order = np.empty(offsets[-1], np.int32)
    rank = np.full(len(keys), -1, np.int32)
    for i in range(len(keys)):
        k = keys[i]
        if k >= 0:
            order[pos[k]] = i
            rank[i] = pos[k] - offsets[k]
            pos[k] += 1
    return order, offsets, rank


@nb.njit(cache=True)
def _contact_indptr(
    hh_starts: np.ndarray,
    household: np.ndarray,
    employer: np.ndarray,
    work_offsets: np.ndarray,
    coworkers: int,
    friends: int,
) -> np.ndarray:
    """CSR offsets (int64) of the contact lists: household, colleagues, friends per resident."""
    n = len(household)
    indptr = np.empty(n + 1, np.int64)
    indptr[0] = 0
    acc = 0
    for i in range(n):
        h = household[i]
        d = hh_starts[h + 1] - hh_starts[h] - 1 + friends
        e = employer[i]
        if e >= 0:
            d += min(coworkers, work_offsets[e + 1] - work_offsets[e] - 1)
        acc += d
        indptr[i + 1] = acc
    return indptr


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW24 = np.uint64(0xFFFFFF)
_TWO_M40 = 2.0**-40


@nb.njit(cache=True, nogil=True)
def _fill_contacts(
    first: int,
    last: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    hh_starts: np.ndarray,
    household: np.ndarray,
    employer: np.ndarray,
    work_order: np.ndarray,
    work_rank: np.ndarray,
    work_offsets: np.ndarray,
    coworkers: int,
    district: np.ndarray,
    dist_order: np.ndarray,
    dist_offsets: np.ndarray,
    friends: int,
    same_district: float,
    key: np.uint64,
) -> None:
    """Write the contacts of residents first to last - 1: household, nearest colleagues,
    then friends. Each resident's are drawn from a stream of their own, so that ranges
    may be filled apart (and at once: the GIL is released).

    `dist_order` lists residents by district; pass an empty array when ids are already in
    district order (the order is then the identity and is not read).
    """
    n = len(household)
    identity = len(dist_order) == 0
    same_threshold = np.uint64(min(max(same_district, 0.0), 1.0) * 16777216.0)
    scale_n = n * _TWO_M40
    for i in range(first, last):
        p = indptr[i]
        h = household[i]
        for j in range(hh_starts[h], hh_starts[h + 1]):
            if j != i:
                indices[p] = j
                p += 1
        e = employer[i]
        if e >= 0 and coworkers > 0:
            start = work_offsets[e]
            g = work_offsets[e + 1] - start
            r = work_rank[i]
            if g - 1 <= coworkers:
                for s in range(g):
                    if s != r:
                        indices[p] = work_order[start + s]
                        p += 1
            else:
                for step in range(1, coworkers + 1):
                    off = (step + 1) // 2 if step % 2 == 1 else -(step // 2)
                    indices[p] = work_order[start + (r + off + g) % g]
                    p += 1
    # friends in a second loop: the short loop above then has many cache misses on
    # colleagues in flight at once, and this one is pure arithmetic
    for i in range(first, last):
        end = indptr[i + 1]
        p = end - friends
        first_friend = p
        attempt = 0
        d = district[i]
        base_d = dist_offsets[d]
        size_d = dist_offsets[d + 1] - base_d
        near = same_threshold if size_d > 1 else np.uint64(0)
        scale_d = size_d * _TWO_M40
        # one splitmix64 stream per resident, one 64-bit draw per attempt: the low 24
        # bits decide same-district or anywhere, the high 40 bits pick the friend
        state = splitmix64(key ^ splitmix64(np.uint64(i)))
        while p < end:
            h = splitmix64(state + np.uint64(attempt) * _GOLDEN)
            attempt += 1
            v = float(h >> np.uint64(24))
            # branch-free choice of the range: own district, or the whole city
            same = (h & _LOW24) < near
            lo = base_d if same else 0
            top = size_d - 1 if same else n - 1
            c = lo + min(int(v * (scale_d if same else scale_n)), top)
            if not identity and same:
                c = dist_order[c]
            if c == i:
                continue
            dup = False
            for q in range(first_friend, p):
                dup |= indices[q] == c
            if dup and attempt < 50 * friends:
                continue
            indices[p] = c
            p += 1


TRANSPOSE_SHIFT = 14  # bucket width 2**14 ids: a bucket's counters and output stay in cache


@nb.njit(cache=True, nogil=True)
def _bucket_counts(
    indptr: np.ndarray,
    indices: np.ndarray,
    tail: int,
    first: int,
    last: int,
    shift: int,
    n_buckets: int,
) -> np.ndarray:
    """How many edges of rows first..last-1 (all of each row's, or its last `tail` when
    tail >= 0) go to each bucket of targets (target >> shift)."""
    counts = np.zeros(n_buckets, np.int64)
    for i in range(first, last):
        start = indptr[i] if tail < 0 else indptr[i + 1] - tail
        for p in range(start, indptr[i + 1]):
            counts[indices[p] >> shift] += 1
    return counts


@nb.njit(cache=True, nogil=True)
def _bucket_scatter(
    indptr: np.ndarray,
    indices: np.ndarray,
    tail: int,
    first: int,
    last: int,
    shift: int,
    bpos: np.ndarray,
    t_indices: np.ndarray,
    low: np.ndarray,
) -> None:
    """The edges counted by _bucket_counts, by source, to their bucket's next place
    (bpos, advanced): the source into t_indices, the target's low bits into low."""
    mask = (1 << shift) - 1
    for i in range(first, last):
        start = indptr[i] if tail < 0 else indptr[i + 1] - tail
        for p in range(start, indptr[i + 1]):
            j = indices[p]
            b = j >> shift
            q = bpos[b]
            t_indices[q] = i
            low[q] = j & mask
            bpos[b] = q + 1


def bucket_edges(
    indptr: np.ndarray,
    indices: np.ndarray,
    tail: int,
    n: int,
    shift: int,
    t_indices: np.ndarray,
    low: np.ndarray,
) -> np.ndarray:
    """First pass of a bucketed transpose: the edges of each row (all of them, or its
    last `tail` when tail >= 0) go, by source, to the bucket of their target (targets
    >> shift; n targets), packed from the front of `t_indices`; `low` gets the target's
    low bits. Returns the start of each bucket (n_buckets + 1 offsets).

    Rows are split into one range per numba thread, counted and scattered in plain
    threads (GIL-free kernels); within a bucket, earlier ranges come first, so the
    result is the same however many threads."""
    n_buckets = ((n - 1) >> shift) + 1
    rows = len(indptr) - 1
    cuts = np.linspace(0, rows, min(nb.get_num_threads(), max(rows, 1)) + 1).astype(np.int64)
    ranges = list(itertools.pairwise(int(c) for c in cuts))
    with ThreadPoolExecutor(len(ranges), thread_name_prefix="scslab-transpose") as pool:
        counts = list(
            pool.map(
                lambda r: _bucket_counts(indptr, indices, tail, r[0], r[1], shift, n_buckets),
                ranges,
            )
        )
        bstart = np.zeros(n_buckets + 1, np.int64)
        np.cumsum(np.sum(counts, axis=0), out=bstart[1:])
        starts = bstart[:-1] + np.cumsum([np.zeros(n_buckets, np.int64), *counts[:-1]], axis=0)
        list(
            pool.map(
                lambda k: _bucket_scatter(
                    indptr, indices, tail, *ranges[k], shift, starts[k].copy(), t_indices, low
                ),
                range(len(ranges)),
            )
        )
    return bstart


@nb.njit(cache=True)
def _transpose_into(
    indptr: np.ndarray,
    indices: np.ndarray,
    shift: int,
    bstart: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
    low: np.ndarray,
) -> None:
    """Fill `t_indptr` (n + 1, zeros) and `t_indices` with the transpose; see `transpose`.

    Pass 2 of it: bucket_edges has packed the sources by bucket (bstart: where each
    bucket starts) into t_indices and the targets' low bits into `low` (uint16 scratch).
    """
    n = len(t_indptr) - 1
    n_buckets = ((n - 1) >> shift) + 1
    width = 1 << shift
    # pass 1 (bucket_edges, done): each source went to its target's bucket
    # pass 2: a stable counting sort of each bucket by the target's low bits
    biggest = 0
    for b in range(n_buckets):
        biggest = max(biggest, bstart[b + 1] - bstart[b])
    buf = np.empty(biggest, np.int32)
    pos = np.empty(width + 1, np.int64)
    for b in range(n_buckets):
        s = bstart[b]
        e = bstart[b + 1]
        lo = b << shift
        w = min(width, n - lo)
        pos[: w + 1] = 0
        for q in range(s, e):
            pos[low[q] + 1] += 1
        acc = s
        for k in range(w):
            t_indptr[lo + k] = acc
            acc += pos[k + 1]
            pos[k] = t_indptr[lo + k]
        buf[: e - s] = t_indices[s:e]
        for q in range(s, e):
            k = low[q]
            t_indices[pos[k]] = buf[q - s]
            pos[k] += 1
    t_indptr[n] = len(indices)


def transpose(
    indptr: np.ndarray, indices: np.ndarray, n: int, shift: int = TRANSPOSE_SHIFT
) -> tuple[np.ndarray, np.ndarray]:
    """The transpose of a CSR graph on n nodes (who points at whom): int64 offsets, int32 ids.

    Each reversed list is in ascending source order (a stable counting sort). Two passes
    keep memory access local: sources are first scattered into buckets of 2**shift
    targets (each bucket's slice of the output), then each bucket is counting-sorted
    in place by the low bits of the target. 1 <= `shift` <= 16. Scratch: 2 bytes an edge.
    """
    if not 1 <= shift <= 16:
        raise ValueError("shift must be between 1 and 16")
    m = len(indices)
    t_indptr = np.zeros(n + 1, np.int64)
    t_indices = np.empty(m, np.int32)
    if m and n:
        # arrays allocated by numpy (not inside the kernel) get transparent huge pages
        low = np.empty(m, np.uint16)
        indptr, indices = np.asarray(indptr, np.int64), np.asarray(indices, np.int32)
        bstart = bucket_edges(indptr, indices, -1, n, shift, t_indices, low)
        _transpose_into(indptr, indices, shift, bstart, t_indptr, t_indices, low)
    return t_indptr, t_indices


@nb.njit(cache=True, nogil=True)
def _reverse_contacts(
    indptr: np.ndarray,
    indices: np.ndarray,
    friends: int,
    hh_starts: np.ndarray,
    household: np.ndarray,
    employer: np.ndarray,
    work_order: np.ndarray,
    work_rank: np.ndarray,
    work_offsets: np.ndarray,
    coworkers: int,
    shift: int,
    first_bucket: int,
    last_bucket: int,
    bstart: np.ndarray,
    packed: np.ndarray,
    low: np.ndarray,
    t_indptr: np.ndarray,
    t_indices: np.ndarray,
) -> None:
    """Fill `t_indptr`/`t_indices` with who counts each resident as a contact, for the
    residents of buckets first_bucket..last_bucket-1 (2**shift residents each).

    Relies on the layout `_fill_contacts` writes: household members, colleagues, then
    exactly `friends` friends. Household and colleague ties are symmetric (colleagues
    are the nearest ranks on both sides of a ring; with an odd count the one unpaired
    step is mirrored), so that part of each reversed list is copied from the resident's
    own list; only friend ties are transposed, and follow in ascending source order:
    bucket_edges has packed the friend ties' sources by their target's bucket into
    `packed` (bstart: where each bucket starts) and the targets' low bits into `low`,
    and each bucket is counting-sorted here. Buckets write disjoint slices, so ranges
    of buckets may run in parallel.
    """
    n = len(indptr) - 1
    width = 1 << shift
    pos = np.empty(width + 1, np.int64)
    unpaired = (coworkers + 1) // 2 if coworkers % 2 == 1 else 0
    for b in range(first_bucket, last_bucket):
        s = bstart[b]
        e = bstart[b + 1]
        lo = b << shift
        w = min(width, n - lo)
        pos[: w + 1] = 0
        for q in range(s, e):
            pos[low[q] + 1] += 1
        acc = indptr[lo] - friends * lo + s
        for k in range(w):
            j = lo + k
            t_indptr[j] = acc
            own = indptr[j + 1] - indptr[j] - friends
            for q in range(own):
                t_indices[acc + q] = indices[indptr[j] + q]
            f = employer[j]
            if unpaired and f >= 0:
                start = work_offsets[f]
                g = work_offsets[f + 1] - start
                if g - 1 > coworkers:
                    h = household[j]
                    last = acc + hh_starts[h + 1] - hh_starts[h] - 1 + coworkers - 1
                    t_indices[last] = work_order[start + (work_rank[j] - unpaired + g) % g]
            acc += own
            pos[k] = acc
            acc += pos[k + 1]
        for q in range(s, e):
            k = low[q]
            t_indices[pos[k]] = packed[q]
            pos[k] += 1


def build_contacts(
    spec: PopulationSpec, residents: Residents, hh_starts: np.ndarray, n_firms: int, seed: int
) -> tuple[Graph, Graph]:
    """Each resident's contacts (household members, colleagues and named friends), and
    the reverse: for each resident, who counts them as a contact."""
    n = len(residents)
    work_order, work_offsets, work_rank = _group_by(residents.employer, max(n_firms, 1))
    coworkers = spec.coworker_contacts
    friends = min(spec.friends_per_resident, n - 1)
    indptr = _contact_indptr(
        hh_starts, residents.household, residents.employer, work_offsets, coworkers, friends
    )
    indices = np.empty(int(indptr[-1]), np.int32)
    n_districts = int(residents.district.max()) + 1 if n else 1
    if np.all(residents.district[1:] >= residents.district[:-1]):
        # ids are in district order (build_residents lays them out so): no lookup needed
        per_district = np.bincount(residents.district, minlength=n_districts)
        dist_offsets = np.zeros(n_districts + 1, np.int64)
        np.cumsum(per_district, out=dist_offsets[1:])
        dist_order = np.zeros(0, np.int32)
    else:
        dist_order, dist_offsets, _ = _group_by(residents.district.astype(np.int64), n_districts)
    args = (
        indptr,
        indices,
        hh_starts,
        residents.household,
        residents.employer,
        work_order,
        work_rank,
        work_offsets,
        coworkers,
        residents.district,
        dist_order,
        dist_offsets,
        friends,
        spec.friends_same_district,
        stream_key(seed, "population.friends"),
    )
    # one range of residents per thread that numba may use (the same contacts however many)
    cuts = np.linspace(0, n, nb.get_num_threads() + 1).astype(np.int64)
    with ThreadPoolExecutor(len(cuts) - 1, thread_name_prefix="scslab-contacts") as pool:
        for done in [
            pool.submit(_fill_contacts, int(a), int(b), *args) for a, b in itertools.pairwise(cuts)
        ]:
            done.result()
    t_indptr = np.zeros(n + 1, np.int64)
    t_indices = np.empty(len(indices), np.int32)
    # numpy-allocated scratch (huge pages): friend ties' sources by bucket, targets' low bits
    packed = np.empty(n * friends, np.int32)
    low = np.empty(n * friends, np.uint16)
    bstart = bucket_edges(indptr, indices, friends, n, TRANSPOSE_SHIFT, packed, low)
    n_buckets = len(bstart) - 1
    reverse = functools.partial(
        _reverse_contacts,
        indptr,
        indices,
        friends,
        hh_starts,
        residents.household,
        residents.employer,
        work_order,
        work_rank,
        work_offsets,
        coworkers,
        TRANSPOSE_SHIFT,
    )
    cuts = np.linspace(0, n_buckets, min(nb.get_num_threads(), n_buckets) + 1).astype(np.int64)
    with ThreadPoolExecutor(len(cuts) - 1, thread_name_prefix="scslab-contacts") as pool:
        for done in [
            pool.submit(reverse, int(a), int(b), bstart, packed, low, t_indptr, t_indices)
            for a, b in itertools.pairwise(cuts)
        ]:
            done.result()
    t_indptr[n] = len(indices)
    return Graph(indptr, indices), Graph(t_indptr, t_indices)


def build_population(
    spec: PopulationSpec, n_residents: int, seed: int, check_memory: bool = True
) -> Population:
    """The whole synthetic city for a scenario's population section (n residents)."""
    if n_residents < 1:
        raise ValueError("the population needs at least one resident")
    if check_memory:
        need, have = estimated_bytes(spec, n_residents), available_bytes()
        if need > have:
            raise MemoryError(
                f"{n_residents:,} residents need about {need / 2**30:.1f} GiB; "
                f"{have / 2**30:.1f} GiB is available"
            )
    residents, hh_starts, table = build_residents(spec, n_residents, seed)
    sector_names = list(table["sectors"])
    enterprises = build_enterprises(spec, residents, seed, sector_names, table)
    contacts, contacts_of = build_contacts(spec, residents, hh_starts, len(enterprises), seed)
    rep_indptr, rep_indices = transpose(
        np.arange(len(enterprises) + 1, dtype=np.int64), enterprises.legal_rep, n_residents
    )
    return Population(
        residents=residents,
        enterprises=enterprises,
        contacts=contacts,
        contacts_of=contacts_of,
        represented=Graph(rep_indptr, rep_indices),
        district_names=list(table["districts"]),
        sector_names=sector_names,
        education_names=list(table["education_levels"]),
    )
