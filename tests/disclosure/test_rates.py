"""Rates with person-years and exact Poisson intervals, from released numbers only."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from disclosure import derived
from disclosure.pipeline import protect
from disclosure.policy import PERSON_YEARS_ROUNDING, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.table import AggregateTable, Cell, Dimension
from tests.disclosure.tables import declared_derived_columns

SECRET = b"rates-test-secret-of-32-bytes!!!"


@pytest.mark.parametrize(
    ("count", "lower", "upper"),
    # Garwood's exact 95 % limits as tabulated (e.g. Ulm 1990; Sahai & Khurshid 1993)
    [
        (0, 0.0, 3.6889),
        (1, 0.0253, 5.5716),
        (5, 1.6235, 11.6683),
        (10, 4.7954, 18.3904),
        (100, 81.3640, 121.6268),
    ],
)
def test_poisson_interval_is_the_exact_garwood_interval(count, lower, upper):
    low, high = derived.poisson_interval(count)
    assert low == pytest.approx(lower, abs=5e-5)
    assert high == pytest.approx(upper, abs=5e-5)


def test_the_interval_is_the_chi_square_form_too():
    from scipy.stats import chi2

    for count in (1, 7, 250):
        low, high = derived.poisson_interval(count)
        assert low == pytest.approx(chi2.ppf(0.025, 2 * count) / 2)
        assert high == pytest.approx(chi2.ppf(0.975, 2 * count + 2) / 2)


def test_the_interval_covers_the_mean_as_often_as_it_says():
    """Exact intervals are conservative: for any true mean, at least 95 % of counts' intervals hold it."""
    from scipy.stats import poisson

    for mean in (0.5, 3.0, 12.0, 40.0):
        coverage = sum(
            poisson.pmf(k, mean)
            for k in range(0, int(mean * 4 + 30))
            if derived.poisson_interval(k)[0] <= mean <= derived.poisson_interval(k)[1]
        )
        assert coverage >= 0.95


@settings(max_examples=300, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=100_000),
    person_years=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
)
def test_the_interval_contains_the_released_rate(count, person_years):
    columns = derived.rate_columns(count, person_years, derived.PERSON_TIME_COLUMNS)
    rate = columns[derived.RATE_PER_1000_PERSON_YEARS]
    if rate is None:  # person-time rounding to none: nothing at all
        assert person_years < PERSON_YEARS_ROUNDING / 2 + 1e-9
        assert set(columns.values()) == {None}
        return
    assert columns[derived.RATE_LOWER] <= rate <= columns[derived.RATE_UPPER]
    assert columns[derived.PERSON_YEARS] % PERSON_YEARS_ROUNDING == 0


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=10_000),
    person_years=st.floats(min_value=60.0, max_value=1e6, allow_nan=False),
    within=st.floats(min_value=-0.49, max_value=0.49),
)
def test_rate_interval_and_person_years_depend_only_on_the_released_numbers(count, person_years, within):
    """Person-time that rounds alike gives the same columns: the exact person-time (which would show
    how many cases left) is not in them."""
    rounded = PERSON_YEARS_ROUNDING * round(person_years / PERSON_YEARS_ROUNDING)
    other = rounded + within * PERSON_YEARS_ROUNDING
    assert derived.rate_columns(count, person_years, derived.PERSON_TIME_COLUMNS) == derived.rate_columns(
        count, other, derived.PERSON_TIME_COLUMNS
    )


def test_a_hidden_count_has_no_rate_interval_or_person_years():
    assert set(derived.rate_columns(None, 12_345.0, derived.PERSON_TIME_COLUMNS).values()) == {None}


def incidence_table(counts: dict[int, int], person_years: float = 10_000.0) -> AggregateTable:
    years = tuple(sorted(counts))
    cells = []
    for year in years:
        persons = BitMap(range(year * 1000, year * 1000 + counts[year]))
        cells.append(Cell((year, "incident"), counts[year], persons, {"person_years_at_risk": person_years}))
    return AggregateTable(
        kind="incidence_prevalence",
        title="incidence",
        dimensions=(
            Dimension("year", years, has_total=False),
            Dimension("measure", ("incident",), has_total=False),
        ),
        cells=tuple(cells),
        registers=frozenset({"lpr"}),
        max_cells_per_person=1,
        ordered_dimension="year",
        derived_columns=declared_derived_columns("incidence_prevalence"),
    )


def release_rows(table: AggregateTable, **options):
    release = protect(
        [table], Policy.default(), ReleaseContext("dv", "org", SECRET, **options), InMemoryStores()
    )
    return {row.coordinates[0]: row for row in release.tables[0].rows}


def test_released_rates_come_from_the_rounded_count_and_person_years():
    rows = release_rows(incidence_table({2019: 42, 2020: 3}, person_years=12_345.6), rounding_base=5)
    row = rows[2019]
    assert row.value == 40  # 42 rounded to 5
    low, high = derived.poisson_interval(40)
    assert row.derived == {
        "rate_per_1000_person_years": round(1000 * 40 / 12_300, 2),
        "rate_per_1000_person_years_lower": pytest.approx(1000 * low / 12_300, abs=0.01),
        "rate_per_1000_person_years_upper": pytest.approx(1000 * high / 12_300, abs=0.01),
        "person_years": 12_300.0,
    }
    assert rows[2020].suppressed
    assert set(rows[2020].derived.values()) == {None}


@pytest.mark.parametrize("hidden_count", [1, 2, 3, 4])
def test_a_suppressed_cells_count_cannot_be_read_from_what_is_released(hidden_count):
    """Whatever 1..4 persons the hidden cell holds, the release is the same, derived columns included."""
    reference = release_rows(incidence_table({2019: 42, 2020: 1, 2021: 57}))
    rows = release_rows(incidence_table({2019: 42, 2020: hidden_count, 2021: 57}))
    assert {year: (row.value, row.derived) for year, row in rows.items()} == {
        year: (row.value, row.derived) for year, row in reference.items()
    }
    assert rows[2020].suppressed
