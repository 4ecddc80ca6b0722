"""The synthetic city: residents, market entities and their contact graph, from
aggregate tables and a scenario's population section.

`build_population` draws it (scslab.scenario.people: residents and market entities;
scslab.scenario.contacts: who knows whom) after checking that it fits in memory
(`estimated_bytes`). A resident is an integer id with attributes; there are no names, no
identity numbers and no person-level input of any kind. Everything is struct-of-arrays
with compact dtypes; the graphs are CSR (int64 offsets, int32 ids).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from scslab.scenario.contacts import OwnContacts, build_contacts
from scslab.scenario.graphs import Graph, transpose
from scslab.scenario.people import Enterprises, Residents, build_enterprises, build_residents
from scslab.scenario.population_spec import PopulationSpec


@dataclass
class Population:
    """The synthetic city: residents, enterprises and who knows whom."""

    residents: Residents
    enterprises: Enterprises
    contacts_of: Graph  # i -> the residents who count i as a contact (the transpose)
    represented: Graph  # resident -> enterprises whose legal representative they are
    district_names: list[str]
    sector_names: list[str]
    education_names: list[str]
    _own: OwnContacts
    """`contacts`, made again when first asked for (the engine reads contacts_of)."""

    @property
    def contacts(self) -> Graph:
        """i -> the residents i counts as contacts (household, work, friends)."""
        return self._own.graph()

    @property
    def most_contacts(self) -> int:
        """The most contacts any resident counts (the largest degree of `contacts`)."""
        return self._own.most

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


HOUSEHOLD_DEGREE_FACTOR = 1.5
"""Household contacts of the average resident per extra member of the average household
(mean household size - 1), for the memory estimate only. Residents count the others of
their household, so larger households weigh more: with sizes 1 + Poisson(m) the mean is
(2m + m**2) / (1 + m), 1.43 m at Beijing's m = 1.31, rounded up here (below m = 1 it is
a little more than 1.5 m, a few bytes a resident)."""
EMPLOYED_SHARE = 0.6
"""Share of residents with an employer, for the memory estimate only (each counts up to
coworker_contacts colleagues): in Beijing, working age (66% of residents, 2020 census)
times employment (0.75) times the private sector (88%) is 0.43; 0.6 leaves room for
other tables and employment rates."""


def estimated_bytes(spec: PopulationSpec, n_residents: int) -> int:
    """Peak memory (bytes) a run of this size needs: population, graph and engine state."""
    household_degree = max(spec.household_size_mean - 1.0, 0.0) * HOUSEHOLD_DEGREE_FACTOR
    degree = spec.friends_per_resident + spec.coworker_contacts * EMPLOYED_SHARE + household_degree
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
    residents, _, table = build_residents(spec, n_residents, seed)
    sector_names = list(table["sectors"])
    enterprises = build_enterprises(spec, residents, seed, sector_names, table)
    contacts_of, most = build_contacts(spec, residents, len(enterprises), seed)
    rep_indptr, rep_indices = transpose(
        np.arange(len(enterprises) + 1, dtype=np.int64), enterprises.legal_rep, n_residents
    )
    return Population(
        residents=residents,
        enterprises=enterprises,
        contacts_of=contacts_of,
        represented=Graph(rep_indptr, rep_indices),
        district_names=list(table["districts"]),
        sector_names=sector_names,
        education_names=list(table["education_levels"]),
        _own=OwnContacts(spec, residents, len(enterprises), seed, most),
    )
