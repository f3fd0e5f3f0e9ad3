"""The padded-breakdown attack through the real engine and the real service.

A cohort is padded with a common code only men can have (prostate cancer) and asked once as a total
and once by sex: the women's cell holds exactly the women with the rare code. If which cells are
hidden (or the report's notes) differed between a women's cell of 0 and one of 1..k-1, the release
would tell whether any woman in that region has the rare code, and narrowing region and period would
place a single person. The same two questions on two fresh histories, one where the women's cell is
0 and one where it is 1..4, must look the same to the customer, exactly, with keyed noise, and at the
data version's exact capacity (the total fits, the breakdown gets the degraded noise).
"""

from __future__ import annotations

import pytest

from disclosure.errors import ReleaseRefused
from disclosure.pipeline import CAPACITY_REACHED, protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores

pytestmark = pytest.mark.slow
SECRET = b"padded-breakdown-secret-32-bytes"
PADDING = ["DC61"]  # prostate cancer: men only, in the synthetic registers as in life
RARE = ["DE139", "DE849", "DG109", "DG122", "DQ909", "DG310", "DC62", "DC43", "DC71", "DC73", "DC40"]
REGIONS = [1081, 1082, 1083, 1084, 1085]


@pytest.fixture(scope="module")
def engine(small_registers):
    from queries.engine import DuckDBEngine

    engine = DuckDBEngine(small_registers)
    yield engine
    engine.close()


def cohort(rare: str, region: int, by_sex: bool, noise: bool) -> dict:
    query: dict = {
        "title": "padded",
        "index": {
            "concept": {"type": "diagnosis", "codes": [*PADDING, rare]},
            "period": {"start": "2010-01-01", "end": "2022-12-31"},
        },
        "population": {"regions": [region]},
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}] if by_sex else []},
    }
    if noise:
        query["disclosure"] = {"noise": "gaussian"}
    return query


def run(engine, payload):
    from queries.validation import validate_query

    return engine.run(validate_query(payload, engine.catalog))


def women_and_men(engine, rare: str, region: int) -> tuple[int, int]:
    (table,) = run(engine, cohort(rare, region, True, False))
    by_sex = {cell.coordinates[0]: cell.count for cell in table.cells if cell.coordinates[0] is not None}
    return by_sex.get("female", 0), by_sex.get("male", 0)


def what_the_customer_sees(engine, rare: str, region: int, mode: str) -> list:
    """Total, then by sex, on a history of its own; the hidden pattern and the notes of each."""
    from disclosure.policy import DifferentialPrivacy

    noise = mode == "keyed-noise"
    # at capacity 1 the total (one cell) is answered exactly and the breakdown with degraded noise
    policy = Policy(exact_history_counts=1) if mode == "capacity" else Policy.default()
    stores = InMemoryStores()
    context = ReleaseContext(
        engine.data_version, "org-a", SECRET, differential_privacy=DifferentialPrivacy() if noise else None
    )
    seen: list = []
    for by_sex in (False, True):
        try:
            release = protect(run(engine, cohort(rare, region, by_sex, noise)), policy, context, stores)
        except ReleaseRefused as refusal:
            seen.append(("refused", refusal.message))
            continue
        stores.apply(engine.data_version, release.changes)
        (table,) = release.tables
        seen.append(
            (
                [(row.coordinates, row.suppressed) for row in table.rows],
                release.report.customer_view().get("notes"),
                release.report.audit.degraded,
            )
        )
    return seen


@pytest.mark.parametrize("mode", ["exact", "keyed-noise", "capacity"])
def test_women_of_zero_and_of_a_few_look_the_same(engine, mode):
    # Both situations in one region, the one with the most men: the men's cell then holds the same
    # men in both, so the keyed noise (one draw per person set) cannot make the two look different by
    # chance (two regions' men of about 30 each differ in their draws, and a draw of -26 hides one).
    by_region: dict[int, dict[str, tuple[str, int]]] = {}
    men_in: dict[int, int] = {}
    for region in REGIONS:
        for rare in RARE:
            women, men = women_and_men(engine, rare, region)
            if men < 30 or women > 4:
                continue
            by_region.setdefault(region, {}).setdefault("zero" if women == 0 else "few", (rare, region))
            men_in[region] = max(men_in.get(region, 0), men)
    both = [region for region, found in by_region.items() if set(found) == {"zero", "few"}]
    assert both, by_region  # the registers hold both situations
    found = by_region[max(both, key=lambda region: men_in[region])]
    seen = {situation: what_the_customer_sees(engine, *found[situation], mode) for situation in found}
    assert seen["zero"] == seen["few"]
    if mode == "capacity":
        assert [outcome[2] for outcome in seen["zero"]] == [None, CAPACITY_REACHED.audit_reason]
