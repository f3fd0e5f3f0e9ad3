"""Differential privacy on integer counts with OpenDP, keyed so equal person sets get equal noise.

Privacy unit: one person (add or remove one person's records). Each person is counted in at most
``sensitivity`` noised cells of a table (the cells that are not sums of other cells), so:
- discrete Gaussian with scale sigma per cell: rho = sensitivity / (2 sigma²) (zCDP composes over
  the cells one person touches; OpenDP's map gives the per-cell rho);
- discrete Laplace with scale b per cell: epsilon = sensitivity / b (OpenDP's l1 map), charged to
  the zCDP ledgers as epsilon²/2.

OpenDP takes no seed, so each cell's draw is made once and stored under
HMAC(secret, data version, statistic, mechanism, scale, person set): the same persons asked again,
in any wording, get the same draw, and repetition gives nothing to average.

So only fresh draws cost privacy: a table all of whose draws are stored (or made for an earlier
table of the same release) publishes post-processing of releases already charged and costs no rho;
a table with at least one fresh draw is charged its whole rho (``tables_needing_fresh_draws``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import opendp.prelude as dp

from disclosure.policy import DifferentialPrivacy
from disclosure.stores import NoiseCache
from disclosure.structure import TableStructure, canonical_bytes, keyed_digest

dp.enable_features("contrib")

COUNT_STATISTIC = "count:distinct-persons"


@dataclass(frozen=True)
class NoisePlan:
    noised_cells: tuple[int, ...]  # cells that get their own draw; the others are sums of them
    sensitivity: int  # noised cells one person can be counted in (L1; L2² for 0/1 contributions)
    mechanism: str
    scale: float
    rho: float
    epsilon: float | None


def noised_cells(structure: TableStructure) -> tuple[int, ...]:
    derived = {parent for parent, _ in structure.relations}
    return tuple(i for i in range(len(structure.cells)) if i not in derived)


def contribution_bound(structure: TableStructure, cells: Sequence[int]) -> int:
    """Noised cells one person can be in, from the table's declared shape (never from the data).

    Summable dimensions partition persons. For each pattern of margins among noised cells: if every
    non-summable dimension is a margin there, a person is in at most one cell of the pattern;
    otherwise at most ``max_cells_per_person`` (one per inner cell they are counted in).
    """
    table = structure.table
    non_summable = [d for d, dimension in enumerate(table.dimensions) if not dimension.has_total]
    patterns = {tuple(c is None for c in structure.cells[i].coordinates) for i in cells}
    bound = 0
    for pattern in patterns:
        if all(pattern[d] for d in non_summable):
            bound += 1
        else:
            bound += max(1, table.max_cells_per_person)
    return max(1, bound)


def plan(structure: TableStructure, privacy: DifferentialPrivacy) -> NoisePlan:
    cells = noised_cells(structure)
    sensitivity = contribution_bound(structure, cells)
    if privacy.mechanism == "discrete_gaussian":
        assert privacy.rho is not None
        scale = math.sqrt(sensitivity / (2 * privacy.rho))
        per_cell = dp.m.make_gaussian(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale)
        rho = sensitivity * per_cell.map(1)
        return NoisePlan(cells, sensitivity, privacy.mechanism, scale, rho, None)
    assert privacy.epsilon is not None
    scale = sensitivity / privacy.epsilon
    vector = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale)
    epsilon = vector.map(sensitivity)
    return NoisePlan(cells, sensitivity, privacy.mechanism, scale, epsilon**2 / 2, epsilon)


def noise_key(secret: bytes, data_version: str, noise_plan: NoisePlan, persons_bytes: bytes) -> str:
    return keyed_digest(
        secret,
        "noise",
        data_version,
        COUNT_STATISTIC,
        noise_plan.mechanism,
        repr(noise_plan.scale),
        persons_bytes,
    )


def draw(noise_plan: NoisePlan, how_many: int) -> list[int]:
    """Fresh draws from OpenDP's sampler (discrete Gaussian or discrete Laplace around 0)."""
    if how_many == 0:
        return []
    domain = dp.vector_domain(dp.atom_domain(T=int))
    if noise_plan.mechanism == "discrete_gaussian":
        measurement = dp.m.make_gaussian(domain, dp.l2_distance(T=int), scale=noise_plan.scale)
    else:
        measurement = dp.m.make_laplace(domain, dp.l1_distance(T=int), scale=noise_plan.scale)
    return [int(v) for v in measurement([0] * how_many)]


def _keyed_content(structure: TableStructure, index: int) -> bytes:
    """The person set and whether it is a table's only cell (a cohort total) or one of its categories;
    for an empty cell its place in the table instead.

    Every empty set serializes alike, and one shared draw for all empty cells would make them
    recognisable (they would all show the same value), so empty cells are keyed by position.
    A category shares its draw with the same category asked again, a cohort total with the same
    total, but a category never with a total: a category holds a total's persons only when its
    siblings are empty, and an equal draw would show the customer whether they hold 0 persons or
    1..k-1 (the padded-breakdown attack).
    """
    cell = structure.cells[index]
    if cell.count > 0:
        role = b"total:" if structure.is_grand_total(index) else b"category:"
        return role + canonical_bytes(cell.persons)
    dimensions = [d.name for d in structure.table.dimensions]
    return f"empty:{structure.table.kind}:{dimensions!r}:{cell.coordinates!r}".encode()


def cell_keys(
    structure: TableStructure, noise_plan: NoisePlan, secret: bytes, data_version: str
) -> list[str | None]:
    """The noise key of each noised cell of the table, None for margins (sums of noised cells)."""
    keys: list[str | None] = [None] * len(structure.cells)
    for i in noise_plan.noised_cells:
        keys[i] = noise_key(secret, data_version, noise_plan, _keyed_content(structure, i))
    return keys


class StoredDraws:
    """A ``NoiseCache`` that reads each key from the store once per release: the budget check and the
    drawing then see the same stored draws (what is charged is what was checked), for one lookup each."""

    def __init__(self, cache: NoiseCache) -> None:
        self._cache = cache
        self._read: dict[tuple[str, str], int | None] = {}

    def get(self, data_version: str, key: str) -> int | None:
        if (data_version, key) not in self._read:
            self._read[(data_version, key)] = self._cache.get(data_version, key)
        return self._read[(data_version, key)]

    def read_ahead(self, data_version: str, keys: Iterable[str | None]) -> None:
        """Read every key a release will look up in one lookup, where the store can (``get_many``):
        on a database each lookup is a round trip, and a table has a key per cell."""
        get_many = getattr(self._cache, "get_many", None)
        wanted = {key for key in keys if key is not None and (data_version, key) not in self._read}
        if get_many is None or not wanted:
            return
        found = get_many(data_version, wanted)
        for key in wanted:
            self._read[(data_version, key)] = found.get(key)

    def get_many(self, data_version: str, keys: Collection[str]) -> dict[str, int]:
        self.read_ahead(data_version, keys)
        return {key: value for key in keys if (value := self.get(data_version, key)) is not None}


def tables_needing_fresh_draws(
    keys_per_table: Sequence[Sequence[str | None]], data_version: str, cache: NoiseCache
) -> list[bool]:
    """Per table of one release: does it need a draw that is neither stored nor made for an earlier
    table of the same release? (The same rule ``add_noise`` follows when it draws.)

    A table without one publishes only post-processing of draws already charged, which adds no
    privacy loss. A table with one is one mechanism (one person is in up to ``sensitivity`` of its
    noised cells) and is charged its whole rho even if some of its draws are reused: that bounds
    the loss of its fresh draws from above.
    """
    drawn_in_release: set[str] = set()
    fresh: list[bool] = []
    for keys in keys_per_table:
        wanted = {key for key in keys if key is not None}
        fresh.append(
            any(key not in drawn_in_release and cache.get(data_version, key) is None for key in wanted)
        )
        drawn_in_release |= wanted
    return fresh


def rho_charged(noise_plans: Sequence[NoisePlan], fresh: Sequence[bool]) -> float:
    """zCDP composition over the tables that make fresh draws; the others cost nothing."""
    return sum((p.rho for p, is_fresh in zip(noise_plans, fresh, strict=True) if is_fresh), 0.0)


@dataclass
class NoisyTable:
    values: list[int]  # post-processed: non-negative integers, margins are sums of noised cells
    keys: list[str | None]  # noise key per noised cell, None for derived margins
    new_draws: list[tuple[str, int]]
    reused_draws: int


def add_noise(
    structure: TableStructure,
    noise_plan: NoisePlan,
    secret: bytes,
    data_version: str,
    cache: NoiseCache,
    pending: dict[str, int],
    keys: Sequence[str | None] | None = None,
) -> NoisyTable:
    """Noise the noised cells (keyed, cached), clamp at 0, and derive every margin by summation.

    ``pending`` holds draws made earlier in the same release, so one set appearing twice in a
    release gets one draw. ``keys``: the table's ``cell_keys``, if already computed.
    """
    table_keys = list(keys) if keys is not None else cell_keys(structure, noise_plan, secret, data_version)
    draws: dict[str, int] = {}
    missing: list[str] = []
    reused = 0
    for key in table_keys:
        if key is None or key in draws:
            continue
        stored = pending.get(key)
        if stored is None:
            stored = cache.get(data_version, key)
        if stored is None:
            missing.append(key)
        else:
            draws[key] = stored
            reused += 1
    new_draws = list(zip(missing, draw(noise_plan, len(missing)), strict=True))
    draws.update(new_draws)
    pending.update(new_draws)

    values = [0] * len(structure.cells)
    for i in noise_plan.noised_cells:
        key = table_keys[i]
        assert key is not None
        values[i] = max(0, structure.cells[i].count + draws[key])
    # Margins as sums (post-processing, free of privacy loss). Relations are listed from the finest
    # parents outward only by construction order, so resolve them until stable.
    resolved = set(noise_plan.noised_cells)
    pending_relations = list(structure.relations)
    while pending_relations:
        remaining = []
        for parent, children in pending_relations:
            if parent in resolved:
                continue
            if all(child in resolved for child in children):
                values[parent] = sum(values[child] for child in children)
                resolved.add(parent)
            else:
                remaining.append((parent, children))
        if len(remaining) == len(pending_relations):
            raise RuntimeError("margin relations do not resolve")
        pending_relations = remaining
    return NoisyTable(values=values, keys=table_keys, new_draws=new_draws, reused_draws=reused)
