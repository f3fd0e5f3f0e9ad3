"""Attack 3: averaging repeated or rephrased noisy answers, from one or many organisations."""

from __future__ import annotations

import polars as pl
import pytest

from disclosure.errors import BudgetExceeded
from disclosure.pipeline import ASKED_BUDGET_USED, protect
from disclosure.policy import DEGRADED_RHO_PER_TABLE, Budgets, DifferentialPrivacy, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.tables import crosstab, synthetic_persons

SECRET = b"attack-suite-secret-of-32-bytes!"
NOISY = Policy(differential_privacy=DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=0.5))


def test_repeating_and_rephrasing_gives_nothing_to_average_and_the_budget_ends_the_stream():
    persons = synthetic_persons(1500, seed=21)
    stores = InMemoryStores()
    answers: list[list[int | None]] = []
    refused = 0
    for attempt in range(40):
        # Rephrasing: another title, another key order in the frame, another organisation every 10 requests.
        frame = persons.sample(fraction=1.0, shuffle=True, seed=attempt)
        table = crosstab(frame, ["sex", "region"], title=f"wording {attempt}")
        organisation = f"org-{attempt // 10}"
        try:
            release = protect([table], NOISY, ReleaseContext("dv1", organisation, SECRET), stores)
        except BudgetExceeded:
            refused += 1
            continue
        stores.apply("dv1", release.changes)
        answers.append([row.value for row in release.tables[0].rows])
    assert all(answer == answers[0] for answer in answers)
    # only the first answer drew noise (epsilon 0.5, rho 0.125); the rest are the stored draws again:
    # nothing new is learned, so nothing more is charged
    assert (len(answers), refused) == (40, 0)
    assert stores.rho_spent("dv1", "global") == 0.125
    assert stores.rho_spent("dv1", "org:org-0") == 0.125 and stores.rho_spent("dv1", "org:org-1") == 0.0
    true = [cell.count for cell in crosstab(persons, ["sex", "region"]).cells]
    noisy = [v for v in answers[0] if v is not None]
    assert noisy != [t for t, v in zip(true, answers[0], strict=True) if v is not None]


def test_one_organisation_is_stopped_by_its_ledgers():
    """Near-identical person sets (one person left out each time) get fresh draws, which could be
    averaged: each costs rho. Past the organisation's ledger of asked noise the stream gets the wider
    degraded noise, charged to the degraded ledger, which then ends it. The question already answered is
    still answered afterwards, from its stored draws, at no cost."""
    degraded_tables = 10  # a small degraded budget keeps the test short (configuration, not a stand-in)
    policy = NOISY.model_copy(
        update={"budgets": Budgets(rho_degraded_per_organisation=degraded_tables * DEGRADED_RHO_PER_TABLE)}
    )
    persons = synthetic_persons(800, seed=22)
    stores = InMemoryStores()
    context = ReleaseContext("dv1", "org-x", SECRET)
    modes = []
    for attempt in range(40):
        without_one = persons.filter(pl.col("pnr") != attempt + 1)
        table = crosstab(without_one, ["sex"], title=f"try {attempt}")
        try:
            release = protect([table], policy, context, stores)
        except BudgetExceeded:
            break
        stores.apply("dv1", release.changes)
        modes.append(release.report.audit.degraded)
        if release.report.audit.degraded is not None:
            assert min(release.report.noise.scales) >= 5  # wider than the protection width
    assert modes == [None] * 16 + [ASKED_BUDGET_USED.audit_reason] * degraded_tables
    assert stores.rho_spent("dv1", "org:org-x") == 2.0
    assert stores.rho_spent("dv1", "org:org-x:degraded") == pytest.approx(
        degraded_tables * DEGRADED_RHO_PER_TABLE
    )
    repeat = protect([crosstab(persons.filter(pl.col("pnr") != 1), ["sex"])], policy, context, stores)
    assert repeat.rho_spent == 0.0


def test_fresh_noise_per_request_would_average_out_but_keyed_noise_does_not():
    """Control: thirty fresh OpenDP draws average close to the truth; our thirty answers are one answer."""
    from disclosure import noise
    from disclosure.structure import analyse

    persons = synthetic_persons(600, seed=23)
    table = crosstab(persons, ["sex"])
    plan = noise.plan(
        analyse(table), DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=0.5)
    )
    fresh = pl.Series(noise.draw(plan, 30)).mean()
    assert abs(fresh) < 2.0  # averaging fresh noise shrinks it by sqrt(30)
    stores = InMemoryStores()
    values = set()
    for attempt in range(5):
        release = protect([table], NOISY, ReleaseContext("dv1", f"org-{attempt}", SECRET), stores)
        stores.apply("dv1", release.changes)
        values.add(tuple(row.value for row in release.tables[0].rows))
    assert len(values) == 1
