"""``protect()``: the one automatic path from unprotected tables to a release.

Order: threshold (strictest register) → optional keyed noise (OpenDP) with budget checks →
primary suppression → differencing guard → secondary suppression by cheapest deviation (HiGHS)
→ attacker audit over this release and linked earlier ones (HiGHS, warm-started) → Venn-atom
audit over every exact count published now and released before (``disclosure.atoms``: catches
inclusion–exclusion over three or more counts; a failing atom hides one more current count and
suppression runs again) → on failure, more suppression, finally the grand total only → rounding
→ derived numbers → report and state changes. Every step runs for every request, whatever the
values (uniform work and responses).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyroaring import BitMap

from disclosure import curves, derived, magnitude, noise
from disclosure.atoms import AtomAuditResult, AuditOutOfTime, KnownCount, audit_atoms
from disclosure.deadline import DeadlinePassed, call_with_deadline
from disclosure.errors import (
    BUDGET_EXCEEDED_MESSAGE,
    NOT_PROTECTABLE_MESSAGE,
    BudgetExceeded,
    ReleaseRefused,
)
from disclosure.guard import differencing_guard
from disclosure.lp import INF
from disclosure.policy import (
    ALLOWED_ROUNDING_BASES,
    ATOM_AUDIT_SECONDS,
    ATOM_REPAIR_ROUNDS,
    LARGE_EPSILON,
    LARGE_RHO,
    DifferentialPrivacy,
    Policy,
)
from disclosure.release import ProtectedRow, ProtectedTable, Release, ReleaseContext
from disclosure.report import (
    AuditReport,
    CellAudit,
    GuardReport,
    NoiseReport,
    ReleaseReport,
    SuppressionReason,
    TableReport,
)
from disclosure.stores import (
    GLOBAL_SCOPE,
    ReleasedCellRecord,
    ReleasedCount,
    ReleasedTableRecord,
    StateChanges,
    degraded_scope,
    organisation_scope,
)
from disclosure.structure import TableStructure, analyse, fingerprint, keyed_digest
from disclosure.suppression import (
    AuditResult,
    Neighbourhoods,
    Node,
    ReleaseSystem,
    SuppressionOutcome,
    audit,
    finite,
    information_loss,
    suppress_and_audit,
)
from disclosure.table import AggregateTable
from disclosure.witnesses import MEMORY as WITNESSES

_STRUCTURAL_ZERO_NOTE = "Zeros that are impossible by the query's definition are shown as 0."


def rounded(value: int, base: int | None) -> int:
    if base is None:
        return value
    return math.floor(value / base + 0.5) * base


def rounding_interval(published: int, base: int | None) -> tuple[int, int]:
    """Every true value that rounds (half up) to ``published``."""
    if base is None:
        return published, published
    low = math.ceil(published - base / 2)
    high = math.ceil(published + base / 2) - 1
    return max(0, low), high


def _privacy(policy: Policy, context: ReleaseContext) -> DifferentialPrivacy | None:
    return context.differential_privacy or policy.differential_privacy


def _rounding_base(policy: Policy, context: ReleaseContext) -> int | None:
    base = context.rounding_base if context.rounding_base is not None else policy.rounding_base
    if base not in ALLOWED_ROUNDING_BASES:
        bases = " or ".join(str(b) for b in ALLOWED_ROUNDING_BASES if b is not None)
        raise ReleaseRefused(f"Rounding is available to base {bases} only.")
    return base


def protect(
    tables: Sequence[AggregateTable],
    policy: Policy,
    context: ReleaseContext,
    stores: Any,
) -> Release:
    """Protect the tables of one query for one organisation, or raise ``ReleaseRefused``.

    Exact counts are a finite resource per data version (``Policy.exact_history_counts``): once the
    counts released exactly would exceed it, a new question is answered with the policy's degraded
    keyed noise, and so is an exact release whose audit across earlier releases cannot finish within
    ``ATOM_AUDIT_SECONDS``. Both are charged to the budgets like any noisy release and not remembered
    as exact; only when the budgets cannot pay is the release refused.

    ``stores`` implements ``ReleasedPersonSets``, ``PrivacyLedger`` and ``NoiseCache`` (and
    optionally ``ReleasedTables`` for linking earlier releases into the audit). Nothing is written:
    the caller persists ``Release.changes`` atomically with the release.
    """
    if not tables:
        raise ValueError("protect() needs at least one table")
    # A curve's intervals are merged before anything is counted, audited or charged: the merged
    # table is the one released (``disclosure.curves``).
    tables = [
        curves.coarsen(table, policy.threshold_for(table.registers)) if curves.is_curve(table) else table
        for table in tables
    ]
    if context.published_with_noise:
        return _degraded(tables, policy, context, stores, PUBLISHED_WITH_NOISE)
    if exact_capacity_reached(tables, policy, context, stores):
        return _degraded(tables, policy, context, stores, CAPACITY_REACHED)
    try:
        return _protect(tables, policy, context, stores)
    except (AuditOutOfTime, DeadlinePassed):
        return _degraded(tables, policy, context, stores, AUDIT_PAST_DEADLINE)
    except BudgetExceeded:
        # noise asked for that its ledgers cannot pay: the degraded noise (wider, so no less
        # protective) from the degraded ledgers, rather than a refusal
        return _degraded(tables, policy, context, stores, ASKED_BUDGET_USED)


@dataclass(frozen=True)
class Degradation:
    """Why a release carries keyed noise instead of exact counts: for the auditor, and in words that
    depend only on the data version's history size and the policy, for the customer."""

    audit_reason: str
    customer_note: str
    # what is raised when the degraded ledgers cannot pay either
    refusal: type[ReleaseRefused] = ReleaseRefused
    refusal_message: str = NOT_PROTECTABLE_MESSAGE


CAPACITY_REACHED = Degradation(
    "the data version's exact capacity is used: keyed noise instead",
    "This data version has released as many exact counts as its audit across releases may hold, so new "
    "questions are answered with keyed differential-privacy noise (charged to the privacy budget; the "
    "same persons asked about again get the same noise). A question answered exactly before is still "
    "answered exactly.",
)
ASKED_BUDGET_USED = Degradation(
    "the budget of the noise asked for is used: the degraded keyed noise instead",
    "The privacy budget for the noise you asked for is used on this data version, so this release "
    "carries the wider keyed noise the service gives questions it cannot answer otherwise (charged "
    "to the privacy budget of the noise the service adds).",
    BudgetExceeded,
    BUDGET_EXCEEDED_MESSAGE,
)
PUBLISHED_WITH_NOISE = Degradation(
    "published to everyone: the service's keyed noise, never exact counts",
    "Public statistics carry keyed differential-privacy noise, so they add no exact count that a later "
    "question could be compared with; the same persons asked about again get the same noise.",
)
AUDIT_PAST_DEADLINE = Degradation(
    "audit across earlier releases past its deadline: keyed noise instead",
    "Exact counts could not be shown safe against earlier releases within the time allowed, so this "
    "release carries keyed differential-privacy noise instead (charged to the privacy budget of the "
    "noise the service adds).",
)


def exceeds_exact_capacity(held: int, cells: int, policy: Policy) -> bool:
    """The capacity rule, the one place it is written (the quote asks it too): whether ``cells`` more
    exact counts would take the ``held`` distinct exact counts of a data version past its capacity.

    Both numbers are known to everyone who received the releases (how many counts were released, how
    many cells the question can publish, whatever its counts), so the decision tells nothing about a
    count."""
    return held + cells > policy.exact_history_counts


def exact_capacity_reached(
    tables: Sequence[AggregateTable], policy: Policy, context: ReleaseContext, stores: Any
) -> bool:
    """Whether this exact question would take the data version's exact counts past its capacity."""
    if _privacy(policy, context) is not None or context.answered_exactly_before:
        return False
    if not hasattr(stores, "released_count_total"):
        return False
    held = stores.released_count_total(context.data_version, GLOBAL_SCOPE)
    return exceeds_exact_capacity(held, sum(len(table.cells) for table in tables), policy)


def _degraded(
    tables: Sequence[AggregateTable],
    policy: Policy,
    context: ReleaseContext,
    stores: Any,
    why: Degradation,
) -> Release:
    noisy = replace(context, differential_privacy=policy.degraded_privacy())
    try:
        release = _protect(tables, policy, noisy, stores, notes=[why.customer_note], degraded=True)
    except BudgetExceeded as no_budget:
        raise why.refusal(
            why.refusal_message,
            reason=f"{why.audit_reason}, and the budgets cannot pay for that noise",
        ) from no_budget
    audit = release.report.audit.model_copy(update={"degraded": why.audit_reason})
    return replace(release, report=release.report.model_copy(update={"audit": audit}))


def _protect(
    tables: Sequence[AggregateTable],
    policy: Policy,
    context: ReleaseContext,
    stores: Any,
    notes: list[str] | None = None,
    degraded: bool = False,
) -> Release:
    data_version = context.data_version
    secret = context.noise_secret
    org_scope = organisation_scope(context.organisation_id)
    # Noise the customer asked for is charged to the ledgers of asked noise; the degraded noise an
    # exact question gets instead, to ledgers of its own (neither can use up the other).
    budgets = policy.budgets
    if degraded:
        ledgers = (
            (degraded_scope(org_scope), budgets.rho_degraded_per_organisation),
            (degraded_scope(GLOBAL_SCOPE), budgets.rho_degraded_global),
        )
    else:
        ledgers = ((org_scope, budgets.rho_per_organisation), (GLOBAL_SCOPE, budgets.rho_global))
    (org_ledger, org_limit), (global_ledger, global_limit) = ledgers
    threshold = max(policy.threshold_for(table.registers) for table in tables)
    width = policy.width_for(threshold)
    base = _rounding_base(policy, context)
    privacy = _privacy(policy, context)
    structures = [analyse(table) for table in tables]
    notes = list(notes or [])
    # what merging a curve's intervals did, in words that name only k and the policy's minimum
    notes += [note for table in tables if curves.is_curve(table) for note in table.notes]

    # Budgets: refuse before anything is computed for release.
    rho_before_org = stores.rho_spent(data_version, org_ledger)
    rho_before_global = stores.rho_spent(data_version, global_ledger)
    noise_plans: list[noise.NoisePlan] = []
    noise_keys: list[list[str | None]] = []
    stored_draws = noise.StoredDraws(stores)
    rho_spent = 0.0
    if privacy is not None:
        noise_plans = [noise.plan(structure, privacy) for structure in structures]
        noise_keys = [
            noise.cell_keys(s, p, secret, data_version) for s, p in zip(structures, noise_plans, strict=True)
        ]
        stored_draws.read_ahead(data_version, (key for keys in noise_keys for key in keys))
        # only tables that draw fresh noise are charged (the quote's rho is the upper bound)
        fresh = noise.tables_needing_fresh_draws(noise_keys, data_version, stored_draws)
        rho_spent = noise.rho_charged(noise_plans, fresh)
        if (
            rho_before_org + rho_spent > org_limit + 1e-12
            or rho_before_global + rho_spent > global_limit + 1e-12
        ):
            raise BudgetExceeded(BUDGET_EXCEEDED_MESSAGE)

    # Working values: the values that would be published (true counts, or post-processed noisy ones).
    pending_draws: dict[str, int] = {}
    working: list[list[int]] = []
    identities: list[list[str]] = []
    draws_new = draws_reused = 0
    tables_charged: list[bool] = []
    fingerprints_of: list[list[str]] = []
    for t, structure in enumerate(structures):
        fingerprints = [fingerprint(secret, data_version, cell.persons) for cell in structure.cells]
        fingerprints_of.append(fingerprints)
        if privacy is None:
            working.append([cell.count for cell in structure.cells])
            identities.append(fingerprints)
            continue
        noisy = noise.add_noise(
            structure, noise_plans[t], secret, data_version, stored_draws, pending_draws, noise_keys[t]
        )
        tables_charged.append(bool(noisy.new_draws))
        draws_new += len(noisy.new_draws)
        draws_reused += noisy.reused_draws
        working.append(noisy.values)
        identities.append(_noisy_identities(secret, structure, noisy.keys))
    if privacy is not None:
        # what was actually drawn: exactly what was checked above (the same stored draws were read)
        rho_spent = noise.rho_charged(noise_plans, tables_charged)

    system = ReleaseSystem()
    cell_nodes: list[list[int]] = []
    table_digest = keyed_digest(secret, "release", data_version, *(i for ids in identities for i in ids))
    for t, structure in enumerate(structures):
        nodes_of_table: list[int] = [0] * len(structure.cells)
        # Margins first. Where a margin holds the same persons as one of its categories (the others
        # being empty), the margin is what the customer recognises from earlier releases, by its
        # definition; the category equals it only because its siblings hold nobody. Linking that
        # coincidence instead would make the pattern differ between siblings of 0 and of 1..k-1.
        for i in sorted(range(len(structure.cells)), key=lambda i: (-structure.margin_levels[i], i)):
            cell = structure.cells[i]
            empty = cell.count == 0 and privacy is None
            identity = f"empty:{table_digest}:{t}:{i}" if empty else identities[t][i]
            same = system.by_identity.get(identity)
            if same is not None and t in system.nodes[same].tables:
                # A second cell of this table with the margin's persons (its siblings are empty) is a
                # quantity of its own, named by its place: an earlier release of the same table links
                # it to itself, never to the margin it equals by coincidence (which made re-runs of
                # tables with empty cells pin those cells at 0 and be refused).
                identity = f"{identity}|{cell.coordinates!r}"
            node = Node(
                identity=identity,
                fingerprint=fingerprints_of[t][i],
                current=True,
                value=working[t][i],
                true_count=cell.count,
                persons=cell.persons,
                level=structure.margin_levels[i],
                structural_zero=cell.structural_zero,
            )
            nodes_of_table[i] = system.add_node(node, merge=True, table=t)
        cell_nodes.append(nodes_of_table)
        for parent, children in structure.relations:
            system.add_relation(nodes_of_table[parent], [nodes_of_table[c] for c in children])
    linked = 0
    earlier_records: list[ReleasedTableRecord] = []
    if hasattr(stores, "released_tables"):
        earlier_records = list(stores.released_tables(data_version, GLOBAL_SCOPE, set(system.by_identity)))
        linked = system.link_earlier(earlier_records)
    else:
        notes.append("Earlier releases could not be linked into the audit (store without released tables).")

    current = system.current_nodes()
    nodes = system.nodes

    # Primary suppression: 1..k-1 persons (true or noisy), and zeros unless structural.
    primary: set[int] = set()
    for i in current:
        node = nodes[i]
        if node.structural_zero and node.true_count == 0:
            continue
        if node.true_count == 0 and node.value == 0 and not policy.protect_zeros:
            continue
        if node.true_count < threshold or node.value < threshold:
            primary.add(i)

    # Under noise whose scale is at least the protection width, what the published values let an
    # attacker compute of a hidden cell, or of the difference of two cells, is noisy and uncertain by
    # more than w: the noise protects it. The differencing guard and secondary suppression (made for
    # exact values) would only hide large cells, and, without secondary cells to mask it, the guard's
    # verdict would show whether two person sets differ by 0 or by 1..k-1 persons.
    noise_covers_width = privacy is not None and min(p.scale for p in noise_plans) >= width

    # Differencing guard against earlier releases (organisation and global) and within the release.
    candidates = (
        set() if noise_covers_width else {i for i in current if i not in primary and nodes[i].true_count > 0}
    )
    windows = _size_windows(sorted({nodes[i].true_count for i in candidates}), threshold - 1)
    earlier = {
        scope: [
            persons
            for low, high in windows
            for persons in stores.sets_with_size_between(data_version, scope, low, high)
        ]
        for scope in (org_scope, GLOBAL_SCOPE)
    }
    guard = differencing_guard(system, structures, cell_nodes, candidates, earlier, threshold)

    # The audit lets the attacker know every published value exactly, even when it is shown rounded:
    # a stronger attacker than the real one (who learns only the rounding interval), so a pattern
    # that passes is safe for rounded output too, and the LP keeps only hidden cells as unknowns.
    # Earlier releases enter with what the customer actually saw (rounding intervals).
    published = {i: (nodes[i].value, nodes[i].value) for i in current}
    must_hide = primary | guard.hidden
    neighbourhoods = Neighbourhoods(
        [[cell.coordinates for cell in structure.cells] for structure in structures],
        [[d.categories for d in structure.table.dimensions] for structure in structures],
        [[d.has_total for d in structure.table.dimensions] for structure in structures],
        cell_nodes,
    )
    # Earlier exact counts that share persons with this release, for the Venn-atom audit.
    earlier_counts = _earlier_counts(stores, data_version, system, current) if privacy is None else []
    atom_hidden: set[int] = set()
    atom_lps = 0
    union_checks = 0
    atom_result = AtomAuditResult()
    audit_lps = 0
    atom_deadline = time.monotonic() + ATOM_AUDIT_SECONDS

    def audit_across_releases(hidden: set[int]) -> AtomAuditResult:
        return _atom_audit(
            system, current, hidden, earlier_counts, threshold, width, privacy, atom_deadline, data_version
        )

    with _refusal_on_solver_failure():
        for _ in range(ATOM_REPAIR_ROUNDS):
            if noise_covers_width:
                outcome = _primary_only(must_hide | atom_hidden)
            else:
                outcome = suppress_and_audit(
                    system,
                    must_hide | atom_hidden,
                    published,
                    threshold,
                    width,
                    policy.max_suppression_rounds,
                    neighbourhoods,
                )
            audit_lps += outcome.audit.lps
            if not outcome.passed:
                break
            atom_result = audit_across_releases(outcome.suppressed)
            atom_lps += atom_result.lps
            union_checks += atom_result.union_checks
            if atom_result.passed:
                break
            repairs = _cheapest_culprits(atom_result, nodes, outcome.suppressed)
            if not repairs:
                break
            atom_hidden |= repairs
        suppressed = outcome.suppressed
        audit_result: AuditResult = outcome.audit
        total_only = False
        if not (outcome.passed and atom_result.passed):
            # Fallback: the grand total of each table only (if it is itself safe).
            total_only = True
            totals = {
                cell_nodes[t][i]
                for t, structure in enumerate(structures)
                for i in range(len(structure.cells))
                if structure.is_grand_total(i)
            }
            suppressed = (set(current) - totals) | must_hide | atom_hidden
            audit_result = audit(system, suppressed, published, threshold, width)
            audit_lps += audit_result.lps
            determined = _determined_safe_cells(system, audit_result, must_hide | atom_hidden, threshold)
            if determined:
                # what the totals and earlier releases already determine, hiding cannot protect:
                # released as well, and the rest audited again
                suppressed -= determined
                audit_result = audit(system, suppressed, published, threshold, width)
                audit_lps += audit_result.lps
            if audit_result.failing:
                raise ReleaseRefused(
                    NOT_PROTECTABLE_MESSAGE,
                    reason="the cell audit fails even with only the total shown (it would pin a "
                    "hidden cell, alone or with earlier releases)",
                )
            atom_result = audit_across_releases(suppressed)
            atom_lps += atom_result.lps
            union_checks += atom_result.union_checks
            if not atom_result.passed:
                raise ReleaseRefused(
                    NOT_PROTECTABLE_MESSAGE,
                    reason="the audit across earlier releases fails even with only the total shown",
                )
            notes.append(
                "Only the total, and the cells it determines together with earlier releases, could "
                "be released for this request."
                if determined
                else "Only the total could be released for this request."
            )

    def reason(i: int) -> SuppressionReason:
        if i in primary:
            return "primary"
        if i in guard.hidden or i in atom_hidden:
            return "differencing"
        if i in outcome.secondary and not total_only:
            return "secondary"
        return "total_only" if total_only else "secondary"

    # Protected tables, derived numbers, report.
    protected: list[ProtectedTable] = []
    table_reports: list[TableReport] = []
    cell_audits: list[CellAudit] = []
    records: list[ReleasedTableRecord] = []
    cohort_total = _released_cohort_total(structures, cell_nodes, nodes, suppressed, base)
    for t, (table, structure) in enumerate(zip(tables, structures, strict=True)):
        table_nodes = cell_nodes[t]
        released_values: list[int | None] = [
            None if table_nodes[i] in suppressed else rounded(nodes[table_nodes[i]].value, base)
            for i in range(len(structure.cells))
        ]
        coordinates = [cell.coordinates for cell in structure.cells]
        derived_rows = derived.compute(structure.table, coordinates, released_values, threshold, cohort_total)
        rows = tuple(
            ProtectedRow(
                coordinates=coords,
                value=value,
                suppressed=value is None,
                derived=derived_row,
            )
            for coords, value, derived_row in zip(coordinates, released_values, derived_rows, strict=True)
        )
        columns = derived.derived_columns_for(structure.table)
        protected.append(
            ProtectedTable(
                kind=table.kind,
                title=table.title,
                dimensions=tuple(d.name for d in table.dimensions),
                categories=tuple(d.categories for d in table.dimensions),
                rows=rows,
                derived_columns=columns,
                rounding_base=base,
                noise_mechanism=privacy.mechanism if privacy else None,
            )
        )
        hidden_nodes = [table_nodes[i] for i in range(len(structure.cells)) if released_values[i] is None]
        reasons = [reason(n) for n in hidden_nodes]
        table_reports.append(
            TableReport(
                title=table.title,
                kind=table.kind,
                cells=len(structure.cells),
                suppressed=len(hidden_nodes),
                primary=reasons.count("primary"),
                secondary=reasons.count("secondary"),
                differencing=reasons.count("differencing"),
                total_only=total_only,
                rounding_base=base,
                derived_columns=list(columns),
                fingerprints=[nodes[n].fingerprint for n in table_nodes],
            )
        )
        for i, cell in enumerate(structure.cells):
            n = table_nodes[i]
            if released_values[i] is None:
                low, high = audit_result.intervals[n]
                cell_audits.append(
                    CellAudit(
                        table=t,
                        coordinates=list(cell.coordinates),
                        fingerprint=nodes[n].fingerprint,
                        reason=reason(n),
                        low=low,
                        high=finite(high),
                    )
                )
        records.append(
            ReleasedTableRecord(
                cells=tuple(
                    ReleasedCellRecord(nodes[n].identity, *_record_bounds(released_values[i], base))
                    for i, n in enumerate(table_nodes)
                ),
                relations=tuple(
                    (nodes[table_nodes[p]].identity, tuple(nodes[table_nodes[c]].identity for c in children))
                    for p, children in structure.relations
                ),
            )
        )
        if any(cell.structural_zero for cell in structure.cells):
            notes.append(_STRUCTURAL_ZERO_NOTE)
    # Means, SDs and quantiles where a table carries values: from the released counts, by the
    # magnitude rules (threshold, dominance, quantile sides, secondary protection of sums).
    if any(magnitude.wants_magnitudes(structure.table) for structure in structures):
        notes.append(magnitude.NOTE)
    protected = magnitude.protect_magnitudes(
        [structure.table for structure in structures],
        protected,
        threshold,
        secret,
        data_version,
        privacy is not None,
    )

    if base is not None:
        notes.append(
            f"Counts are rounded to the nearest multiple of {base}, totals on their own, so rounded "
            "cells need not add up to the rounded totals."
        )
    # the guard did not run under wide noise (above), so the store need not re-run it either
    changes = StateChanges(differencing_threshold=None if noise_covers_width else threshold)
    released_nodes = sorted({i for i in current if i not in suppressed and nodes[i].true_count > 0})
    for scope in (org_scope, GLOBAL_SCOPE):
        for i in released_nodes:
            if i not in guard.already_released.get(scope, set()):
                persons = nodes[i].persons
                assert persons is not None
                changes.person_sets.append((scope, persons))
    if privacy is None:
        known_counts = {count.fingerprint: count for count in earlier_counts}
        if base is None:
            # Exact: margins are stored as their remainders over published categories (see
            # ``_count_rows``), which keeps the stored history split by stratum.
            # A row that is a whole cell's set (every category cell) has that cell's fingerprint
            # already: the same keyed digest of the same set, not computed a second time.
            stored = [
                (
                    persons,
                    value,
                    value,
                    nodes[i].fingerprint
                    if persons is nodes[i].persons
                    else fingerprint(secret, data_version, persons),
                )
                for i, persons, value in _count_rows(system, set(released_nodes))
            ]
        else:
            # Rounded: a margin's interval says more than the sum of its categories' intervals.
            stored = []
            for i in released_nodes:
                persons = nodes[i].persons
                assert persons is not None
                low, high = rounding_interval(rounded(nodes[i].value, base), base)
                stored.append((persons, low, high, nodes[i].fingerprint))
        for persons, low, high, key in stored:
            old = known_counts.get(key)
            if old is None or low > old.low or high < old.high:
                changes.released_counts.append((GLOBAL_SCOPE, ReleasedCount(key, persons, low, high)))
    # A table released again exactly as before adds nothing to what the audit must know.
    known_records = set(earlier_records)
    changes.released_tables.extend(
        (GLOBAL_SCOPE, record) for record in records if record not in known_records
    )
    noise_report: NoiseReport | None = None
    if privacy is not None:
        changes.rho_spends.extend([(org_ledger, rho_spent), (global_ledger, rho_spent)])
        changes.rho_limits.extend(ledgers)
        changes.noise_draws.extend(sorted(pending_draws.items()))
        noise_report = NoiseReport(
            mechanism=privacy.mechanism,
            scales=[p.scale for p in noise_plans],
            sensitivities=[p.sensitivity for p in noise_plans],
            rho=rho_spent,
            rho_upper_bound=sum(p.rho for p in noise_plans),
            tables_charged=tables_charged,
            epsilon=sum(
                p.epsilon
                for p, charged in zip(noise_plans, tables_charged, strict=True)
                if charged and p.epsilon is not None
            )
            if privacy.mechanism == "discrete_laplace"
            else None,
            draws_new=draws_new,
            draws_reused=draws_reused,
        )
        if privacy.rho_charged() > LARGE_RHO or (privacy.epsilon or 0.0) > LARGE_EPSILON:
            notes.append(
                f"The privacy loss per table is large (rho {privacy.rho_charged():g}); "
                "the noise protects individuals only weakly."
            )
        notes.append(
            "Counts carry differential-privacy noise; a cell is shown only if both its true and its noisy "
            "value reach the threshold; margins are sums of the noisy cells."
        )

    report = ReleaseReport(
        policy_version=policy.version,
        data_version=data_version,
        organisation_id=context.organisation_id,
        threshold=threshold,
        protection_width=width,
        tables=table_reports,
        noise=noise_report,
        rho_spent=rho_spent,
        rho_organisation_after=rho_before_org + rho_spent,
        rho_global_after=rho_before_global + rho_spent,
        guard=GuardReport(
            comparisons=guard.comparisons,
            hidden_within_release=len(guard.hidden_within_release),
            hidden_against_earlier=len(guard.hidden_against_earlier),
        ),
        audit=AuditReport(
            passed=True,
            rounds=outcome.rounds,
            audit_lps=audit_lps,
            deviation_lps=outcome.deviation_lps,
            linked_earlier_tables=linked,
            atoms=atom_result.atoms,
            small_atoms=atom_result.small_atoms,
            atom_lps=atom_lps,
            union_checks=union_checks,
            earlier_counts=len(earlier_counts),
            hidden_by_atom_audit=len(atom_hidden - must_hide),
            cells=cell_audits,
        ),
        notes=sorted(set(notes), key=notes.index),
    )
    relied_on = BitMap.union(
        BitMap(),
        *(node.persons for node in nodes if node.current and node.persons is not None),
        *(count.persons for count in earlier_counts),
    )
    return Release(
        tables=protected,
        report=report,
        changes=changes,
        rho_spent=rho_spent,
        relied_on=relied_on,
        fingerprints=frozenset(system.by_identity),
    )


@contextlib.contextmanager
def _refusal_on_solver_failure() -> Iterator[None]:
    """A solver that ends without an answer (a MILP out of time before any feasible point, a numerical
    failure) means the release cannot be shown safe: refuse, never fail with a server error."""
    try:
        yield
    except (AuditOutOfTime, DeadlinePassed):
        raise  # protect() degrades to noise instead
    except RuntimeError as error:
        raise ReleaseRefused(
            NOT_PROTECTABLE_MESSAGE, reason=f"a solver ended without an answer ({type(error).__name__})"
        ) from error


def _primary_only(hidden: set[int]) -> SuppressionOutcome:
    """Hide only ``hidden``: no secondary cells, and no attacker audit, whose ranges would be ranges
    of noisy values (its integer bounds cost up to ``MILP_SECONDS`` each and say nothing the noise
    does not); the auditor's report shows each hidden cell's range as unknown (0 to unbounded)."""
    return SuppressionOutcome(
        suppressed=set(hidden),
        secondary=set(),
        audit=AuditResult(intervals={i: (0, INF) for i in hidden}, failing=[], lps=0),
        passed=True,
        rounds=0,
        deviation_lps=0,
    )


def _earlier_counts(
    stores: Any, data_version: str, system: ReleaseSystem, current: Sequence[int]
) -> list[ReleasedCount]:
    """Every exact count released before (to anyone: colluding customers are one attacker) linked to
    this release through chains of counts sharing persons.

    A count disjoint from the release still matters when it overlaps one that is not: (A∪Z) − Z is A.
    So the counts are the closure over shared persons, reached in rounds from the release's persons.
    There is no cap: any rule choosing which linked counts to leave out can be flooded (release
    hundreds of subsets so the attack's own counts fall outside it). What keeps the audit small is
    that stored counts are not implied by others (exact margins are left out) and that the audit
    only solves the parts of the system a current count takes part in.
    """
    if not hasattr(stores, "released_counts"):
        return []
    sets = [persons for i in current if (persons := system.nodes[i].persons)]
    if not sets:
        return []
    reach = BitMap.union(*sets)
    remaining = list(stores.released_counts(data_version, GLOBAL_SCOPE))
    linked: list[ReleasedCount] = []
    while remaining:
        joined: list[ReleasedCount] = []
        apart: list[ReleasedCount] = []
        for count in remaining:
            (joined if count.persons.intersect(reach) else apart).append(count)
        if not joined:
            break
        linked.extend(joined)
        reach = BitMap.union(reach, *(count.persons for count in joined))
        remaining = apart
    return linked


# How long before the hard deadline the audit stops itself to hand back what it found, so the next
# audit starts further along. Not a release rule: out of time is out of time, whether the audit stops
# itself or is killed; it only has these 0.3 s less to finish.
_HAND_BACK_SECONDS = 0.3


def _atom_audit(
    system: ReleaseSystem,
    current: Sequence[int],
    suppressed: set[int],
    earlier: Sequence[ReleasedCount],
    threshold: int,
    width: int,
    privacy: DifferentialPrivacy | None,
    deadline: float | None = None,
    data_version: str | None = None,
) -> AtomAuditResult:
    """The Venn-atom audit of what would be published now together with earlier exact counts.

    Under noise the published values are not sums of atom sizes (nor exact): the noise protects them.
    Published values enter exactly, as in the cell audit (a stronger attacker than rounding allows).
    """
    if privacy is not None:
        return AtomAuditResult()
    published = {i for i in current if i not in suppressed}
    counts = [KnownCount(c.persons, c.low, c.high) for c in earlier]
    # A count the customer has already, exactly, adds nothing to what the counts say together: a
    # re-run, the same question from a colleague or from another organisation needs no audit.
    exact_by_size: dict[int, list[BitMap]] = {}
    for count in earlier:
        if count.low == count.high:
            exact_by_size.setdefault(count.low, []).append(count.persons)
    counts.extend(
        KnownCount(persons, value, value, cell=i)
        for i, persons, value in _count_rows(system, published)
        if not (len(persons) == value and any(persons == old for old in exact_by_size.get(value, ())))
    )
    if not any(count.cell is not None for count in counts):
        return AtomAuditResult()  # nothing new is published
    if not earlier:  # this release alone: bounded by its own size
        return audit_atoms(counts, threshold, width, deadline)
    # Earlier audits' whole-number tables of this data version start the search where it ended
    # (``disclosure.witnesses``): checked before use, they change the audit's time, never its verdict.
    witnesses = WITNESSES.get(data_version) if data_version is not None else []
    seconds = ATOM_AUDIT_SECONDS if deadline is None else deadline - time.monotonic()
    # The audit stops itself a little before the child is killed, so it can hand back the tables it
    # found; the kill remains for a solver call that overruns.
    soft_deadline = time.monotonic() + seconds - _HAND_BACK_SECONDS
    try:
        result = call_with_deadline(seconds, audit_atoms, counts, threshold, width, soft_deadline, witnesses)
    except AuditOutOfTime as error:
        if data_version is not None:
            WITNESSES.add(data_version, error.witness)
        raise
    if data_version is not None:
        WITNESSES.add(data_version, result.witness)
    return result


def _count_rows(system: ReleaseSystem, published: set[int]) -> list[tuple[int, BitMap, int]]:
    """(node, persons, exact value) rows carrying everything the published nodes say, for the
    Venn-atom audit and its history.

    A margin enters as its remainder: the persons of the hidden cells under it (reached down the
    margin relations, through hidden margins to their own published and hidden parts) and what they
    add up to. The same knowledge, since the margin is that remainder plus published rows that are
    there anyway; but a row over a few hidden cells instead of one spanning every stratum of the
    table, which would tie the whole history into one system. A margin whose categories are all
    published has an empty remainder and adds nothing.
    """
    nodes = system.nodes
    relations: dict[int, list[tuple[int, ...]]] = {}
    for parent, children in system.relations:
        relations.setdefault(parent, []).append(children)

    def hidden(node: int) -> bool:
        return node not in published and nodes[node].true_count > 0 and nodes[node].persons is not None

    def split(node: int, pieces: list[int], rest: list[BitMap]) -> None:
        """Published pieces and hidden leftovers making up ``node``, by its relation with fewest
        hidden children."""
        choices = relations.get(node)
        if not choices:
            persons = nodes[node].persons
            assert persons is not None, "split only reaches hidden cells, which carry their persons"
            rest.append(persons)
            return
        children = min(choices, key=lambda group: sum(hidden(c) for c in group))
        for child in children:
            if child in published and nodes[child].true_count > 0:
                pieces.append(child)
            elif hidden(child):
                split(child, pieces, rest)

    rows: list[tuple[int, BitMap, int]] = []
    for i in sorted(published):
        node = nodes[i]
        if node.true_count == 0 or node.persons is None:
            continue
        if i not in relations:
            rows.append((i, node.persons, node.value))
            continue
        pieces: list[int] = []
        rest: list[BitMap] = []
        split(i, pieces, rest)
        if rest:
            rows.append((i, BitMap.union(*rest), node.value - sum(nodes[p].value for p in pieces)))
    return rows


def _determined_safe_cells(
    system: ReleaseSystem, result: AuditResult, kept_hidden: set[int], threshold: int
) -> set[int]:
    """Hidden cells of the total-only fallback that what is published (the totals, earlier
    releases) pins to their exact value, where that value is 0 or at least the threshold: hiding
    such a cell protects nothing, and a table whose strata sum to a released total with one stratum
    known from an earlier release (a Table 1 over a cohort asked about before) would otherwise be
    refused outright. Never a cell hidden for its own sake (primary, differencing guard, atom
    audit)."""
    determined = set()
    for node_index in result.failing:
        low, high = result.intervals[node_index]
        value = system.nodes[node_index].value
        if node_index in kept_hidden or not (low == high == value):
            continue
        if value == 0 or value >= threshold:
            determined.add(node_index)
    return determined


def _cheapest_culprits(result: AtomAuditResult, nodes: Sequence[Node], suppressed: set[int]) -> set[int]:
    """Per failing atom, the published count proving it that loses least information when hidden."""
    chosen: set[int] = set()
    for culprits in result.culprits:
        open_culprits = [c for c in culprits if c not in suppressed]
        if open_culprits:
            chosen.add(min(open_culprits, key=lambda n: (information_loss(nodes[n]), n)))
    return chosen


def _size_windows(sizes: Sequence[int], reach: int) -> list[tuple[int, int]]:
    """Merged size ranges [s - reach, s + reach]: only stored sets in them can differ by 1..reach."""
    windows: list[tuple[int, int]] = []
    for size in sizes:
        low, high = max(1, size - reach), size + reach
        if windows and low <= windows[-1][1] + 1:
            windows[-1] = (windows[-1][0], max(windows[-1][1], high))
        else:
            windows.append((low, high))
    return windows


def _released_cohort_total(
    structures: Sequence[TableStructure],
    cell_nodes: Sequence[Sequence[int]],
    nodes: Sequence[Node],
    suppressed: set[int],
    base: int | None,
) -> int | None:
    """The released value of the release's cohort total (a table without dimensions), if any."""
    for structure, table_nodes in zip(structures, cell_nodes, strict=True):
        if not structure.table.dimensions and table_nodes:
            node = table_nodes[0]
            return None if node in suppressed else rounded(nodes[node].value, base)
    return None


def _record_bounds(value: int | None, base: int | None) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    return rounding_interval(value, base)


def _noisy_identities(secret: bytes, structure: TableStructure, keys: Sequence[str | None]) -> list[str]:
    """Under noise, a published quantity is identified by the draws it is made of.

    A noised cell is its draw's key; a margin is the sum of its children's draws. Two cells with
    equal identities have equal published values, so the audit may treat them as one unknown.
    """
    identity: list[str | None] = list(keys)
    remaining = list(structure.relations)
    while remaining:
        later = []
        for parent, children in remaining:
            if identity[parent] is not None:
                continue
            parts = [identity[c] for c in children]
            if all(p is not None for p in parts):
                identity[parent] = keyed_digest(secret, "sum", *sorted(p for p in parts if p is not None))
            else:
                later.append((parent, children))
        if len(later) == len(remaining):
            raise RuntimeError("margin relations do not resolve")
        remaining = later
    return [i if i is not None else "" for i in identity]
