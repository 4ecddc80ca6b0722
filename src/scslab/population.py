"""Synthetic residents, market entities and their contact graph, from aggregate tables.

A resident is an integer id (its position in every array) with attributes; there are no
names, no identity numbers and no person-level input of any kind. Attributes are drawn
from the aggregate tables in `scslab/data/beijing-2020.yaml` and the scenario's
`population` section. Everything is struct-of-arrays with compact dtypes; the graph is
CSR (int64 offsets, int32 ids), built by compiled counting sorts, not by Python loops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numba as nb
import numpy as np
import yaml

from scslab.scenario import PopulationSpec
from scslab.streams import day_rng, hash_uniform, stream_key

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


def _draw_bands(rng: np.random.Generator, dist: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """Age bands: household heads from the adult bands, other members from all bands."""
    adult = dist.copy()
    adult[:2] = 0.0
    adult /= adult.sum()
    n_heads = int(heads.sum())
    head_share = n_heads / max(len(heads), 1)
    members = np.clip(dist - head_share * adult, 0.0, None) if head_share < 1 else dist
    members = members / members.sum()
    out = rng.choice(len(dist), size=len(heads), p=members).astype(np.uint8)
    out[heads] = rng.choice(len(dist), size=n_heads, p=adult).astype(np.uint8)
    return out


def build_residents(
    spec: PopulationSpec, n: int, seed: int
) -> tuple[Residents, np.ndarray, dict[str, Any]]:
    """Draw n residents in households; returns residents, household start offsets, table."""
    table = city_table(spec.table)
    rng = day_rng(seed, "population.households")
    mean_extra = spec.household_size_mean - 1.0
    n_households = int(n / spec.household_size_mean * 1.1) + 8
    sizes = np.minimum(1 + rng.poisson(mean_extra, n_households), 8).astype(np.int64)
    ends = np.cumsum(sizes)
    n_households = int(np.searchsorted(ends, n) + 1)
    sizes = sizes[:n_households]
    sizes[-1] -= int(ends[n_households - 1] - n)
    starts = np.zeros(n_households + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    household = np.repeat(np.arange(n_households, dtype=np.int32), sizes)
    heads = np.zeros(n, dtype=bool)
    heads[starts[:-1]] = True

    census = np.array(list(table["districts"].values()), dtype=np.float64)
    # Households in district order: residents of a district form one id range, which
    # keeps the contact graph local in memory (friends are mostly from one's district).
    hh_district = np.sort(rng.choice(len(census), size=n_households, p=census / census.sum()))
    hh_migrant = rng.random(n_households) < spec.migrant_share
    district = hh_district.astype(np.uint8)[household]
    migrant = hh_migrant[household]

    rng = day_rng(seed, "population.people")
    mig_dist, huk_dist = _age_distributions(table, spec.migrant_share)
    age_band = np.where(
        migrant, _draw_bands(rng, mig_dist, heads), _draw_bands(rng, huk_dist, heads)
    ).astype(np.uint8)
    male = rng.random(n) < float(table["male_share"])

    levels = table["education_levels"]
    edu_h = rng.choice(len(levels), size=n, p=table["education_share_hukou"])
    edu_m = rng.choice(len(levels), size=n, p=table["education_share_migrant"])
    education = np.where(migrant, edu_m, edu_h).astype(np.uint8)
    education[age_band == 0] = 0
    education[age_band == 1] = np.minimum(education[age_band == 1], 1)

    # Income: a household effect, an individual effect, education and hukou gradients
    # (ASSUMED shape); deciles are the city's own quantiles of this latent income.
    latent = rng.normal(0.0, 0.8, n_households)[household] + rng.normal(0.0, 0.6, n)
    latent += np.array([-0.5, 0.0, 0.6])[education] - 0.3 * migrant
    sample = latent if n <= 1_000_000 else rng.choice(latent, 1_000_000, replace=False)
    cuts = np.quantile(sample, np.linspace(0.1, 0.9, 9))
    income_decile = np.searchsorted(cuts, latent).astype(np.uint8)

    working = np.isin(age_band, WORKING_BANDS)
    employed = working & (rng.random(n) < spec.employment_rate)
    sector_names = list(table["sectors"])
    sector = np.full(n, -1, dtype=np.int8)
    sector_share = np.array(list(table["sectors"].values()), dtype=np.float64)
    sector[employed] = rng.choice(len(sector_names), size=int(employed.sum()), p=sector_share)

    has_child = np.bincount(household, weights=age_band < 2, minlength=n_households) > 0
    parent = has_child[household] & working

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
    eligible = np.flatnonzero((residents.age_band >= 2) & (residents.age_band <= 6))
    if total and len(eligible) == 0:
        eligible = np.arange(n)
    weight = residents.income_decile[eligible].astype(np.float64) + 1.0
    legal_rep = rng.choice(eligible, size=total, p=weight / weight.sum()).astype(np.int32)
    district = residents.district[legal_rep] if total else np.zeros(0, np.uint8)

    private = [i for i, s in enumerate(sector_names) if s != "public_sector"]
    shares = np.array([table["sectors"][sector_names[i]] for i in private], dtype=np.float64)
    sector = np.array(private, dtype=np.int8)[
        rng.choice(len(private), size=total, p=shares / shares.sum())
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
        employer = np.searchsorted(cum, rng.random(len(workers)) * cum[-1]).astype(np.int32)
        employer = np.minimum(employer, total - 1)
        residents.employer[workers] = employer
        residents.sector[workers] = sector[employer]
        employees = np.bincount(employer, minlength=total).astype(np.int32)
    else:
        employees = np.zeros(total, np.int32)
    return Enterprises(
        kind=kind, district=district, sector=sector, employees=employees, legal_rep=legal_rep
    )


@nb.njit(cache=True)
def _group_by(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting sort: ids ordered by key (keys < 0 dropped) and the offsets of each key."""
    counts = np.zeros(n_groups + 1, np.int64)
    for k in keys:
        if k >= 0:
            counts[k + 1] += 1
    offsets = np.cumsum(counts)
    pos = offsets[:-1].copy()
    order = np.empty(offsets[-1], np.int32)
    for i in range(len(keys)):
        k = keys[i]
        if k >= 0:
            order[pos[k]] = i
            pos[k] += 1
    return order, offsets


@nb.njit(cache=True)
def _coworker_degree(employer: np.ndarray, work_offsets: np.ndarray, coworkers: int) -> np.ndarray:
    deg = np.zeros(len(employer), np.int64)
    for i in range(len(employer)):
        e = employer[i]
        if e >= 0:
            g = work_offsets[e + 1] - work_offsets[e]
            deg[i] = min(coworkers, g - 1)
    return deg


@nb.njit(cache=True, parallel=True)
def _fill_contacts(
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
    """Write each resident's contacts: household, nearest colleagues, then friends."""
    n = len(household)
    for i in nb.prange(n):
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
        first = p
        end = indptr[i + 1]
        attempt = 0
        while p < end:
            u = hash_uniform(key, i, 2 * attempt)
            v = hash_uniform(key, i, 2 * attempt + 1)
            attempt += 1
            d = district[i]
            size_d = dist_offsets[d + 1] - dist_offsets[d]
            if u < same_district and size_d > 1:
                c = dist_order[dist_offsets[d] + min(int(v * size_d), size_d - 1)]
            else:
                c = min(int(v * n), n - 1)
            if c == i:
                continue
            dup = False
            for q in range(first, p):
                if indices[q] == c:
                    dup = True
                    break
            if dup and attempt < 50 * friends:
                continue
            indices[p] = c
            p += 1


@nb.njit(cache=True)
def transpose(indptr: np.ndarray, indices: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The transpose of a CSR graph (who points at whom), by counting sort."""
    counts = np.zeros(n + 1, np.int64)
    for j in indices:
        counts[j + 1] += 1
    t_indptr = np.cumsum(counts)
    pos = t_indptr[:-1].copy()
    t_indices = np.empty(len(indices), np.int32)
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            t_indices[pos[j]] = i
            pos[j] += 1
    return t_indptr, t_indices


def build_contacts(
    spec: PopulationSpec, residents: Residents, hh_starts: np.ndarray, n_firms: int, seed: int
) -> Graph:
    """Each resident's contacts: household members, colleagues and named friends."""
    n = len(residents)
    work_order, work_offsets = _group_by(residents.employer, max(n_firms, 1))
    work_rank = np.zeros(n, np.int64)
    if len(work_order):
        work_rank[work_order] = np.arange(len(work_order)) - np.repeat(
            work_offsets[:-1], np.diff(work_offsets)
        )
    coworkers = spec.coworker_contacts
    friends = min(spec.friends_per_resident, n - 1)
    hh_sizes = np.diff(hh_starts)
    degree = hh_sizes[residents.household] - 1
    degree += _coworker_degree(residents.employer, work_offsets, coworkers)
    degree += friends
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(degree, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int32)
    n_districts = int(residents.district.max()) + 1 if n else 1
    dist_order, dist_offsets = _group_by(residents.district.astype(np.int64), n_districts)
    _fill_contacts(
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
    return Graph(indptr, indices)


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
    contacts = build_contacts(spec, residents, hh_starts, len(enterprises), seed)
    t_indptr, t_indices = transpose(contacts.indptr, contacts.indices, n_residents)
    rep_indptr, rep_indices = transpose(
        np.arange(len(enterprises) + 1, dtype=np.int64), enterprises.legal_rep, n_residents
    )
    return Population(
        residents=residents,
        enterprises=enterprises,
        contacts=contacts,
        contacts_of=Graph(t_indptr, t_indices),
        represented=Graph(rep_indptr, rep_indices),
        district_names=list(table["districts"]),
        sector_names=sector_names,
        education_names=list(table["education_levels"]),
    )
