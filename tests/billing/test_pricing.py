"""The price list and the price of a query shape."""

import tomllib
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import InvalidBillingInput, NotFound, UnknownSegment
from billing.money import format_dkk, to_ore, vat_on
from billing.pricing import (
    COMPONENT_KINDS,
    PricedShape,
    PriceList,
    QuotePricePublic,
    ReleaseOutcome,
    release_outcome,
)
from queries.registry import RESULT_KINDS as REGISTERED_KINDS

# billing imports nothing of ours: the kinds a price list prices are checked against the registry
RESULT_KINDS = tuple(REGISTERED_KINDS)

PRICE_LIST_FILE = Path(__file__).resolve().parents[2] / "billing" / "data" / "pricelist-2026-1.toml"


def test_loads_newest_version_by_default():
    price_list = PriceList.load()
    assert price_list.version == "2026-4"
    assert PriceList.available_versions() == ["2026-1", "2026-2", "2026-3", "2026-4"]
    assert price_list.effective_from == date(2026, 12, 7)
    assert price_list.quote_validity_days == 28
    assert set(price_list.result_kinds) == set(RESULT_KINDS)
    assert {"public_research", "private_company", "start_up"} <= set(price_list.segments)


def test_price_list_in_force_is_chosen_by_date():
    assert PriceList.in_force_on(date(2026, 1, 1)).version == "2026-1"
    assert PriceList.in_force_on(date(2030, 6, 1)).version == PriceList.available_versions()[-1]
    with pytest.raises(NotFound):
        PriceList.in_force_on(date(2025, 12, 31))


def test_unknown_version_is_not_found():
    with pytest.raises(NotFound) as caught:
        PriceList.load("1999-1")
    assert caught.value.http_status == 404


def test_private_company_hourly_rate_follows_statistics_denmark():
    assert PriceList.load().hourly_rate("private_company") == Decimal("2299.00")


def test_worked_example_incidence_with_dp_for_public_research():
    # 3200 base + 3 × 350 registers + 1400 (≤500 cells) + 800 DP = 6450; × 0.55 = 3547.50
    quote = PriceList.load().quote(PricedShape("incidence_prevalence", 3, 120, True), "public_research")
    assert quote.list_price == Decimal("6450.00")
    assert quote.net_amount == Decimal("3547.50")
    assert quote.vat_amount == Decimal("886.88")  # 886.875 rounds half up
    assert quote.gross_amount == Decimal("4434.38")
    assert [component.amount for component in quote.components] == [
        Decimal("3200.00"),
        Decimal("1050.00"),
        Decimal("1400.00"),
        Decimal("800.00"),
    ]


def test_quote_serialises_for_the_api_with_exact_amounts():
    quote = PriceList.load().quote(PricedShape("treatment_uptake", 4, 600, False), "start_up")
    public = QuotePricePublic.model_validate(quote).model_dump(mode="json")
    assert public["net_amount"] == str(quote.net_amount)
    assert public["currency"] == "DKK"
    assert [component["amount"] for component in public["components"]] == ["2800.00", "1400.00", "3500.00"]


def test_cell_band_boundaries_are_inclusive():
    price_list = PriceList.load()
    at_limit = price_list.quote(PricedShape("cohort_count", 1, 50, False), "private_company")
    over_limit = price_list.quote(PricedShape("cohort_count", 1, 51, False), "private_company")
    assert at_limit.net_amount == Decimal("900.00") + Decimal("250.00") + Decimal("300.00")
    assert over_limit.net_amount - at_limit.net_amount == Decimal("600.00")


def test_table_larger_than_every_band_must_be_ordered_as_bespoke_work():
    with pytest.raises(InvalidBillingInput, match="bespoke"):
        PriceList.load().quote(PricedShape("cohort_count", 2, 5001, False), "private_company")


@pytest.mark.parametrize(
    "shape",
    [
        PricedShape("mortality_curve", 1, 10, False),
        PricedShape("cohort_count", 0, 10, False),
        PricedShape("cohort_count", 1, 0, False),
    ],
)
def test_invalid_shapes_are_422(shape):
    with pytest.raises(InvalidBillingInput) as caught:
        PriceList.load().quote(shape, "private_company")
    assert caught.value.http_status == 422


def test_unknown_segment_lists_the_known_ones():
    with pytest.raises(UnknownSegment) as caught:
        PriceList.load().quote(PricedShape("cohort_count", 1, 1, False), "oil_baron")
    assert "public_research" in caught.value.known
    assert caught.value.http_status == 422


def test_rejects_float_amounts_and_sub_ore_amounts_in_toml():
    text = PRICE_LIST_FILE.read_text()
    with pytest.raises(InvalidBillingInput, match="decimal string"):
        PriceList.from_toml(text.replace('base_fee = "900.00"', "base_fee = 900.0"))
    with pytest.raises(InvalidBillingInput, match="whole øre"):
        PriceList.from_toml(text.replace('base_fee = "900.00"', 'base_fee = "900.005"'))
    with pytest.raises(InvalidBillingInput, match="ascending"):
        PriceList.from_toml(
            text.replace('{ max_cells = 50, fee = "300.00" }', '{ max_cells = 1, fee = "1" }')
        )


shapes = st.builds(
    PricedShape,
    result_kind=st.sampled_from(RESULT_KINDS),
    registers=st.integers(min_value=1, max_value=12),
    # below every kind's largest band (attrition's, 1000 cells), so cells + 1 is still priced
    cells=st.integers(min_value=1, max_value=999),
    differential_privacy=st.booleans(),
)
segments = st.sampled_from(sorted(PriceList.load().segments))


def test_2026_4_prices_time_to_event_and_keeps_every_price_of_2026_3():
    old, new = PriceList.load("2026-3"), PriceList.load("2026-4")
    assert "time_to_event" not in old.result_kinds and "time_to_event" in new.result_kinds
    assert new.reduced_price_rules == old.reduced_price_rules
    for kind in old.result_kinds:
        for segment in old.segments:
            for cells in (1, 20, 50, 400):
                shape = PricedShape(kind, 2, cells, cells % 20 == 0)
                assert old.quote(shape, segment).net_amount == new.quote(shape, segment).net_amount
    with pytest.raises(InvalidBillingInput, match="not priced in price list 2026-3"):
        old.quote(PricedShape("time_to_event", 2, 40, False), "public_research")
    assert new.quote(PricedShape("time_to_event", 2, 40, False), "public_research").net_amount > 0


@given(shape=shapes, segment=segments)
def test_price_is_list_price_times_multiplier_rounded_once(shape, segment):
    price_list = PriceList.load()
    quote = price_list.quote(shape, segment)
    assert quote.list_price == sum(component.amount for component in quote.components)
    assert quote.net_amount == to_ore(quote.list_price * price_list.segment(segment).multiplier)
    assert quote.net_amount.as_tuple().exponent == -2
    assert quote.gross_amount == quote.net_amount + vat_on(quote.net_amount)


@given(shape=shapes, segment=segments)
def test_price_grows_with_registers_cells_and_dp(shape, segment):
    price_list = PriceList.load()
    base = price_list.quote(shape, segment).net_amount
    assert price_list.quote(replace(shape, registers=shape.registers + 1), segment).net_amount > base
    assert price_list.quote(replace(shape, cells=shape.cells + 1), segment).net_amount >= base
    if not shape.differential_privacy:
        assert price_list.quote(replace(shape, differential_privacy=True), segment).net_amount > base


@given(shape=shapes)
def test_private_company_pays_at_least_every_other_segment(shape):
    price_list = PriceList.load()
    private = price_list.quote(shape, "private_company").net_amount
    assert all(price_list.quote(shape, name).net_amount <= private for name in price_list.segments)


@pytest.mark.parametrize(
    ("net", "vat"),
    [
        (Decimal("0.02"), Decimal("0.01")),  # 0.005 rounds half up
        (Decimal("0.01"), Decimal("0.00")),  # 0.0025 rounds down
        (Decimal("0.06"), Decimal("0.02")),  # 0.015 rounds half up (not to even)
        (Decimal("3547.50"), Decimal("886.88")),
        (Decimal("1000000.00"), Decimal("250000.00")),
    ],
)
def test_vat_is_rounded_half_up_to_ore(net, vat):
    assert vat_on(net) == vat


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_vat_is_within_half_an_ore_of_exact(net):
    exact = net * Decimal("0.25")
    assert abs(vat_on(net) - exact) <= Decimal("0.005")
    assert vat_on(net).as_tuple().exponent == -2


def test_danish_amount_formatting():
    assert format_dkk(Decimal("1234567.5")) == "1.234.567,50"
    assert format_dkk(Decimal("0.005")) == "0,01"


# --- reduced prices (price list 2026-2) -----------------------------------------------------------

FULLY_SUPPRESSED, TOTAL_ONLY, FULL = (
    ReleaseOutcome.FULLY_SUPPRESSED,
    ReleaseOutcome.TOTAL_ONLY,
    ReleaseOutcome.FULL,
)


def test_reduced_prices_worked_example_for_public_research():
    # full: 900 base + 2 × 250 registers + 300 (≤50 cells) + 400 DP = 2100; × 0.55 = 1155.00
    quote = PriceList.load().quote(PricedShape("cohort_count", 2, 3, True), "public_research")
    assert quote.net_amount == Decimal("1155.00")
    fully = quote.reduced_for(FULLY_SUPPRESSED)
    assert (fully.label, fully.list_price, fully.net_amount) == (
        "fully suppressed: base fee only",
        Decimal("900.00"),
        Decimal("495.00"),
    )
    assert fully.gross_amount == Decimal("495.00") + vat_on(Decimal("495.00"))
    total = quote.reduced_for(TOTAL_ONLY)  # everything but the table size fee: 1800 × 0.55
    assert (total.list_price, total.net_amount) == (Decimal("1800.00"), Decimal("990.00"))
    assert [c.kind for c in total.components] == ["base_fee", "registers", "differential_privacy"]
    assert quote.net_amount_for(FULL) == quote.net_amount and quote.reduced_for(FULL) is None
    assert quote.net_amount_for(FULLY_SUPPRESSED) == Decimal("495.00")
    public = QuotePricePublic.model_validate(quote).model_dump(mode="json")
    assert {r["outcome"]: r["net_amount"] for r in public["reduced_prices"]} == {
        "fully_suppressed": "495.00",
        "total_only": "990.00",
    }


def test_2026_2_keeps_every_full_price_of_2026_1_and_2026_1_states_no_reduction():
    old, new = PriceList.load("2026-1"), PriceList.load("2026-2")
    assert old.reduced_price_rules == ()
    for kind in old.result_kinds:
        for segment in old.segments:
            for cells in (1, 20, 50, 400):
                shape = PricedShape(kind, 2, cells, cells % 20 == 0)
                before, after = old.quote(shape, segment), new.quote(shape, segment)
                assert before.net_amount == after.net_amount
                # a list that predates reduced prices charges its full price whatever the release shows
                assert before.reduced_prices == ()
                assert before.net_amount_for(FULLY_SUPPRESSED) == before.net_amount
                assert before.net_amount_for(TOTAL_ONLY) == before.net_amount


def test_2026_3_adds_table_one_and_keeps_every_price_of_2026_2():
    old, new = PriceList.load("2026-2"), PriceList.load("2026-3")
    assert set(new.result_kinds) - set(old.result_kinds) == {"table_one"}
    assert PriceList.in_force_on(new.effective_from).version == "2026-4"  # both from 7 December: the later
    assert new.reduced_price_rules == old.reduced_price_rules
    for kind in old.result_kinds:
        for segment in old.segments:
            for cells in (1, 20, 50, 400):
                shape = PricedShape(kind, 2, cells, cells % 20 == 0)
                assert old.quote(shape, segment).net_amount == new.quote(shape, segment).net_amount
    with pytest.raises(InvalidBillingInput):  # older lists stay valid, without the new kind
        old.quote(PricedShape("table_one", 2, 20, False), "private_company")
    assert new.quote(PricedShape("table_one", 2, 20, False), "private_company").net_amount > 0


@given(
    kind=st.sampled_from(RESULT_KINDS),
    registers=st.integers(1, 12),
    cells=st.integers(1, 1000),
    dp=st.booleans(),
    segment=st.sampled_from(
        ["private_company", "start_up", "public_research", "public_authority", "student"]
    ),
)
def test_a_reduced_price_is_never_dearer_and_is_the_sum_of_its_components(
    kind, registers, cells, dp, segment
):
    price_list = PriceList.load()
    shape = PricedShape(kind, registers, cells, dp)
    try:
        quote = price_list.quote(shape, segment)
    except InvalidBillingInput:  # larger than the kind's largest band: bespoke work
        return
    assert {r.outcome for r in quote.reduced_prices} == {FULLY_SUPPRESSED, TOTAL_ONLY}
    fully, total = quote.net_amount_for(FULLY_SUPPRESSED), quote.net_amount_for(TOTAL_ONLY)
    assert fully <= total <= quote.net_amount
    for reduced in quote.reduced_prices:
        assert reduced.list_price == sum(c.amount for c in reduced.components)
        assert reduced.net_amount == to_ore(reduced.list_price * quote.multiplier)
        assert set(reduced.components) <= set(quote.components)


def _with_reduced_prices(rules):
    raw = tomllib.loads(PRICE_LIST_FILE.read_text())
    return {**raw, "reduced_prices": rules}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"full": {"label": "x", "applies_when": "y", "charge": []}}, "unknown outcome"),
        ({"partly_suppressed": {"label": "x", "applies_when": "y", "charge": []}}, "unknown outcome"),
        ({"total_only": {"label": "x", "applies_when": "y", "charge": ["rebate"]}}, "charge must list"),
        ({"total_only": {"label": "x", "applies_when": "y", "charge": "base_fee"}}, "charge must list"),
        ({"total_only": {"applies_when": "y", "charge": ["base_fee"]}}, "lacks 'label'"),
        ({"total_only": {"label": " ", "applies_when": "y", "charge": ["base_fee"]}}, "label"),
        ("base fee only", "table of outcomes"),
    ],
)
def test_invalid_reduced_price_rules_are_refused_naming_the_field(rules, message):
    with pytest.raises(InvalidBillingInput, match=message) as caught:
        PriceList.from_mapping(_with_reduced_prices(rules))
    assert "reduced_prices" in caught.value.message
    assert caught.value.http_status == 422


def test_component_kinds_cover_every_component_of_a_quote():
    quote = PriceList.load().quote(PricedShape("characteristics", 3, 60, True), "student")
    assert [c.kind for c in quote.components] == list(COMPONENT_KINDS)


@pytest.mark.parametrize(
    ("pattern", "outcome"),
    [
        # per table, per cell: (is grand total, suppressed)
        ([[(False, True), (False, True), (True, True)]], FULLY_SUPPRESSED),
        ([[(False, True), (False, True), (True, False)]], TOTAL_ONLY),
        ([[(False, False), (False, True), (True, True)]], FULL),
        ([[(False, False), (False, False), (True, False)]], FULL),
        ([[(True, False)]], FULL),  # the query asked for the total only: nothing was held back
        ([[(True, True)]], FULLY_SUPPRESSED),
        # two tables (flags and the cohort total): only the totals shown
        ([[(False, True), (True, True)], [(True, False)]], TOTAL_ONLY),
        ([[(False, True), (True, False)], [(True, False)]], TOTAL_ONLY),
        ([[(False, False), (True, True)], [(True, False)]], FULL),
        ([[(False, True), (True, True)], [(True, True)]], FULLY_SUPPRESSED),
    ],
)
def test_release_outcome_depends_only_on_the_published_pattern(pattern, outcome):
    assert release_outcome(pattern) == outcome


def test_a_release_without_cells_has_no_outcome():
    with pytest.raises(InvalidBillingInput):
        release_outcome([[]])
