"""An attacker who sees only what customers see, written independently of disclosure/ (scipy MILP).

The attacker links cells of tables about the same cohort by meaning: "sex = F" in a sex table is
"sex = F, region = all" in a sex × region table. Every published value is exact (or a rounding
interval), every margin is the sum of its categories, and optionally the full cross-classification
behind several overlapping tables is a latent table of non-negative integers (the strongest linear
attack on tables released at different times). For each hidden cell the attacker computes the
exact integer range its value can take.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from disclosure.release import ProtectedTable

Key = tuple[str, frozenset[tuple[str, str]]]  # (cohort, {(dimension, category)})

THRESHOLD = 5
WIDTH = 5


def rounding_interval(value: int, base: int | None) -> tuple[int, int]:
    if base is None:
        return value, value
    return max(0, math.ceil(value - base / 2)), math.ceil(value + base / 2) - 1


@dataclass
class Attacker:
    known: dict[Key, tuple[float, float]] = field(default_factory=dict)
    variables: dict[Key, int] = field(default_factory=dict)
    relations: list[tuple[Key, tuple[Key, ...]]] = field(default_factory=list)
    hidden: set[Key] = field(default_factory=set)

    def _variable(self, key: Key) -> int:
        if key not in self.variables:
            self.variables[key] = len(self.variables)
        return self.variables[key]

    def learn(
        self, table: ProtectedTable, cohort: str = "cohort", summable: Sequence[bool] | None = None
    ) -> None:
        summable = summable if summable is not None else [True] * len(table.dimensions)
        for row in table.rows:
            key = self.key(table, row.coordinates, cohort)
            self._variable(key)
            if row.value is None:
                self.hidden.add(key)
                continue
            low, high = rounding_interval(row.value, table.rounding_base)
            old_low, old_high = self.known.get(key, (0, math.inf))
            self.known[key] = (max(old_low, low), min(old_high, high))
        present = {row.coordinates for row in table.rows}
        for coordinates in present:
            for d, coordinate in enumerate(coordinates):
                if coordinate is not None or not summable[d]:
                    continue
                children = [
                    (*coordinates[:d], category, *coordinates[d + 1 :]) for category in table.categories[d]
                ]
                if all(child in present for child in children):
                    self.relations.append(
                        (
                            self.key(table, coordinates, cohort),
                            tuple(self.key(table, child, cohort) for child in children),
                        )
                    )

    @staticmethod
    def key(table: ProtectedTable, coordinates: Sequence[object], cohort: str = "cohort") -> Key:
        return (
            cohort,
            frozenset(
                (name, str(c)) for name, c in zip(table.dimensions, coordinates, strict=True) if c is not None
            ),
        )

    def add_latent_cross_classification(
        self, categories: Mapping[str, Sequence[str]], cohort: str = "cohort"
    ):
        """Every released cell is a sum of cells of the full (unreleased) cross-classification."""
        names = list(categories)
        latent = [
            (cohort, frozenset(zip(names, combo, strict=True)))
            for combo in itertools.product(*(categories[n] for n in names))
        ]
        for key in list(self.variables):
            if key[0] != cohort:
                continue
            members = tuple(cell for cell in latent if key[1] <= cell[1])
            if members and members != (key,):
                self.relations.append((key, members))
        for cell in latent:
            self._variable(cell)

    def interval(self, key: Key) -> tuple[float, float]:
        n = len(self.variables)
        lower = np.zeros(n)
        upper = np.full(n, np.inf)
        for known_key, (low, high) in self.known.items():
            lower[self.variables[known_key]] = low
            upper[self.variables[known_key]] = high
        rows = []
        for parent, children in self.relations:
            row = np.zeros(n)
            row[self.variables[parent]] += 1
            for child in children:
                row[self.variables[child]] -= 1
            rows.append(row)
        constraints = [LinearConstraint(np.array(rows), 0, 0)] if rows else []
        result = []
        for sign in (1.0, -1.0):
            objective = np.zeros(n)
            objective[self.variables[key]] = sign
            solved = milp(
                objective,
                constraints=constraints,
                bounds=Bounds(lower, upper),
                integrality=np.ones(n),
            )
            if solved.status == 3 or solved.x is None:  # unbounded
                result.append(math.inf if sign < 0 else 0.0)
            else:
                result.append(round(sign * solved.fun))
        return result[0], result[1]

    def breaches(self) -> dict[Key, tuple[float, float]]:
        """Hidden cells that could be small and whose range is one value, lies within 1..k-1, or is
        narrower than w. A range entirely at or above k only says "at least k persons", which is
        what publishing the cell would have said (it is how a cell rounded in an earlier release
        and hidden in a later one looks)."""
        found = {}
        for key in sorted(self.hidden, key=repr):
            low, high = self.interval(key)
            if low >= THRESHOLD:
                continue
            if low == high or high - low < WIDTH or (low >= 1 and high <= THRESHOLD - 1):
                found[key] = (low, high)
        return found
