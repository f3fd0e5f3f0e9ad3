"""protect(): policy, primary and secondary suppression, audit, guard, report, state changes."""

from __future__ import annotations

import json

import polars as pl
import pytest
from pyroaring import BitMap

from disclosure.errors import InvalidTable
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.suppression import interval_passes
from disclosure.table import AggregateTable, Cell, Dimension
from tests.disclosure.tables import crosstab, synthetic_persons

SECRET = b"test-secret-of-32-bytes-exactly!"


def context(org: str = "org-a", **options) -> ReleaseContext:
    return ReleaseContext("dv1", org, SECRET, **options)


def persons_from_counts(counts: dict[tuple[str, str], int]) -> pl.DataFrame:
    rows = []
    key = 1
    for (sex, region), n in counts.items():
        for _ in range(n):
            rows.append({"pnr": key, "sex": sex, "region": region})
            key += 1
    return pl.DataFrame(rows, schema={"pnr": pl.UInt32, "sex": pl.String, "region": pl.String})


def reference_two_by_two() -> AggregateTable:
    """The table of the reference §2.2: men/North = 3 must not be recoverable from the margins."""
    frame = persons_from_counts(
        {("M", "North"): 3, ("M", "South"): 12, ("F", "North"): 8, ("F", "South"): 10}
    )
    return crosstab(frame, ["sex", "region"], title="sex by region")


def test_reference_example_hides_a_rectangle_and_keeps_totals():
    release = protect([reference_two_by_two()], Policy.default(), context(), InMemoryStores())
    table = release.tables[0]
    assert table.row("M", "North").suppressed
    hidden = {row.coordinates for row in table.rows if row.suppressed}
    # Hiding the small cell alone, or it and its column partner, is recomputable: a rectangle is needed.
    assert hidden == {("M", "North"), ("M", "South"), ("F", "North"), ("F", "South")}
    assert table.row(None, None).value == 33
    assert table.row("M", None).value == 15
    audit = {tuple(c.coordinates): (c.low, c.high) for c in release.report.audit.cells}
    assert audit[("M", "North")] == (0, 11)


def test_no_released_cell_below_threshold_and_every_hidden_cell_is_wide():
    table = crosstab(synthetic_persons(400, seed=3), ["sex", "region", "age_band"])
    release = protect([table], Policy.default(), context(), InMemoryStores())
    values = [row.value for row in release.tables[0].rows if not row.suppressed]
    assert values and all(v >= 5 for v in values)
    assert release.report.audit.cells
    for cell in release.report.audit.cells:
        high = float("inf") if cell.high is None else cell.high
        assert interval_passes(cell.low, high, 5, 5), cell


def test_identical_input_gives_identical_release():
    table = crosstab(synthetic_persons(250, seed=11), ["sex", "region"])
    first = protect([table], Policy.default(), context(), InMemoryStores())
    second = protect([table], Policy.default(), context(), InMemoryStores())
    assert first.tables == second.tables
    assert first.report == second.report


def test_strictest_register_threshold_applies_and_floor_cannot_be_lowered():
    policy = Policy(register_thresholds={"cancer": 10})
    assert policy.threshold_for(["bef"]) == 5
    assert policy.threshold_for(["bef", "cancer"]) == 10
    with pytest.raises(ValueError):
        Policy(default_threshold=3)
    with pytest.raises(ValueError):
        Policy(register_thresholds={"lmdb": 4})
    frame = persons_from_counts(
        {("M", "North"): 7, ("M", "South"): 30, ("F", "North"): 30, ("F", "South"): 30}
    )
    table = crosstab(frame, ["sex", "region"], registers=("bef", "cancer"))
    release = protect([table], policy, context(), InMemoryStores())
    assert release.report.threshold == 10
    assert release.tables[0].row("M", "North").suppressed


def test_zeros_share_the_marker_unless_structural():
    frame = persons_from_counts({("M", "North"): 20, ("F", "North"): 20, ("F", "South"): 20})
    table = crosstab(frame, ["sex", "region"], categories={"sex": ["F", "M"], "region": ["North", "South"]})
    release = protect([table], Policy.default(), context(), InMemoryStores())
    assert release.tables[0].row("M", "South").suppressed
    structural = AggregateTable(
        kind=table.kind,
        title=table.title,
        dimensions=table.dimensions,
        cells=tuple(
            Cell(c.coordinates, c.count, c.persons, structural_zero=c.coordinates == ("M", "South"))
            for c in table.cells
        ),
        registers=table.registers,
    )
    release = protect([structural], Policy.default(), context(), InMemoryStores())
    assert release.tables[0].row("M", "South").value == 0


def test_customer_view_never_tells_primary_from_secondary_nor_shows_true_values():
    table = reference_two_by_two()
    release = protect([table], Policy.default(), context(), InMemoryStores())
    customer = json.dumps(release.report.customer_view())
    for word in ("primary", "secondary", "differencing", "fingerprint", '"low"', '"high"'):
        assert word not in customer
    auditor = release.report.auditor_view()
    assert auditor["tables"][0]["primary"] == 1
    # 12 and 8 differ from their published margins by 3 persons: the guard hides them; one more completes it.
    assert (auditor["tables"][0]["differencing"], auditor["tables"][0]["secondary"]) == (2, 1)
    assert auditor["policy_version"] == Policy.default().version


def test_released_person_sets_and_tables_are_returned_not_written():
    stores = InMemoryStores()
    release = protect([reference_two_by_two()], Policy.default(), context(), stores)
    assert stores.sets_with_size_between("dv1", "global", 0, 10**6) == []
    scopes = {scope for scope, _ in release.changes.person_sets}
    assert scopes == {"org:org-a", "global"}
    released_sizes = sorted(len(s) for scope, s in release.changes.person_sets if scope == "global")
    assert released_sizes == [11, 15, 18, 22, 33]
    stores.apply("dv1", release.changes)
    assert len(stores.sets_with_size_between("dv1", "org:org-a", 0, 10**6)) == len(released_sizes)


def test_table_whose_margin_is_not_its_sum_is_rejected():
    persons = BitMap(range(1, 21))
    table = AggregateTable(
        kind="cohort_count",
        title="broken",
        dimensions=(Dimension("sex", ("F", "M")),),
        cells=(
            Cell(("F",), 10, BitMap(range(1, 11))),
            Cell(("M",), 5, BitMap(range(11, 16))),
            Cell((None,), 20, persons),
        ),
        registers=frozenset({"bef"}),
    )
    with pytest.raises(InvalidTable):
        protect([table], Policy.default(), context(), InMemoryStores())


def test_unprotectable_table_is_refused_with_a_message_that_does_not_depend_on_counts():
    """A small cell an earlier (broken) release already pinned cannot be protected by any pattern:
    secondary suppression and the total-only fallback both fail the audit, and the refusal reads the
    same whatever the small count is."""
    from disclosure.errors import NOT_PROTECTABLE_MESSAGE, ReleaseRefused
    from disclosure.stores import GLOBAL_SCOPE, ReleasedCellRecord, ReleasedTableRecord, StateChanges
    from disclosure.structure import fingerprint

    messages = set()
    for small in (1, 3):
        frame = persons_from_counts(
            {("M", "North"): small, ("M", "South"): 12, ("F", "North"): 8, ("F", "South"): 10}
        )
        table = crosstab(frame, ["sex", "region"])
        leaked = table.cell("M", "North").persons
        stores = InMemoryStores()
        record = ReleasedTableRecord(
            cells=(ReleasedCellRecord(fingerprint(SECRET, "dv1", leaked), small, small),), relations=()
        )
        stores.apply("dv1", StateChanges(released_tables=[(GLOBAL_SCOPE, record)]))
        with pytest.raises(ReleaseRefused) as refused:
            protect([table], Policy.default(), context(), stores)
        messages.add(refused.value.message)
    assert messages == {NOT_PROTECTABLE_MESSAGE}


def test_only_the_total_remains_when_no_finer_pattern_is_wide_enough():
    """With w = 30 no pattern below the total protects a cell of 3 in a table of 63; hiding every
    cell but the total leaves each hidden cell anywhere in 0..63."""
    frame = persons_from_counts(
        {("M", "North"): 3, ("M", "South"): 20, ("F", "North"): 20, ("F", "South"): 20}
    )
    release = protect(
        [crosstab(frame, ["sex", "region"])], Policy(protection_width=30), context(), InMemoryStores()
    )
    table = release.tables[0]
    released = {row.coordinates: row.value for row in table.rows if not row.suppressed}
    assert released in ({(None, None): 63}, {})
    for cell in release.report.audit.cells:
        assert cell.high is None or cell.high - cell.low >= 30


def test_repeating_a_release_stores_nothing_new():
    stores = InMemoryStores()
    table = reference_two_by_two()
    first = protect([table], Policy.default(), context(), stores)
    stores.apply("dv1", first.changes)
    again = protect([table], Policy.default(), context(), stores)
    assert again.tables == first.tables
    assert again.changes.released_tables == []
    assert again.changes.person_sets == []
    assert again.report.audit.linked_earlier_tables == 1


@pytest.mark.parametrize(
    ("exposed", "unexposed", "kept_hidden", "released"),
    [
        (15, 194, set(), {2}),  # the unexposed stratum is 209 - 15: hiding it protects nothing
        (15, 0, set(), {2}),  # a determined 0 is no small count either
        (206, 3, set(), set()),  # a determined 3 is: the release is refused
        (15, 194, {2}, set()),  # hidden for its own sake (primary, guard, atoms): refused
    ],
)
def test_the_total_only_fallback_releases_the_cells_the_total_and_earlier_releases_determine(
    exposed, unexposed, kept_hidden, released
):
    """A Table 1 over a cohort asked about before: the cohort's total (shown) is the sum of its
    strata, and an earlier release gave one stratum exactly, so the audit pins the other. The
    fallback releases it with the total when its value is 0 or at least k (it was refused
    outright: the documented Table 1 after a year of releases), never a small one."""
    from disclosure.pipeline import _determined_safe_cells
    from disclosure.suppression import Node, ReleaseSystem, audit

    system = ReleaseSystem()
    total = exposed + unexposed
    for name, value in (("total", total), ("exposed", exposed), ("unexposed", unexposed)):
        system.add_node(
            Node(identity=name, fingerprint=name, current=True, value=value, true_count=value), True
        )
    system.nodes[1].know(exposed, exposed)  # the earlier release
    system.relations.append((0, (1, 2)))
    result = audit(system, {1, 2}, {i: (n.value, n.value) for i, n in enumerate(system.nodes)}, 5, 5)
    assert 2 in result.failing and result.intervals[2] == (unexposed, unexposed)
    assert _determined_safe_cells(system, result, kept_hidden, 5) == released
