"""The magnitude rules (``disclosure.magnitude``) on their own and through ``protect``."""

from __future__ import annotations

import math
import statistics

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from disclosure import magnitude
from disclosure.magnitude import (
    MEAN,
    MEDIAN,
    Q1,
    Q3,
    SD,
    SMD,
    NoiseKey,
    dominated,
    released_quantile,
    secondary_hidden,
    smd_binary,
    smd_continuous,
    summarise,
)
from disclosure.pipeline import protect
from disclosure.policy import DifferentialPrivacy, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.tables import table_one_tables

SECRET = b"magnitude-tests-secret-32-bytes!"
K = 5


def release(tables, privacy: DifferentialPrivacy | None = None, stores=None):
    context = ReleaseContext("dv1", "org-a", SECRET, differential_privacy=privacy)
    return protect(tables, Policy.default(), context, stores or InMemoryStores())


def rows(release_, table: int = 1) -> dict:
    return {row.coordinates: row for row in release_.tables[table].rows}


# --- primary rules ----------------------------------------------------------------------------------


def test_dominance_follows_the_reference_examples():
    # (2, 85): 100 + 30 of 138 is 94 %; p % with p = 10: 138 - 100 - 30 = 8 < 10
    assert dominated([100, 30, 5, 3])
    assert dominated([100, 5, 4, 3, 2, 1])  # the largest alone is 87 % of the total
    assert not dominated([52, 48, 61, 55, 47, 70])
    # p % rule alone: the two largest are 80 % of the sum, but the rest is under 10 % of the largest
    assert dominated([50, 30, 1, 1, 1, 1, 1, 1, 1, 1])


def test_a_mean_needs_k_persons_and_a_released_count():
    assert summarise([50.0, 60.0, 70.0, 65.0], K)[MEAN] is None
    assert summarise([50.0, 60.0, 70.0, 65.0, 55.0], K)[MEAN] == 60.0
    assert summarise([50.0, 60.0, 70.0, 65.0, 55.0], K, count_released=False) == dict.fromkeys(
        magnitude.VALUE_COLUMNS
    )


def test_everyone_with_the_same_value_hides_the_mean():
    assert summarise([67.0] * 12, K)[MEAN] is None
    assert summarise([67.0] * 12, K)[SD] is None


def test_a_quantile_needs_2k_persons_and_k_strictly_on_each_side():
    assert released_quantile(sorted(range(9)), 0.5, K) is None  # under 2k
    # the median 4.5 of 0..9 is coarsened to 4 (half to even): 4 persons below, not released
    assert released_quantile([float(v) for v in range(10)], 0.5, K) is None
    assert released_quantile([float(v) for v in range(11)], 0.5, K) == 5.0
    ties = [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 9.0, 10.0, 11.0]
    # the median is 5; only 4 persons lie strictly below it
    assert released_quantile(ties, 0.5, K) is None
    values = [float(v) for v in range(40, 80)]
    for probability in (0.25, 0.5, 0.75):
        q = released_quantile(values, probability, K)
        assert q is not None and q == round(q)
        assert sum(v < q for v in values) >= K and sum(v > q for v in values) >= K


def test_the_mean_and_sd_are_the_usual_ones_rounded():
    values = [41.0, 47.5, 52.0, 58.25, 61.0, 66.0, 70.5, 72.0, 80.0, 83.0]
    out = summarise(values, K)
    assert out[MEAN] == round(statistics.mean(values), 1)
    assert out[SD] == round(statistics.stdev(values), 1)
    # 2k persons; the median 63.5 is coarsened to 64, with 5 persons below and 5 above it
    assert out[MEDIAN] == 64.0
    # the quartiles (53.6 and 71.6) would have fewer than k on one side
    assert out[Q1] is None and out[Q3] is None


def test_keyed_noise_depends_on_the_persons_not_on_the_request():
    values = [float(v) for v in range(30, 90)]
    persons = BitMap(range(100, 160))
    key = NoiseKey(SECRET, "dv1", "age")
    first = summarise(values, K, noise=key, persons=persons)[MEAN]
    assert first == summarise(values, K, noise=key, persons=BitMap(persons))[MEAN]
    other = BitMap(range(101, 161))
    draws = {summarise(values, K, noise=key, persons=p)[MEAN] for p in (persons, other)}
    assert len(draws) == 2
    # half a standard error: about 0.5 * 17.5 / sqrt(60) = 1.1 years
    assert abs(first - statistics.mean(values)) < 6 * 0.5 * statistics.stdev(values) / math.sqrt(60)


# --- secondary protection -----------------------------------------------------------------------------


def test_no_line_keeps_exactly_one_hidden_mean():
    line = (("age", None), (("age", "a"), ("age", "b"), ("age", "c")))
    size = {("age", None): 60, ("age", "a"): 30, ("age", "b"): 20, ("age", "c"): 10}
    hidden = secondary_hidden([line], {("age", "a")}, size)
    assert hidden == {("age", "a"), ("age", "c")}  # the smallest other stratum
    assert secondary_hidden([line], set(), size) == set()
    # a hidden margin needs a hidden category too
    assert len(secondary_hidden([line], {("age", None)}, size)) == 2


# --- through protect ----------------------------------------------------------------------------------


def ages(first: int, n: int, start: float = 40.0, step: float = 1.0) -> dict[int, float]:
    return {first + i: start + step * i for i in range(n)}


def test_a_table_one_release_shows_percentages_means_quartiles_and_smds_from_released_numbers():
    exposed, unexposed = ages(1, 30, 50.0), ages(1001, 40, 40.0)
    tables = table_one_tables(
        {"exposed": exposed, "unexposed": unexposed},
        binary={"women": [*range(1, 16), *range(1001, 1011)]},
    )
    out = release(tables)
    table = rows(out)
    assert out.tables[1].derived_columns == ("percent", *magnitude.MAGNITUDE_COLUMNS)
    assert table[("women", "exposed")].derived["percent"] == 50.0
    assert table[("women", "unexposed")].derived["percent"] == 25.0
    assert table[("women", None)].derived["percent"] == round(100 * 25 / 70, 1)
    assert table[("age", "exposed")].derived[MEAN] == round(statistics.mean(exposed.values()), 1)
    assert table[("age", "exposed")].derived[SD] == round(statistics.stdev(exposed.values()), 1)
    for coordinates in (("age", "exposed"), ("age", "unexposed"), ("age", None)):
        for name in (Q1, MEDIAN, Q3):
            assert table[coordinates].derived[name] is not None
    # SMDs from what was released
    e, u = table[("age", "exposed")].derived, table[("age", "unexposed")].derived
    assert table[("age", None)].derived[SMD] == smd_continuous(e[MEAN], e[SD], u[MEAN], u[SD])
    assert table[("women", None)].derived[SMD] == smd_binary(50.0, 25.0)
    assert table[("age", "exposed")].derived[SMD] is None


def test_a_suppressed_stratum_hides_its_mean_and_one_more():
    tables = table_one_tables({"a": ages(1, 3), "b": ages(100, 30), "c": ages(200, 12)})
    table = rows(release(tables))
    assert table[("age", "a")].value is None and table[("age", "a")].derived[MEAN] is None
    hidden = [c for c, row in table.items() if row.derived[MEAN] is None]
    assert len(hidden) >= 2


def test_a_dominated_stratum_hides_its_mean_and_a_second_one():
    # CRP: one person with 300 among eleven with 2
    crp = {1: 300.0, **{i: 2.0 for i in range(2, 13)}}
    tables = table_one_tables({"a": crp, "b": ages(100, 30, 1.0, 0.5), "c": ages(200, 40, 2.0, 0.25)})
    table = rows(release(tables))
    assert table[("age", "a")].value == 12  # the count is safe
    assert table[("age", "a")].derived[MEAN] is None
    others = [table[("age", c)].derived[MEAN] for c in ("b", "c", None)]
    assert others.count(None) == 1


def test_noise_on_the_release_moves_means_by_a_keyed_amount():
    tables = table_one_tables({"a": ages(1, 60, 30.0), "b": ages(100, 60, 35.0)})
    first = rows(release(tables, DifferentialPrivacy()))
    second = rows(release(tables, DifferentialPrivacy()))
    assert first[("age", "a")].derived[MEAN] == second[("age", "a")].derived[MEAN]
    exact = rows(release(tables))
    assert any(
        first[c].derived[MEAN] != exact[c].derived[MEAN] for c in first if first[c].derived[MEAN] is not None
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(0, 25), min_size=2, max_size=3),
    values=st.lists(st.floats(0, 200, allow_nan=False), min_size=80, max_size=80),
    outlier=st.booleans(),
)
def test_no_released_magnitude_rests_on_fewer_than_k_persons(sizes, values, outlier):
    strata, start = {}, 1
    for s, size in enumerate(sizes):
        strata[f"s{s}"] = {start + i: values[(start + i) % len(values)] for i in range(size)}
        start += size
    if outlier and strata["s0"]:
        strata["s0"][1] = 10_000.0
    if not any(strata.values()):
        return
    tables = table_one_tables(strata)
    out = release(tables)
    table, cells = rows(out), {cell.coordinates: cell for cell in tables[1].cells}
    hidden = set()
    for coordinates, row in table.items():
        own = sorted(cells[coordinates].values) if coordinates in cells else []
        if row.derived[MEAN] is None:
            hidden.add(coordinates)
        else:
            assert row.value is not None and len(own) >= K
            assert not dominated(own)
        for name in (Q1, MEDIAN, Q3):
            q = row.derived[name]
            if q is not None:
                assert len(own) >= 2 * K
                assert sum(v < q for v in own) >= K and sum(v > q for v in own) >= K
        for name in magnitude.MAGNITUDE_COLUMNS:
            assert row.derived[name] not in (min(own, default=None), max(own, default=None)) or (
                row.derived[name] is None
            )
    # never exactly one hidden mean on the line: the sum would follow by subtraction
    line = [("age", name) for name in (*strata, None)]
    assert sum(c in hidden for c in line) != 1
