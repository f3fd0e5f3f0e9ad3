"""HiGHS models for the attacker audit and for choosing secondary suppressions.

Both reuse one HiGHS model and change only costs or bounds between solves, so HiGHS
warm-starts from the previous basis (a few pivots per solve instead of a cold start).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import highspy
import numpy as np
from highspy._core import _Highs
from scipy.sparse import csr_matrix

from disclosure.policy import MILP_SECONDS

INF = highspy.kHighsInf

# ``highspy.Highs`` installs its Python callbacks when constructed, which makes HiGHS (1.16 on) print
# its banner to stdout before any option can be set: once per model, into the service's output. The
# core class it wraps has every method we use and no callbacks (we never use them: deadlines are
# kept by killing the audit's process, ``disclosure.deadline``).
Highs = _Highs
_TOLERANCE = 1e-6  # numerical, not a release rule

Row = tuple[Mapping[int, float], float, float]  # (column -> coefficient, lower, upper)


def new_highs() -> Highs:
    """A HiGHS instance with our options: silent, deterministic, single-threaded, no presolve."""
    solver = Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("random_seed", 0)  # identical input gives identical choices
    solver.setOptionValue("threads", 1)
    solver.setOptionValue("presolve", "off")  # presolve would discard the warm-start basis
    return solver


def csr_rows(rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows as HiGHS wants them: lower, upper, row starts, column indices, values."""
    lengths = np.fromiter((len(coefficients) for coefficients, _, _ in rows), dtype=np.int32, count=len(rows))
    starts = np.zeros(len(rows), dtype=np.int32)
    np.cumsum(lengths[:-1], out=starts[1:])
    indices = np.fromiter((column for coefficients, _, _ in rows for column in coefficients), dtype=np.int32)
    values = np.fromiter(
        (value for coefficients, _, _ in rows for value in coefficients.values()), dtype=np.float64
    )
    row_lower = np.fromiter((low for _, low, _ in rows), dtype=np.float64, count=len(rows))
    row_upper = np.fromiter((high for _, _, high in rows), dtype=np.float64, count=len(rows))
    return row_lower, row_upper, starts, indices, values


def build_model(
    costs: Sequence[float] | np.ndarray,
    lower: Sequence[float] | np.ndarray,
    upper: Sequence[float] | np.ndarray,
    rows: Sequence[Row] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    integer: bool = False,
    solver: Highs | None = None,
) -> Highs:
    """One HiGHS model; ``rows`` as (coefficients, lower, upper) triples or already in CSR form.

    ``solver`` (from ``new_highs``) is reused instead of a new instance: its previous model is
    cleared, its options stay. Creating an instance costs more than a small model's solve.
    """
    if solver is None:
        solver = new_highs()
    else:
        solver.clearModel()
    n = len(costs)
    solver.addCols(
        n,
        np.asarray(costs, dtype=np.float64),
        np.asarray(lower, dtype=np.float64),
        np.asarray(upper, dtype=np.float64),
        0,
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.int32),
        np.zeros(0, dtype=np.float64),
    )
    csr = rows if isinstance(rows, tuple) else csr_rows(rows) if rows else None
    if csr is not None and len(csr[0]):
        row_lower, row_upper, starts, indices, values = csr
        solver.addRows(len(row_lower), row_lower, row_upper, len(indices), starts, indices, values)
    if integer and n:
        solver.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger)
        )
    return solver


# Rounds of bound propagation: each round is valid on its own, so stopping early only leaves
# bounds looser (fewer LPs skipped), never wrong: speed only, not a release rule.
_PROPAGATION_ROUNDS = 20


def propagated_bounds(
    lower: np.ndarray,
    upper: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds every feasible point satisfies, tightened through the rows (LP presolve's
    bound propagation).

    In a row l <= sum(a_i y_i) <= u, a_t y_t lies between l minus the most and u minus the least
    the other terms can add up to under the current bounds. A published margin minus its published
    categories caps each hidden category at the remainder; a hidden margin's cap then caps its
    hidden categories, and so on. Used only to recognise an optimum without solving: a feasible
    point that reaches a valid bound proves that bound is the optimum.
    """
    row_lower, row_upper, starts, indices, values = rows
    low = np.array(lower, dtype=np.float64)
    high = np.array(upper, dtype=np.float64)
    if not len(indices):
        return low, high
    row_of = np.repeat(np.arange(len(row_lower)), np.diff(np.append(starts, len(indices))))
    positive = values > 0
    entry_lower, entry_upper = row_lower[row_of], row_upper[row_of]

    def others(contribution: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per entry: the sum of the other entries' contributions in its row, and whether one of
        them is infinite (then the sum bounds nothing)."""
        infinite = ~np.isfinite(contribution)
        finite_part = np.where(infinite, 0.0, contribution)
        row_sum = np.bincount(row_of, weights=finite_part, minlength=len(row_lower))
        row_infinite = np.bincount(row_of, weights=infinite, minlength=len(row_lower))
        return row_sum[row_of] - finite_part, row_infinite[row_of] - infinite > 0.5

    for _ in range(_PROPAGATION_ROUNDS):
        least = np.where(positive, values * low[indices], values * high[indices])
        most = np.where(positive, values * high[indices], values * low[indices])
        others_least, least_unbounded = others(least)
        others_most, most_unbounded = others(most)
        # a_t y_t <= u - least(others) and >= l - most(others); NaN where that bounds nothing.
        with np.errstate(invalid="ignore"):
            term_cap = np.where(
                least_unbounded | ~np.isfinite(entry_upper), np.nan, entry_upper - others_least
            )
            term_floor = np.where(
                most_unbounded | ~np.isfinite(entry_lower), np.nan, entry_lower - others_most
            )
        # Dividing by a_t turns the term's cap into the column's upper bound, or lower if a_t < 0.
        new_high = np.where(positive, term_cap, term_floor) / values
        new_low = np.where(positive, term_floor, term_cap) / values
        before_low, before_high = low.copy(), high.copy()
        known_high = ~np.isnan(new_high)
        np.minimum.at(high, indices[known_high], new_high[known_high])
        known_low = ~np.isnan(new_low)
        np.maximum.at(low, indices[known_low], new_low[known_low])
        if np.array_equal(low, before_low) and np.array_equal(high, before_high):
            break
    return low, high


class IntervalModel:
    """min and max of single variables over one polyhedron, one warm-started HiGHS model.

    ``solves`` counts every LP (and MILP) actually solved, for the benchmark and the report.
    """

    def __init__(
        self,
        lower: Sequence[float],
        upper: Sequence[float],
        rows: Sequence[Row] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        integral_proofs: bool = True,
        record_points: bool = False,
    ) -> None:
        """``integral_proofs=False`` accepts LP (relaxed) bounds reached at fractional points: much
        cheaper on large non-unimodular systems, but an attacker using whole numbers may know more.
        ``rows`` may come in CSR form (see ``csr_rows``). ``record_points`` keeps every optimal point
        (see ``points``)."""
        self._integral_proofs = integral_proofs
        self._lower = list(lower)
        self._upper = list(upper)
        self._rows = rows if isinstance(rows, tuple) else list(rows)
        self._n = len(lower)
        self._record_points = record_points
        self.points: list[np.ndarray] = []
        self._solver = build_model([0.0] * self._n, lower, upper, rows)
        # Only the objective changes between solves, so the previous optimum stays primal feasible:
        # primal simplex continues from it (about ten times faster here than HiGHS's default dual).
        self._solver.setOptionValue("simplex_strategy", 4)
        self._objective_column: int | None = None
        self._milp: Highs | None = None
        self._lower_array = np.asarray(lower, dtype=np.float64)
        # Columns seen at their lower bound in some optimal (hence feasible) solution: their
        # minimum is that bound, no LP needed. A feasible point is proof enough.
        self._seen_at_lower = np.zeros(self._n, dtype=bool)
        # Likewise the largest and smallest values seen per column: reaching a valid bound (see
        # ``propagated_bounds``) proves the maximum or minimum.
        self._seen_max = np.full(self._n, -INF)
        self._seen_min = np.full(self._n, INF)
        self._propagated_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._row_matrix_cache: tuple[csr_matrix, np.ndarray, np.ndarray] | None = None
        self.skipped_maximisations = 0
        self._last_integral = True
        self.solves = 0
        self.integer_solves = 0
        self.skipped_minimisations = 0

    @property
    def _propagated(self) -> tuple[np.ndarray, np.ndarray]:
        if self._propagated_cache is None:
            rows = self._rows if isinstance(self._rows, tuple) else csr_rows(self._rows)
            upper = np.asarray(self._upper, dtype=np.float64)
            self._propagated_cache = propagated_bounds(self._lower_array, upper, rows)
        return self._propagated_cache

    def _set_objective(self, solver: Highs, column: int, sign: float, previous: int | None) -> None:
        if previous is not None and previous != column:
            solver.changeColCost(previous, 0.0)
        solver.changeColCost(column, sign)

    def _solve(self, column: int, sign: float) -> float:
        solver = self._solver
        self._set_objective(solver, column, sign, self._objective_column)
        self._objective_column = column
        solver.run()
        self.solves += 1
        status = solver.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            self._observe(np.asarray(solver.getSolution().col_value))
            return sign * solver.getInfo().objective_function_value
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return -sign * INF if sign > 0 else INF
        raise RuntimeError(f"audit LP ended with status {status}")

    def _integer_model(self) -> Highs:
        if self._milp is None:
            self._milp = build_model([0.0] * self._n, self._lower, self._upper, self._rows, integer=True)
            self._milp.setOptionValue("mip_rel_gap", 0.0)
            self._milp.setOptionValue("time_limit", MILP_SECONDS)
            # No basis to keep between MILPs, and without presolve HiGHS's bound propagation can
            # crawl for minutes on these systems (general integers, right-hand sides in the
            # thousands), past its own time limit: on the release-history benchmark an integer
            # point took 40 s to 130 s without presolve and under a second with it. The points it
            # returns are checked against the original system (``_checked_integer_point``).
            self._milp.setOptionValue("presolve", "on")
        return self._milp

    def _row_matrix(self) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
        if self._row_matrix_cache is None:
            row_lower, row_upper, starts, indices, coefficients = (
                self._rows if isinstance(self._rows, tuple) else csr_rows(self._rows)
            )
            matrix = csr_matrix(
                (coefficients, indices, np.append(starts, len(indices))), shape=(len(row_lower), self._n)
            )
            self._row_matrix_cache = (matrix, row_lower, row_upper)
        return self._row_matrix_cache

    def _in_system(self, point: np.ndarray) -> bool:
        """Whether ``point`` keeps every bound and every row of this system."""
        matrix, row_lower, row_upper = self._row_matrix()
        activity = matrix @ point
        upper = np.asarray(self._upper, dtype=np.float64)
        return bool(
            np.all(point >= self._lower_array - _TOLERANCE)
            and np.all(point <= upper + _TOLERANCE)
            and np.all(activity >= row_lower - _TOLERANCE)
            and np.all(activity <= row_upper + _TOLERANCE)
        )

    def _checked_integer_point(self, values: np.ndarray, zero: np.ndarray) -> np.ndarray:
        """``values`` rounded, after checking it is a whole-number point of the system with the
        ``zero`` columns at 0: a point is a proof only if it is one, whatever presolve did."""
        point = np.round(values)
        valid = (
            np.all(np.abs(values - point) <= _TOLERANCE)
            and np.all(point[zero] == 0)
            and self._in_system(point)
        )
        if not valid:
            raise RuntimeError("audit MILP returned a point outside the system")
        return point

    def _solve_integer(self, column: int, sign: float) -> float:
        """The exact bound when the LP optimum is fractional (tables of 3+ dimensions are not unimodular)."""
        milp = self._integer_model()
        costs = np.zeros(self._n)
        costs[column] = sign
        milp.changeColsCost(self._n, np.arange(self._n, dtype=np.int32), costs)
        milp.run()
        self.solves += 1
        status = milp.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return sign * milp.getInfo().objective_function_value
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return -sign * INF if sign > 0 else INF
        if milp.getInfo().primal_solution_status == 2:  # stopped early with a feasible point
            # The best point found is one the attacker can reach: judging by it narrows the interval,
            # never widens it, so a pattern that passes this way passes the exact test too.
            return sign * milp.getInfo().objective_function_value
        raise RuntimeError(f"audit MILP ended with status {status}")

    def _observe(self, values: np.ndarray) -> None:
        """Remember what an optimal point proves, if it is a point the attacker can reach.

        Only an integral point is a possible table: a fractional vertex at a column's lower bound proves
        nothing about integer solutions (parity constraints can force the column above it).
        """
        if self._record_points:
            self.points.append(values)
        self._last_integral = not self._integral_proofs or bool(
            np.all(np.abs(values - np.round(values)) <= _TOLERANCE)
        )
        if self._last_integral:
            self._seen_at_lower |= values <= self._lower_array + _TOLERANCE
            np.maximum(self._seen_max, values, out=self._seen_max)
            np.minimum(self._seen_min, values, out=self._seen_min)

    def _bound(self, column: int, sign: float) -> float:
        value = self._solve(column, sign)
        if math.isfinite(value) and (abs(value - round(value)) > _TOLERANCE or not self._last_integral):
            # A fractional optimum (possible from 3 dimensions on), or an integral optimum value reached
            # only at a fractional point: the integer bound may be tighter.
            value = self._solve_integer(column, sign)
            self.integer_solves += 1
        return value

    def push_down(self, columns: Sequence[int]) -> None:
        """Solve once minimising the sum of ``columns``: at that vertex most of them sit at their lower
        bound, which proves their minimum without an LP each (see ``proven_at_lower``)."""
        if not columns:
            return
        solver = self._solver
        if self._objective_column is not None:
            solver.changeColCost(self._objective_column, 0.0)
            self._objective_column = None
        index = np.asarray(sorted(set(columns)), dtype=np.int32)
        solver.changeColsCost(len(index), index, np.ones(len(index)))
        solver.run()
        self.solves += 1
        if solver.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            self._observe(np.asarray(solver.getSolution().col_value))
        solver.changeColsCost(len(index), index, np.zeros(len(index)))

    def _set_costs(self, columns: np.ndarray, costs: np.ndarray) -> None:
        """Replace the objective by ``costs`` on ``columns`` (zero elsewhere)."""
        solver = self._solver
        if self._objective_column is not None:
            solver.changeColCost(self._objective_column, 0.0)
            self._objective_column = None
        solver.changeColsCost(len(columns), columns, costs)

    def zero_point(
        self, zero: Sequence[int], push: Sequence[int], weights: np.ndarray | None = None
    ) -> np.ndarray | None:
        """A feasible point with every ``zero`` column at 0 (and the ``push`` columns as low as
        possible, weighted, so the point empties as much else as it can), or None if there is none."""
        solver = self._solver
        zero_index = np.asarray(sorted(set(zero)), dtype=np.int32)
        push_index = np.asarray(push, dtype=np.int32)
        self._set_costs(push_index, np.ones(len(push_index)) if weights is None else weights)
        lower = np.asarray([self._lower[c] for c in zero_index], dtype=np.float64)
        upper = np.asarray([self._upper[c] for c in zero_index], dtype=np.float64)
        solver.changeColsBounds(len(zero_index), zero_index, lower, np.zeros(len(zero_index)))
        try:
            if np.any(lower > 0):
                return None
            solver.run()
            self.solves += 1
            status = solver.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal:
                values = np.asarray(solver.getSolution().col_value)
                self._observe(values)
                return values
            if status in (
                highspy.HighsModelStatus.kInfeasible,
                highspy.HighsModelStatus.kUnboundedOrInfeasible,
            ):
                return None
            raise RuntimeError(f"audit LP ended with status {status}")
        finally:
            solver.changeColsBounds(len(zero_index), zero_index, lower, upper)
            solver.changeColsCost(len(push_index), push_index, np.zeros(len(push_index)))

    def add_point(self, values: np.ndarray) -> bool:
        """Take a whole-number point found elsewhere (an earlier audit's table), once checked against
        every row and bound of this system; False (and nothing learnt) if it is not one."""
        point = np.asarray(values, dtype=np.float64)
        if len(point) != self._n or not self.is_integral(point) or not self._in_system(point):
            return False
        self._observe(point)
        if not self._record_points:
            self.points.append(point)
        return True

    @staticmethod
    def is_integral(values: np.ndarray) -> bool:
        return bool(np.all(np.abs(values - np.round(values)) <= _TOLERANCE))

    def integer_zero_point(
        self,
        zero: Sequence[int],
        push: Sequence[int],
        weights: np.ndarray | None = None,
        near: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """``zero_point`` over whole numbers: the first integer point found with every ``zero``
        column at 0, or None if there is none. Raises if the MILP stops without deciding.

        ``near``: an LP point with the ``zero`` columns at 0. Its whole-number columns away from its
        fractional ones are tried fixed first, which leaves HiGHS a small problem; only if that has no
        whole-number point is the full problem solved (a fixed column only narrows the search, so
        a point found either way is a point of the system, and None comes from the full problem)."""
        milp = self._integer_model()
        zero_index = np.asarray(sorted(set(zero)), dtype=np.int32)
        push_index = np.asarray(push, dtype=np.int32)
        costs = np.zeros(self._n)
        costs[push_index] = 1.0 if weights is None else weights
        milp.changeColsCost(self._n, np.arange(self._n, dtype=np.int32), costs)
        lower = np.asarray([self._lower[c] for c in zero_index], dtype=np.float64)
        upper = np.asarray([self._upper[c] for c in zero_index], dtype=np.float64)
        if np.any(lower > 0):
            return None
        milp.changeColsBounds(len(zero_index), zero_index, lower, np.zeros(len(zero_index)))
        # Costs are non-negative over non-negative columns: any point is within a gap of 1, so
        # HiGHS stops at its first integer point (the push only makes that point emptier).
        milp.setOptionValue("mip_rel_gap", 1.0)
        try:
            if near is not None:
                point = self._integer_point_fixing(milp, near, zero_index)
                if point is not None:
                    return point
            milp.run()
            self.solves += 1
            self.integer_solves += 1
            status = milp.getModelStatus()
            if status == highspy.HighsModelStatus.kInfeasible:
                return None
            if status == highspy.HighsModelStatus.kOptimal or milp.getInfo().primal_solution_status == 2:
                point = self._checked_integer_point(np.asarray(milp.getSolution().col_value), zero_index)
                if self._record_points:
                    self.points.append(point)
                return point
            raise RuntimeError(f"audit MILP ended with status {status}")
        finally:
            milp.setOptionValue("mip_rel_gap", 0.0)
            milp.changeColsBounds(len(zero_index), zero_index, lower, upper)

    def _integer_point_fixing(
        self, milp: Highs, near: np.ndarray, zero_index: np.ndarray
    ) -> np.ndarray | None:
        """A whole-number point with ``near``'s whole-number columns kept, or None (not a proof of
        anything: the caller then solves the full problem)."""
        fractional = np.abs(near - np.round(near)) > _TOLERANCE
        # Free the fractional columns and every column sharing a row with one: rounding needs room
        # to move mass along those rows. The rest keep their whole-number values.
        matrix = self._row_matrix()[0]
        touched_rows = np.flatnonzero(matrix[:, np.flatnonzero(fractional)].getnnz(axis=1))
        free = np.zeros(self._n, dtype=bool)
        free[np.unique(matrix[touched_rows].indices)] = True
        free |= fractional
        whole = np.setdiff1d(np.flatnonzero(~free), zero_index).astype(np.int32)
        if not len(whole) or len(whole) == self._n:
            return None
        values = np.round(near[whole])
        milp.changeColsBounds(len(whole), whole, values, values)
        try:
            milp.run()
            self.solves += 1
            self.integer_solves += 1
            if milp.getInfo().primal_solution_status != 2:
                return None
            point = self._checked_integer_point(np.asarray(milp.getSolution().col_value), zero_index)
        finally:
            milp.changeColsBounds(
                len(whole),
                whole,
                self._lower_array[whole],
                np.asarray(self._upper, dtype=np.float64)[whole],
            )
        if self._record_points:
            self.points.append(point)
        return point

    def integer_sum_bound(self, columns: Sequence[int], sign: float) -> float:
        """The whole-number minimum (sign 1) or maximum (sign -1) of the sum of ``columns``."""
        milp = self._integer_model()
        costs = np.zeros(self._n)
        costs[np.asarray(sorted(set(columns)), dtype=np.int64)] = sign
        milp.changeColsCost(self._n, np.arange(self._n, dtype=np.int32), costs)
        milp.run()
        self.solves += 1
        self.integer_solves += 1
        status = milp.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return sign * milp.getInfo().objective_function_value
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return -sign * INF if sign > 0 else INF
        if milp.getInfo().primal_solution_status == 2 and sign < 0:
            # Stopped early: the bound HiGHS proved is a safe (wider) upper bound for a maximum.
            return -milp.getInfo().mip_dual_bound
        raise RuntimeError(f"audit MILP ended with status {status}")

    def sum_bound(self, columns: Sequence[int], sign: float) -> tuple[float, list[int], list[int]]:
        """The LP minimum (sign 1) or maximum (sign -1) of the sum of ``columns``, with the rows and
        columns whose constraints prove it (non-zero duals)."""
        index = np.asarray(sorted(set(columns)), dtype=np.int32)
        self._set_costs(index, np.full(len(index), sign))
        solver = self._solver
        try:
            solver.run()
            self.solves += 1
            status = solver.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal:
                self._observe(np.asarray(solver.getSolution().col_value))
                value = sign * solver.getInfo().objective_function_value
                return value, self.binding_rows(), self.binding_columns()
            if status in (
                highspy.HighsModelStatus.kUnbounded,
                highspy.HighsModelStatus.kUnboundedOrInfeasible,
            ):
                return (-sign * INF if sign > 0 else INF), [], []
            raise RuntimeError(f"audit LP ended with status {status}")
        finally:
            solver.changeColsCost(len(index), index, np.zeros(len(index)))

    def proven_at_lower(self, column: int) -> bool:
        return bool(self._seen_at_lower[column])

    def minimum(self, column: int) -> float:
        """The attacker's integer lower bound of one column (an LP, a MILP if the LP's is fractional)."""
        if self._seen_at_lower[column]:
            self.skipped_minimisations += 1
            return self._lower[column]
        return self._bound(column, 1.0)

    def maximum(self, column: int) -> float:
        return self._bound(column, -1.0)

    def _non_zero_duals(self, kind: str) -> list[int]:
        solution = self._solver.getSolution()
        if not solution.dual_valid:
            return []
        duals = np.asarray(getattr(solution, kind))
        return [int(i) for i in np.flatnonzero(np.abs(duals) > _TOLERANCE)]

    def binding_rows(self) -> list[int]:
        """Rows with a non-zero dual in the last LP optimum: the constraints that prove its bound."""
        return self._non_zero_duals("row_dual")

    def binding_columns(self) -> list[int]:
        """Columns whose own bounds are binding (non-zero reduced cost) in the last LP optimum."""
        return self._non_zero_duals("col_dual")

    def intervals(
        self, columns: Sequence[int], known_minimums: Sequence[float | None]
    ) -> list[tuple[int, float]]:
        """The attacker's tightest integer interval (low, high) per column; high may be inf.

        A ``known_minimum`` skips its minimisation (a true zero: zero is feasible and is the lower
        bound), and so does any column already seen at its propagated lower bound in an earlier
        (integral) optimum; likewise for maximisations and propagated upper bounds.
        """
        floor, cap = self._propagated
        # Maximise everything first: those optima put many other columns at their lower bound,
        # which then proves their minimum without an LP.
        highs = []
        for column in columns:
            bound = cap[column]
            if math.isfinite(bound) and self._seen_max[column] >= bound - _TOLERANCE:
                self.skipped_maximisations += 1
                highs.append(bound)
            else:
                highs.append(self._bound(column, -1.0))
        result = []
        for column, known, high in zip(columns, known_minimums, highs, strict=True):
            if known is None and self._seen_min[column] <= floor[column] + _TOLERANCE:
                known = floor[column]
                self.skipped_minimisations += 1
            low = known if known is not None else self._bound(column, 1.0)
            low_int = math.ceil(low - _TOLERANCE) if math.isfinite(low) else 0
            high_int = math.floor(high + _TOLERANCE) if math.isfinite(high) else INF
            result.append((int(low_int), high_int))
        return result


class DeviationModel:
    """Which published cells must be hidden so a cell can move up by a required amount.

    Columns per unknown node j: up_j >= 0 and down_j in [0, value_j] (a deviation may not make a
    count negative). Rows: every relation holds for the deviations. Cost: hiding a published cell
    costs its information loss; cells already hidden move for free. A solution with cost 0 means
    the cell is already protected; otherwise every published cell that moves must be hidden, and
    then the attacker's LP can reach value + requirement because that very deviation stays feasible.
    """

    def __init__(
        self,
        values: Sequence[int],
        costs: Sequence[float],
        rows: Sequence[Row] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        known_ranges: Sequence[tuple[float, float]] | None = None,
        solver: Highs | None = None,
    ) -> None:
        """``known_ranges`` (per node): what the customer already knows of it from earlier releases;
        a deviation must stay inside, or the attacker could rule it out. ``rows`` may come in CSR
        form (``csr_rows``; the bounds are ignored: every row says the deviations add up to 0).
        ``solver`` is a HiGHS instance to reuse (see ``build_model``)."""
        n = len(values)
        self._n = n
        column_costs = np.repeat(np.asarray(costs, dtype=np.float64), 2)
        lower = np.zeros(2 * n)
        upper = np.empty(2 * n)
        value_array = np.asarray(values, dtype=np.float64)
        upper[0::2] = INF
        upper[1::2] = value_array
        if known_ranges is not None:
            ranges = np.asarray(known_ranges, dtype=np.float64).reshape(n, 2)
            upper[0::2] = np.maximum(0.0, ranges[:, 1] - value_array)
            upper[1::2] = np.maximum(0.0, np.minimum(value_array, value_array - ranges[:, 0]))
        _, _, starts, indices, coefficients = rows if isinstance(rows, tuple) else csr_rows(rows)
        zeros = np.zeros(len(starts))
        # Column j of a row becomes up_j (2j, same sign) and down_j (2j + 1, opposite sign).
        expanded_indices = np.column_stack([2 * indices, 2 * indices + 1]).ravel()
        expanded_values = np.column_stack([coefficients, -coefficients]).ravel()
        csr = (zeros, zeros, 2 * starts, expanded_indices, expanded_values)
        self._solver = build_model(column_costs, lower, upper, csr, solver=solver)
        self.solves = 0

    def make_free(self, node: int) -> None:
        self._solver.changeColCost(2 * node, 0.0)
        self._solver.changeColCost(2 * node + 1, 0.0)

    def moving_nodes(self, node: int, requirement: float) -> list[tuple[int, float]] | None:
        """(node, deviation) of every node moving in a cheapest deviation lifting ``node`` by
        ``requirement``; None if no deviation can."""
        solver = self._solver
        solver.changeColBounds(2 * node, float(requirement), INF)
        solver.run()
        self.solves += 1
        status = solver.getModelStatus()
        try:
            if status != highspy.HighsModelStatus.kOptimal:
                return None
            values = np.asarray(solver.getSolution().col_value)
            deviations = values[0::2] - values[1::2]
            moved = np.abs(values[0::2]) + np.abs(values[1::2]) > _TOLERANCE
            return [(int(i), float(deviations[i])) for i in np.flatnonzero(moved)]
        finally:
            solver.changeColBounds(2 * node, 0.0, INF)
