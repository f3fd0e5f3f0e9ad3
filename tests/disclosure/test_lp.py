"""The attacker's intervals (``IntervalModel``) against an independent solver, and the propagated
bounds that let it skip LPs: a bound that cut off a feasible point would turn a skip into a wrong
(too narrow) interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from disclosure.lp import INF, IntervalModel, Row, csr_rows, propagated_bounds


def _random_system(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[Row]]:
    """Margin-like rows (coefficients ±1) over a known non-negative integer point, some exact and
    some rounding intervals, with a few known ranges on the columns."""
    n = int(rng.integers(3, 9))
    point = rng.integers(0, 12, size=n)
    lower = np.zeros(n)
    upper = np.full(n, INF)
    for column in np.flatnonzero(rng.random(n) < 0.3):
        lower[column] = max(0, point[column] - int(rng.integers(0, 3)))
        upper[column] = point[column] + int(rng.integers(0, 4))
    rows: list[Row] = []
    for _ in range(int(rng.integers(1, n + 2))):
        members = np.flatnonzero(rng.random(n) < 0.5)
        if not len(members):
            continue
        signs = np.where(rng.random(len(members)) < 0.75, 1.0, -1.0)
        total = float(signs @ point[members])
        slack_low, slack_high = (0, 0) if rng.random() < 0.7 else rng.integers(0, 3, size=2)
        coefficients = {int(c): float(s) for c, s in zip(members, signs, strict=True)}
        rows.append((coefficients, total - slack_low, total + slack_high))
    return lower, upper, rows


def _scipy_bound(lower, upper, rows, column: int, sign: float, integral: bool) -> float:
    n = len(lower)
    matrix = np.zeros((len(rows), n))
    for r, (coefficients, _, _) in enumerate(rows):
        for c, v in coefficients.items():
            matrix[r, c] = v
    objective = np.zeros(n)
    objective[column] = sign
    row_low = np.asarray([low for _, low, _ in rows])
    row_high = np.asarray([high for _, _, high in rows])
    high = np.where(np.isfinite(upper), upper, np.inf)
    if integral:
        result = milp(
            objective,
            constraints=[LinearConstraint(matrix, row_low, row_high)] if rows else [],
            integrality=np.ones(n),
            bounds=Bounds(lower, high),
        )
    else:
        result = linprog(
            objective,
            A_ub=np.vstack([matrix, -matrix]) if rows else None,
            b_ub=np.concatenate([row_high, -row_low]) if rows else None,
            bounds=list(zip(lower, high, strict=True)),
            method="highs",
        )
    if result.status == 3 or (integral and result.status != 0 and result.x is None):
        return math.inf if sign < 0 else -math.inf
    assert result.status == 0, result.message
    return sign * result.fun


def test_propagated_bounds_hold_for_every_feasible_point():
    rng = np.random.default_rng(3)
    tightened = 0
    for _ in range(80):
        lower, upper, rows = _random_system(rng)
        floor, cap = propagated_bounds(lower, upper, csr_rows(rows))
        for column in range(len(lower)):
            lp_min = _scipy_bound(lower, upper, rows, column, 1.0, integral=False)
            lp_max = _scipy_bound(lower, upper, rows, column, -1.0, integral=False)
            assert floor[column] <= lp_min + 1e-6 and lp_max <= cap[column] + 1e-6
            tightened += int(cap[column] < upper[column]) + int(floor[column] > lower[column])
    assert tightened > 50  # the rows do tighten bounds: the check above is not vacuous


def test_intervals_equal_the_integer_attackers_bounds_with_lps_skipped():
    rng = np.random.default_rng(5)
    skipped = 0
    for _ in range(60):
        lower, upper, rows = _random_system(rng)
        model = IntervalModel(lower, upper, rows)
        columns = list(range(len(lower)))
        found = model.intervals(columns, [None] * len(columns))
        skipped += model.skipped_maximisations + model.skipped_minimisations
        for column, (low, high) in zip(columns, found, strict=True):
            expected_low = _scipy_bound(lower, upper, rows, column, 1.0, integral=True)
            expected_high = _scipy_bound(lower, upper, rows, column, -1.0, integral=True)
            assert low == round(expected_low)
            assert high == (INF if math.isinf(expected_high) else round(expected_high))
    assert skipped > 50  # most bounds come from proofs without an LP


def test_integer_points_are_whole_number_points_of_the_system_or_none():
    rows: list[Row] = [({0: 1.0, 1: 1.0}, 3.0, 3.0), ({1: 1.0, 2: 1.0}, 2.0, 2.0)]
    model = IntervalModel([0.0] * 3, [INF] * 3, rows, integral_proofs=False)
    point = model.integer_zero_point([2], [0, 1, 2])
    assert point is not None and point.tolist() == [1.0, 2.0, 0.0]
    # Odd cycle: x0 + x1 = x1 + x2 = x0 + x2 = 1 holds at (1/2, 1/2, 1/2) only.
    triangle: list[Row] = [
        ({0: 1.0, 1: 1.0}, 1.0, 1.0),
        ({1: 1.0, 2: 1.0}, 1.0, 1.0),
        ({0: 1.0, 2: 1.0}, 1.0, 1.0),
    ]
    assert IntervalModel([0.0] * 3, [INF] * 3, triangle).integer_zero_point([], [0, 1, 2]) is None


@pytest.mark.parametrize(
    ("values", "zero"),
    [([1.0, 1.0, 1.0], []), ([1.5, 1.5, 0.5], []), ([2.0, 1.0, 1.0], [2]), ([4.0, -1.0, 3.0], [])],
    ids=["a row off", "not whole", "zero column not zero", "below a bound"],
)
def test_a_point_outside_the_system_is_never_taken_as_a_proof(values, zero):
    rows: list[Row] = [({0: 1.0, 1: 1.0}, 3.0, 3.0), ({1: 1.0, 2: 1.0}, 2.0, 2.0)]
    model = IntervalModel([0.0] * 3, [INF] * 3, rows, integral_proofs=False)
    assert model._checked_integer_point(np.array([1.0, 2.0, 0.0]), np.array([2])).tolist() == [1.0, 2.0, 0.0]
    with pytest.raises(RuntimeError):
        model._checked_integer_point(np.array(values), np.array(zero, dtype=np.int64))
