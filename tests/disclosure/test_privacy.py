"""Differential privacy: OpenDP noise, keyed draws, post-processing, ledgers, budgets, warnings."""

from __future__ import annotations

import statistics
import threading
import warnings

import pytest
from pyroaring import BitMap

from disclosure import noise
from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, BudgetExceeded
from disclosure.pipeline import protect
from disclosure.policy import RHO_PER_ORGANISATION, Budgets, DifferentialPrivacy, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.structure import analyse
from tests.disclosure.tables import crosstab, subsets_table, synthetic_persons

SECRET = b"privacy-test-secret-32-bytes-ok!"
GAUSSIAN = Policy(differential_privacy=DifferentialPrivacy())


def context(org: str = "org-a", **options) -> ReleaseContext:
    return ReleaseContext("dv1", org, SECRET, **options)


def breakdown(n: int = 3000, seed: int = 5):
    return crosstab(synthetic_persons(n, seed=seed), ["sex", "region"], title="by sex and region")


def test_gaussian_scale_and_rho_follow_opendp_and_the_declared_sensitivity():
    one_per_person = analyse(breakdown())
    plan = noise.plan(one_per_person, DifferentialPrivacy(rho=0.125))
    assert plan.sensitivity == 1
    assert plan.scale == pytest.approx(2.0)  # rho = 1 / (2 sigma^2): the reference's sigma 2 at rho 0.125
    assert plan.rho == pytest.approx(0.125)
    characteristics = subsets_table(
        {"a": BitMap(range(1, 50)), "b": BitMap(range(20, 90)), "c": BitMap(range(60, 99))},
        BitMap(range(1, 120)),
    )
    plan = noise.plan(analyse(characteristics), DifferentialPrivacy(rho=0.125))
    assert plan.sensitivity == 3 + 1  # up to 3 characteristics plus the cohort total
    assert plan.rho == pytest.approx(0.125)
    laplace = noise.plan(
        one_per_person, DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=0.5)
    )
    assert laplace.scale == pytest.approx(2.0)
    assert laplace.epsilon == pytest.approx(0.5)
    assert laplace.rho == pytest.approx(0.125)  # epsilon-DP implies epsilon^2/2-zCDP


def test_opendp_draws_have_the_planned_spread():
    plan = noise.plan(analyse(breakdown()), DifferentialPrivacy(rho=0.125))
    draws = noise.draw(plan, 4000)
    assert abs(statistics.fmean(draws)) < 0.2
    assert statistics.pstdev(draws) == pytest.approx(2.0, rel=0.08)
    assert all(isinstance(d, int) for d in draws)


def test_noisy_release_is_consistent_non_negative_and_thresholded():
    table = breakdown()
    release = protect([table], GAUSSIAN, context(), InMemoryStores())
    protected = release.tables[0]
    for row in protected.rows:
        if not row.suppressed:
            assert row.value >= 5
            assert table.cell(*row.coordinates).count >= 5
    # margins are sums of the noisy inner cells
    for sex in ("F", "M"):
        inner = [protected.row(sex, region).value for region in table.dimensions[1].categories]
        if None not in inner and not protected.row(sex, None).suppressed:
            assert protected.row(sex, None).value == sum(inner)
    assert release.report.noise is not None
    assert release.changes.noise_draws and release.changes.rho_spends


def test_same_question_any_wording_same_answer_and_draws_are_reused():
    stores = InMemoryStores()
    table = breakdown()
    first = protect([table], GAUSSIAN, context(), stores)
    stores.apply("dv1", first.changes)
    reworded = crosstab(synthetic_persons(3000, seed=5), ["sex", "region"], title="another wording")
    second = protect([reworded], GAUSSIAN, context("org-b"), stores)
    assert [r.value for r in second.tables[0].rows] == [r.value for r in first.tables[0].rows]
    assert second.report.noise.draws_new == 0
    assert second.changes.noise_draws == []  # nothing new to store: every draw came from the cache


def test_budget_refuses_before_anything_is_released_and_message_is_fixed():
    stores = InMemoryStores()
    table = breakdown()
    releases = 0
    with pytest.raises(BudgetExceeded) as refused:
        for _ in range(100):
            release = protect([table], GAUSSIAN, context(), stores)
            stores.apply("dv1", release.changes)
            releases += 1
    assert releases == int(RHO_PER_ORGANISATION / 0.125)
    assert refused.value.message == BUDGET_EXCEEDED_MESSAGE
    assert stores.rho_spent("dv1", "org:org-a") <= RHO_PER_ORGANISATION + 1e-9


def test_global_budget_caps_many_organisations_together():
    policy = Policy(differential_privacy=DifferentialPrivacy(), budgets=Budgets(rho_global=0.5))
    stores = InMemoryStores()
    for org in ("a", "b", "c", "d"):
        release = protect([breakdown()], policy, context(org), stores)
        stores.apply("dv1", release.changes)
    with pytest.raises(BudgetExceeded):
        protect([breakdown()], policy, context("e"), stores)


def test_concurrent_requests_never_overdraw_the_ledger():
    """Threads race: all compute against the same ledger, the atomic apply lets only what fits through."""
    policy = Policy(differential_privacy=DifferentialPrivacy(), budgets=Budgets(rho_per_organisation=0.5))
    stores = InMemoryStores()
    table = breakdown(800)
    outcomes: list[str] = []
    lock = threading.Lock()

    def request() -> None:
        try:
            release = protect([table], policy, context(), stores)
            stores.apply("dv1", release.changes)
            result = "released"
        except BudgetExceeded:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=request) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("released") == 4
    assert outcomes.count("refused") == 6
    assert stores.rho_spent("dv1", "org:org-a") == pytest.approx(0.5)
    assert stores.rho_spent("dv1", "global") == pytest.approx(0.5)


def test_large_losses_are_warned_about_and_invalid_ones_rejected():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=8.0)
        DifferentialPrivacy(rho=3.0)
    assert len(caught) == 2
    assert "large" in str(caught[0].message)
    with pytest.raises(ValueError):
        DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=None)
    with pytest.raises(ValueError):
        DifferentialPrivacy(rho=0.0)


def test_query_can_ask_for_noise_when_the_policy_does_not():
    options = context(differential_privacy=DifferentialPrivacy(rho=0.25))
    release = protect([breakdown()], Policy.default(), options, InMemoryStores())
    assert release.rho_spent == pytest.approx(0.25)
    assert release.tables[0].noise_mechanism == "discrete_gaussian"
