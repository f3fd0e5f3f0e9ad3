"""Hard deadlines on the audit across releases, and what a release gets when one passes."""

from __future__ import annotations

import json
import time

import pytest
from pyroaring import BitMap

from disclosure import pipeline
from disclosure.deadline import DeadlinePassed, call_with_deadline
from disclosure.errors import ReleaseRefused
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import GLOBAL_SCOPE, InMemoryStores, degraded_scope
from tests.budgets import without_degraded_budget
from tests.disclosure.test_atoms import SECRET, release_all, total_table


def stuck(seconds: float) -> float:
    time.sleep(seconds)  # stands for a solver that ignores its own time limit inside a C call
    return seconds


def fails() -> None:
    raise ValueError("raised in the child")


def test_a_stuck_call_is_killed_at_its_deadline_and_the_next_call_works():
    call_with_deadline(10, stuck, 0.0)  # a warm child
    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        call_with_deadline(0.5, stuck, 60.0)
    assert time.monotonic() - started < 5
    assert call_with_deadline(10, stuck, 0.01) == 0.01


def test_an_exception_in_the_child_is_raised_in_the_caller():
    with pytest.raises(ValueError, match="raised in the child"):
        call_with_deadline(10, fails)


def inclusion_exclusion(stores: InMemoryStores, policy: Policy, monkeypatch):
    """Two exact totals, then their union (which would pin their one shared person) audited with no
    time at all."""
    a, b = BitMap(range(0, 24)), BitMap(range(23, 57))
    release_all(stores, [total_table(a, "C and A10BJ")])
    release_all(stores, [total_table(b, "C and C08")])
    assert len(stores.released_counts("dv1", GLOBAL_SCOPE)) == 2
    monkeypatch.setattr(pipeline, "ATOM_AUDIT_SECONDS", 0.0)
    context = ReleaseContext("dv1", "org-a", SECRET)
    return pipeline.protect([total_table(a | b, "C and (A10BJ or C08)")], policy, context, stores)


def test_an_audit_past_its_deadline_releases_with_keyed_noise_charged_to_the_budget(monkeypatch):
    stores = InMemoryStores()
    release = inclusion_exclusion(stores, Policy.default(), monkeypatch)
    (table,) = release.tables
    assert table.noise_mechanism is not None
    assert any("noise" in note for note in release.report.notes)
    assert release.rho_spent > 0
    assert (degraded_scope(GLOBAL_SCOPE), release.rho_spent) in release.changes.rho_spends
    assert release.changes.released_counts == []  # noisy counts never enter the exact history
    row = table.rows[0]
    assert row.suppressed or row.value >= 5
    assert "deadline" in release.report.auditor_view()["audit"]["degraded"]  # why, for the auditor
    assert "degraded" not in json.dumps(release.report.customer_view())


def test_without_budget_for_noise_an_audit_past_its_deadline_refuses(monkeypatch):
    # a budget below one table of the degraded noise
    budgets = without_degraded_budget()
    policy = Policy.default().model_copy(update={"budgets": budgets})
    with pytest.raises(ReleaseRefused) as refusal:
        inclusion_exclusion(InMemoryStores(), policy, monkeypatch)
    assert refusal.value.message == pipeline.NOT_PROTECTABLE_MESSAGE


def test_a_repeat_of_exact_counts_needs_no_audit_across_releases(monkeypatch):
    """A re-run (or a colleague's, or another organisation's, identical question) publishes only counts
    the customer has exactly already: it passes without the audit, however little time it has."""
    stores = InMemoryStores()
    a, b = BitMap(range(0, 24)), BitMap(range(23, 57))
    release_all(stores, [total_table(a, "C and A10BJ")])
    release_all(stores, [total_table(b, "C and C08")])
    monkeypatch.setattr(pipeline, "ATOM_AUDIT_SECONDS", 0.0)
    again = release_all(stores, [total_table(b, "C and C08, asked again")], org="org-b")
    (table,) = again.tables
    assert table.noise_mechanism is None and table.rows[0].value == len(b)
