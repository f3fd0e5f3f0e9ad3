"""Attack 4 (marginal / LP recovery) and 6 (breakdown combination) against the real pipeline."""

from __future__ import annotations

import polars as pl
import pytest

from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from tests.attacks.attacker import Attacker
from tests.disclosure.tables import crosstab, synthetic_persons

SECRET = b"attack-suite-secret-of-32-bytes!"


def context(org: str = "org-a") -> ReleaseContext:
    return ReleaseContext("dv1", org, SECRET)


def test_reference_two_by_two_cannot_be_recovered_by_subtraction():
    rows = [("M", "North")] * 3 + [("M", "South")] * 12 + [("F", "North")] * 8 + [("F", "South")] * 10
    frame = pl.DataFrame(
        {"pnr": list(range(1, len(rows) + 1)), "sex": [r[0] for r in rows], "region": [r[1] for r in rows]},
        schema={"pnr": pl.UInt32, "sex": pl.String, "region": pl.String},
    )
    release = protect([crosstab(frame, ["sex", "region"])], Policy.default(), context(), InMemoryStores())
    attacker = Attacker()
    attacker.learn(release.tables[0])
    assert attacker.hidden
    assert attacker.breaches() == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_way_table_with_all_margins_resists_integer_programming(seed):
    persons = synthetic_persons(350, seed=seed)
    table = crosstab(persons, ["sex", "region", "age_band"])
    release = protect([table], Policy.default(), context(), InMemoryStores())
    attacker = Attacker()
    attacker.learn(release.tables[0])
    assert attacker.hidden
    assert attacker.breaches() == {}


def test_sex_region_and_sex_by_region_of_one_cohort_in_one_request():
    persons = synthetic_persons(160, seed=9)
    tables = [
        crosstab(persons, ["sex"], title="by sex"),
        crosstab(persons, ["region"], title="by region"),
        crosstab(persons, ["sex", "region"], title="by sex and region"),
    ]
    release = protect(tables, Policy.default(), context(), InMemoryStores())
    attacker = Attacker()
    for table in release.tables:
        attacker.learn(table)
    assert attacker.hidden
    assert attacker.breaches() == {}


def test_breakdowns_released_at_different_times_are_audited_together():
    """The customer asks for sex × region first, then region, then sex: each release alone is
    safe, and together (linked through identical person sets) they must stay safe."""
    persons = synthetic_persons(160, seed=9)
    stores = InMemoryStores()
    attacker = Attacker()
    for dims in (["sex", "region"], ["region"], ["sex"]):
        release = protect([crosstab(persons, dims)], Policy.default(), context(), stores)
        stores.apply("dv1", release.changes)
        attacker.learn(release.tables[0])
    assert attacker.hidden
    assert attacker.breaches() == {}


def test_overlapping_two_way_tables_at_different_times_resist_the_latent_three_way_attack():
    """sex × region, region × age, sex × age of one cohort, weeks apart. The attacker treats the
    unreleased sex × region × age table as unknown non-negative integers behind all three."""
    persons = synthetic_persons(400, seed=4)
    stores = InMemoryStores()
    attacker = Attacker()
    for dims in (["sex", "region"], ["region", "age_band"], ["sex", "age_band"]):
        release = protect([crosstab(persons, dims)], Policy.default(), context(), stores)
        stores.apply("dv1", release.changes)
        attacker.learn(release.tables[0])
    attacker.add_latent_cross_classification(
        {name: sorted(persons[name].unique().to_list()) for name in ("sex", "region", "age_band")}
    )
    assert attacker.hidden
    assert attacker.breaches() == {}


def test_another_organisation_gets_a_pattern_that_is_safe_with_the_first_ones_release():
    """Two organisations who pool their releases (collusion) are audited through the global scope."""
    persons = synthetic_persons(160, seed=12)
    stores = InMemoryStores()
    attacker = Attacker()
    for org, dims in (("org-a", ["sex", "region"]), ("org-b", ["region"]), ("org-c", ["sex"])):
        release = protect([crosstab(persons, dims)], Policy.default(), context(org), stores)
        stores.apply("dv1", release.changes)
        attacker.learn(release.tables[0])
    assert attacker.breaches() == {}


def test_the_attacker_does_recover_a_table_protected_by_primary_suppression_only():
    """Control: the attack works when secondary suppression is missing (so passing above means something)."""
    from disclosure.release import ProtectedRow, ProtectedTable

    values = {("M", "North"): 3, ("M", "South"): 12, ("F", "North"): 8, ("F", "South"): 10}
    values |= {("M", None): 15, ("F", None): 18, (None, "North"): 11, (None, "South"): 22, (None, None): 33}
    rows = tuple(
        ProtectedRow(coords, None if value < 5 else value, value < 5) for coords, value in values.items()
    )
    table = ProtectedTable("cohort_count", "t", ("sex", "region"), (("F", "M"), ("North", "South")), rows)
    attacker = Attacker()
    attacker.learn(table)
    key = Attacker.key(table, ("M", "North"))
    assert attacker.breaches() == {key: (3, 3)}
