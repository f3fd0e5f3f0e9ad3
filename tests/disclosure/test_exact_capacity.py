"""A data version's exact capacity: past it, new questions get the degraded keyed noise, decided by
the history's size and the question's shape only, and repeats of exact questions stay exact."""

from __future__ import annotations

import polars as pl
import pytest

from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, NOT_PROTECTABLE_MESSAGE, BudgetExceeded, ReleaseRefused
from disclosure.pipeline import (
    ASKED_BUDGET_USED,
    AUDIT_PAST_DEADLINE,
    CAPACITY_REACHED,
    PUBLISHED_WITH_NOISE,
    protect,
)
from disclosure.policy import DEGRADED_RHO_PER_TABLE, Budgets, DifferentialPrivacy, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import GLOBAL_SCOPE, InMemoryStores, degraded_scope, organisation_scope
from tests.disclosure.tables import crosstab, synthetic_persons

SECRET = b"capacity-test-secret-32-bytes-ok"
DATA_VERSION = "dv-capacity"


def context(org: str = "org-a", **options) -> ReleaseContext:
    return ReleaseContext(DATA_VERSION, org, SECRET, **options)


def cohorts(count: int) -> list:
    """Disjoint cohorts of 400 persons, each asked as a total and by sex (1 + 3 cells)."""
    tables = []
    for i in range(count):
        persons = synthetic_persons(400, seed=i, first_key=1 + 1_000 * i)
        tables.append(crosstab(persons, [], title=f"cohort {i}"))
        tables.append(crosstab(persons, ["sex"], title=f"cohort {i} by sex"))
    return tables


def release_all(tables, policy: Policy, stores: InMemoryStores) -> list:
    releases = []
    for table in tables:
        release = protect([table], policy, context(), stores)
        stores.apply(DATA_VERSION, release.changes)
        releases.append(release)
    return releases


def exact_counts_held(stores: InMemoryStores) -> int:
    return len(stores.released_counts(DATA_VERSION, GLOBAL_SCOPE))


def test_past_the_capacity_a_new_question_gets_the_degraded_noise_and_its_rho():
    policy = Policy(exact_history_counts=8)
    stores = InMemoryStores()
    degraded = []
    for table in cohorts(4):
        would_exceed = exact_counts_held(stores) + len(table.cells) > policy.exact_history_counts
        release = protect([table], policy, context(), stores)
        stores.apply(DATA_VERSION, release.changes)
        assert exact_counts_held(stores) <= policy.exact_history_counts
        if not would_exceed:
            assert release.report.audit.degraded is None and release.report.noise is None
            continue
        degraded.append(release)
        assert release.report.audit.degraded == CAPACITY_REACHED.audit_reason
        assert release.report.noise is not None
        assert release.rho_spent == pytest.approx(DEGRADED_RHO_PER_TABLE)
        assert CAPACITY_REACHED.customer_note in release.report.customer_view()["notes"]
        (protected,) = release.tables
        assert not all(row.suppressed for row in protected.rows)  # large cells are shown, with noise
    assert 2 <= len(degraded) < 8  # the first questions were exact, the later breakdowns were not
    # paid from the degraded ledgers: the noise customers ask for has budgets of its own
    spent = stores.rho_spent(DATA_VERSION, degraded_scope(GLOBAL_SCOPE))
    assert spent == pytest.approx(len(degraded) * DEGRADED_RHO_PER_TABLE)
    assert stores.rho_spent(DATA_VERSION, degraded_scope(organisation_scope("org-a"))) == pytest.approx(spent)
    assert stores.rho_spent(DATA_VERSION, GLOBAL_SCOPE) == 0


def test_a_question_answered_exactly_before_stays_exact_and_spends_nothing():
    policy = Policy(exact_history_counts=4)
    stores = InMemoryStores()
    first, by_sex = cohorts(1)
    release_all([first, by_sex], policy, stores)
    again = protect([by_sex], policy, context("org-b"), stores)
    assert again.report.audit.degraded == CAPACITY_REACHED.audit_reason  # a new question to org-b...
    repeat = protect([by_sex], policy, context("org-b", answered_exactly_before=True), stores)
    assert repeat.report.audit.degraded is None  # ...unless the service knows it was answered exactly
    assert repeat.report.noise is None
    assert repeat.rho_spent == 0


def test_the_same_persons_asked_again_past_the_capacity_reuse_their_draws_for_free():
    policy = Policy(exact_history_counts=0)
    stores = InMemoryStores()
    (_, by_sex) = cohorts(1)
    first = protect([by_sex], policy, context("org-a"), stores)
    stores.apply(DATA_VERSION, first.changes)
    colleague = protect([by_sex], policy, context("org-b"), stores)
    assert first.rho_spent == pytest.approx(DEGRADED_RHO_PER_TABLE)
    assert colleague.rho_spent == 0
    assert [row.value for row in colleague.tables[0].rows] == [row.value for row in first.tables[0].rows]


def test_past_the_capacity_with_no_budget_left_the_release_is_refused_with_the_fixed_message():
    policy = Policy(exact_history_counts=0, budgets=Budgets(rho_degraded_global=DEGRADED_RHO_PER_TABLE / 2))
    with pytest.raises(ReleaseRefused) as refused:
        protect(cohorts(1)[:1], policy, context(), InMemoryStores())
    assert refused.value.message == NOT_PROTECTABLE_MESSAGE
    assert CAPACITY_REACHED.audit_reason in (refused.value.reason or "")
    assert AUDIT_PAST_DEADLINE.audit_reason not in (refused.value.reason or "")


def world(women_with_code: int) -> pl.DataFrame:
    """300 men and a few women (0 or some) in a cohort; the rest of the history is identical."""
    men = pl.DataFrame({"pnr": list(range(1, 301)), "sex": ["M"] * 300})
    women = pl.DataFrame({"pnr": list(range(1_001, 1_001 + women_with_code)), "sex": ["F"] * women_with_code})
    return pl.concat([men, women])


@pytest.mark.parametrize("capacity", range(0, 12))
def test_whether_a_release_is_degraded_never_tells_zero_from_a_few(capacity):
    """At every position of the capacity boundary, a cohort whose women's cell is 0 and one where it
    is 3 get the same mode (exact or noise) and the same hidden pattern, total then by sex."""
    seen = {}
    for women in (0, 3):
        policy = Policy(exact_history_counts=capacity)
        stores = InMemoryStores()
        release_all(cohorts(1), policy, stores)  # the same earlier history in both worlds
        outcome = []
        for dimensions in ([], ["sex"]):
            table = crosstab(world(women), dimensions, categories={"sex": ["F", "M"]}, title="padded")
            release = protect([table], policy, context(), stores)
            stores.apply(DATA_VERSION, release.changes)
            outcome.append(
                (
                    release.report.audit.degraded,
                    [(row.coordinates, row.suppressed) for row in release.tables[0].rows],
                )
            )
        seen[women] = outcome
    assert seen[0] == seen[3]


def test_noise_a_customer_asked_for_cannot_use_up_the_degraded_budget():
    """An organisation whose asked-noise budget is spent still gets its exact questions answered
    past the capacity: the degraded noise has ledgers of its own."""
    policy = Policy(exact_history_counts=0, budgets=Budgets(rho_per_organisation=0.125, rho_global=0.125))
    stores = InMemoryStores()
    first, by_sex = cohorts(1)
    asked = protect([first], policy, context(differential_privacy=DifferentialPrivacy()), stores)
    stores.apply(DATA_VERSION, asked.changes)
    assert stores.rho_spent(DATA_VERSION, GLOBAL_SCOPE) == pytest.approx(0.125)  # all of it
    release = protect([by_sex], policy, context(), stores)
    assert release.report.audit.degraded == CAPACITY_REACHED.audit_reason
    stores.apply(DATA_VERSION, release.changes)
    assert stores.rho_spent(DATA_VERSION, degraded_scope(GLOBAL_SCOPE)) == pytest.approx(
        DEGRADED_RHO_PER_TABLE
    )


def test_noise_asked_for_past_its_budget_gets_the_degraded_noise_and_only_then_a_refusal():
    policy = Policy(budgets=Budgets(rho_per_organisation=0.125))
    stores = InMemoryStores()
    first, by_sex = cohorts(1)
    asked = context(differential_privacy=DifferentialPrivacy())
    release = protect([first], policy, asked, stores)
    stores.apply(DATA_VERSION, release.changes)
    assert release.report.audit.degraded is None and release.rho_spent == pytest.approx(0.125)
    fallback = protect([by_sex], policy, asked, stores)  # the asked-noise budget is spent
    assert fallback.report.audit.degraded == ASKED_BUDGET_USED.audit_reason
    assert ASKED_BUDGET_USED.customer_note in fallback.report.customer_view()["notes"]
    assert dict(fallback.changes.rho_spends)[degraded_scope(GLOBAL_SCOPE)] == pytest.approx(
        DEGRADED_RHO_PER_TABLE
    )
    broke = Policy(
        budgets=Budgets(rho_per_organisation=0.125, rho_degraded_global=DEGRADED_RHO_PER_TABLE / 2)
    )
    with pytest.raises(BudgetExceeded) as refused:
        protect([by_sex], broke, asked, stores)
    assert refused.value.message == BUDGET_EXCEEDED_MESSAGE


def test_a_release_published_with_noise_is_never_exact_and_holds_no_exact_count():
    """Public statistics: the degraded keyed noise whatever the history or the counts, charged to the
    degraded ledgers, and nothing added to the exact counts later audits work on."""
    policy = Policy()
    stores = InMemoryStores()
    for table in cohorts(2):
        release = protect([table], policy, context("org-public", published_with_noise=True), stores)
        stores.apply(DATA_VERSION, release.changes)
        assert release.report.audit.degraded == PUBLISHED_WITH_NOISE.audit_reason
        assert release.report.noise is not None and release.rho_spent == pytest.approx(DEGRADED_RHO_PER_TABLE)
    assert exact_counts_held(stores) == 0
    assert stores.rho_spent(DATA_VERSION, organisation_scope("org-public")) == 0
    assert stores.rho_spent(DATA_VERSION, degraded_scope(GLOBAL_SCOPE)) == pytest.approx(
        4 * DEGRADED_RHO_PER_TABLE
    )
