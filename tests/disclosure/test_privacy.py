"""Differential privacy: OpenDP noise, keyed draws, post-processing, ledgers, budgets, warnings."""

from __future__ import annotations

import statistics
import threading
import warnings

import pytest
from pyroaring import BitMap

from disclosure import noise
from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, BudgetExceeded, ReleaseRefused
from disclosure.pipeline import protect
from disclosure.policy import (
    RHO_PER_ORGANISATION,
    DifferentialPrivacy,
    Policy,
)
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.structure import analyse
from tests.budgets import without_degraded_budget
from tests.disclosure.tables import crosstab, subsets_table, synthetic_persons

SECRET = b"privacy-test-secret-32-bytes-ok!"
# The ledgers of asked noise are what this module tests: the degraded noise asked noise falls back to
# when they are spent (``tests/disclosure/test_exact_capacity.py``) is left no budget here.
GAUSSIAN = Policy(differential_privacy=DifferentialPrivacy(), budgets=without_degraded_budget())


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
    releases = 0
    with pytest.raises(BudgetExceeded) as refused:
        for seed in range(100):  # other persons each time: every release draws fresh noise
            release = protect([breakdown(seed=seed)], GAUSSIAN, context(), stores)
            stores.apply("dv1", release.changes)
            releases += 1
    assert releases == int(RHO_PER_ORGANISATION / 0.125)
    assert refused.value.message == BUDGET_EXCEEDED_MESSAGE
    assert stores.rho_spent("dv1", "org:org-a") <= RHO_PER_ORGANISATION + 1e-9


def test_a_repeat_is_charged_nothing_and_fits_a_spent_budget():
    """The second release of the same table publishes the stored draws again (post-processing):
    it spends no rho, so it runs even when the budget has no room for a fresh table."""
    policy = Policy(
        differential_privacy=DifferentialPrivacy(),
        budgets=without_degraded_budget(rho_per_organisation=0.125),
    )
    stores = InMemoryStores()
    first = protect([breakdown()], policy, context(), stores)
    stores.apply("dv1", first.changes)
    second = protect([breakdown()], policy, context(), stores)
    stores.apply("dv1", second.changes)
    assert first.rho_spent == pytest.approx(0.125)
    assert first.report.noise.tables_charged == [True] and first.report.noise.draws_new > 0
    assert second.rho_spent == 0.0 == second.report.rho_spent == second.report.noise.rho
    assert second.report.noise.rho_upper_bound == pytest.approx(0.125)
    assert second.report.noise.tables_charged == [False] and second.report.noise.draws_new == 0
    assert second.report.customer_view()["rho_spent"] == 0.0
    assert [r.value for r in second.tables[0].rows] == [r.value for r in first.tables[0].rows]
    assert stores.rho_spent("dv1", "org:org-a") == pytest.approx(0.125)
    assert stores.rho_spent("dv1", "global") == pytest.approx(0.125)
    with pytest.raises(BudgetExceeded):  # a table with fresh draws still needs room in the budget
        protect([breakdown(seed=6)], policy, context(), stores)


def test_one_fresh_draw_charges_the_whole_table():
    """The draws of a table are one mechanism: a table with one fresh cell among reused ones is charged
    its full rho (an upper bound on the loss of its fresh draws); a repeated table in the same release
    costs nothing more."""
    import polars as pl

    stores = InMemoryStores()
    persons = synthetic_persons(3000, seed=5)
    first = protect([crosstab(persons, ["sex", "region"])], GAUSSIAN, context(), stores)
    stores.apply("dv1", first.changes)
    newcomers = pl.DataFrame(
        {
            "pnr": pl.Series(range(3001, 3011), dtype=pl.UInt32),
            "sex": ["F"] * 10,
            "region": ["North"] * 10,
            "age_band": ["40-64"] * 10,
        }
    )
    grown = crosstab(pl.concat([persons, newcomers]), ["sex", "region"])
    second = protect([grown, grown], GAUSSIAN, context(), stores)
    assert second.report.noise.draws_new == 1  # only the (F, North) cell has other persons
    assert second.report.noise.tables_charged == [True, False]
    assert second.rho_spent == pytest.approx(0.125)
    assert second.report.noise.rho_upper_bound == pytest.approx(0.25)
    assert sorted(second.changes.rho_spends) == sorted([("org:org-a", 0.125), ("global", 0.125)])


def test_global_budget_caps_many_organisations_together():
    policy = Policy(
        differential_privacy=DifferentialPrivacy(), budgets=without_degraded_budget(rho_global=0.5)
    )
    stores = InMemoryStores()
    for seed, org in enumerate(("a", "b", "c", "d")):
        release = protect([breakdown(seed=seed)], policy, context(org), stores)
        stores.apply("dv1", release.changes)
    with pytest.raises(BudgetExceeded):
        protect([breakdown(seed=4)], policy, context("e"), stores)


def test_concurrent_requests_never_overdraw_the_ledger():
    """Threads race: all compute against the same ledger, the atomic apply lets only what fits through."""
    policy = Policy(
        differential_privacy=DifferentialPrivacy(), budgets=without_degraded_budget(rho_per_organisation=0.5)
    )
    stores = InMemoryStores()
    outcomes: list[str] = []
    lock = threading.Lock()

    def request(seed: int) -> None:
        try:  # other persons per request: each draws fresh noise and costs its rho
            release = protect([breakdown(800, seed=seed)], policy, context(), stores)
            stores.apply("dv1", release.changes)
            result = "released"
        except BudgetExceeded:
            result = "refused"
        except ReleaseRefused:  # a concurrent release drew other noise for the same cells: retry later
            result = "retry"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=request, args=(seed,)) for seed in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    released = outcomes.count("released")
    assert len(outcomes) == 10
    assert 1 <= released <= 4
    assert stores.rho_spent("dv1", "org:org-a") == pytest.approx(0.125 * released)
    assert stores.rho_spent("dv1", "global") == pytest.approx(0.125 * released)
    assert stores.rho_spent("dv1", "org:org-a") <= 0.5 + 1e-12


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


def test_concurrent_releases_of_a_differencing_pair_cannot_both_be_stored():
    """Both requests pass the guard (neither sees the other's set); the atomic apply refuses the second."""
    from disclosure.table import AggregateTable, Cell

    def total(persons: BitMap) -> AggregateTable:
        return AggregateTable("cohort_count", "t", (), (Cell((), len(persons), persons),), frozenset({"lpr"}))

    stores = InMemoryStores()
    first = protect([total(BitMap(range(1, 301)))], Policy.default(), context(), stores)
    second = protect([total(BitMap(range(3, 301)))], Policy.default(), context("org-b"), stores)
    assert first.tables[0].rows[0].value == 300 and second.tables[0].rows[0].value == 298
    stores.apply("dv1", first.changes)
    with pytest.raises(ReleaseRefused):
        stores.apply("dv1", second.changes)
    assert [len(s) for s in stores.sets_with_size_between("dv1", "global", 0, 10**6)] == [300]


def test_concurrent_noise_draws_for_one_cell_cannot_both_be_released():
    stores = InMemoryStores()
    table = breakdown(500)
    answers = set()
    changes = []
    for _ in range(6):  # computed "at the same time": none sees the others' draws
        release = protect([table], GAUSSIAN, context(), stores)
        answers.add(tuple(row.value for row in release.tables[0].rows))
        changes.append(release.changes)
    assert len(answers) > 1  # fresh draws differ, which is why only one may be stored
    stores.apply("dv1", changes[0])
    refused = 0
    for change in changes[1:]:
        try:
            stores.apply("dv1", change)
        except ReleaseRefused:
            refused += 1
    assert refused >= 1
    assert all(stores.get("dv1", key) == value for key, value in changes[0].noise_draws)


def test_large_losses_are_noted_in_the_report():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = Policy(
            differential_privacy=DifferentialPrivacy(mechanism="discrete_laplace", rho=None, epsilon=1.9)
        )
    release = protect([breakdown()], loose, context(), InMemoryStores())
    assert any("large" in note for note in release.report.customer_view()["notes"])
