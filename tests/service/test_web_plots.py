"""Plots per result kind, from real releases: a suppressed cell is drawn as missing, never as 0 and
never as its true value. To make "its true value" testable, each test takes a released cell of a real
release, marks it suppressed and leaves a sentinel number in it (as a leak would): the sentinel must
appear nowhere in the figure, and the cell must be a gap, a missing bar or the word "hidden"."""

from __future__ import annotations

import copy
import math
import time

import pytest

from statservice.web import plots

SENTINEL = 987654
SENTINEL_TEXTS = ("987654", "987,654", "987.654", "9.87654")

INDEX = {
    "concept": {"type": "diagnosis", "codes": ["DE11"]},
    "period": {"start": "2015-01-01", "end": "2018-12-31"},
}
QUERIES = {
    "cohort_count": {"result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]}},
    "biobank_availability": {"result": {"kind": "biobank_availability", "sample_types": ["dna", "serum"]}},
    "incidence_prevalence": {"result": {"kind": "incidence_prevalence", "breakdowns": [{"by": "sex"}]}},
    "attrition": {
        "criteria": [{"type": "include", "concept": {"type": "age", "min": 30}}],
        "result": {"kind": "attrition"},
    },
    "treatment_uptake": {
        "result": {
            "kind": "treatment_uptake",
            "drugs": [{"name": "metformin", "atc": ["A10BA"]}],
            "days": [90, 365],
        }
    },
    "characteristics": {
        "result": {
            "kind": "characteristics",
            "items": [
                {"name": "female", "concept": {"type": "sex", "sex": "female"}},
                {"name": "aged 60 or more", "concept": {"type": "age", "min": 60}},
            ],
        }
    },
    "table_one": {
        "result": {
            "kind": "table_one",
            "continuous": [{"name": "age", "measure": {"type": "age_at_index"}}],
            "items": [{"name": "female", "concept": {"type": "sex", "sex": "female"}}],
            "exposure": {"name": "metformin", "concept": {"type": "prescription", "atc": ["A10BA"]}},
        }
    },
    "time_to_event": {
        "result": {
            "kind": "time_to_event",
            "outcome": {"type": "prescription", "atc": ["A10BA"]},
            "method": "kaplan_meier",
            "time_points": [90, 365],
        }
    },
}
PLOT_KINDS = {
    "cohort_count": "bars",
    "biobank_availability": "bars",
    "incidence_prevalence": "lines",
    "attrition": "flow",
    "treatment_uptake": "curves",
    "characteristics": "table_one",
    "table_one": "table_one_strata",
    "time_to_event": "survival",
}


def test_every_result_kind_of_the_registry_has_a_plot():
    from queries.registry import RESULT_KINDS

    assert set(plots.READERS) == set(RESULT_KINDS) == set(PLOT_KINDS) == set(QUERIES)


def _release_of(data_api, kind: str) -> dict:
    answer = data_api.post("/v1/queries/runs", data_api.customer, json={"index": INDEX, **QUERIES[kind]})
    # on a busy machine a run can outlast the synchronous wait: then poll it (202, Location)
    deadline = time.monotonic() + 120
    while answer.status_code == 202 or answer.json().get("status") in ("queued", "running"):
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.5)
        answer = data_api.get(
            answer.headers.get("location") or f"/v1/queries/runs/{answer.json()['id']}", data_api.customer
        )
    assert answer.status_code in (200, 201), answer.text
    # 201 answers with the release itself; a polled run names its release
    release_id = answer.json()["id"] if answer.status_code == 201 else answer.json()["release_id"]
    return data_api.get(f"/v1/releases/{release_id}", data_api.customer).json()


def _hide_one_released_cell(release: dict) -> tuple[dict, dict]:
    """A copy of ``release`` whose first released cell of the plotted table is marked suppressed but
    still carries the sentinel (value and derived columns); the cell as it was."""
    hidden = copy.deepcopy(release)
    table = plots.main_table(hidden)
    cell = next(c for c in table["cells"] if c["status"] == "released" and _plotted(table, c))
    before = copy.deepcopy(cell)
    cell["status"] = "suppressed"
    cell["value"] = SENTINEL
    cell["derived"] = {name: SENTINEL / 1000 for name in cell.get("derived", {})}
    return hidden, before


def _plotted(table: dict, cell: dict) -> bool:
    """A cell the plot shows: not the eligible new users of uptake (a denominator), and with a
    released derived value where the plot draws one."""
    if table["kind"] == "treatment_uptake" and cell["coordinates"][1] == "eligible new users":
        return False
    if table["kind"] == "time_to_event":  # the estimate sits on each interval's events row
        return cell["coordinates"][1] == "events" and bool((cell.get("derived") or {}).get(plots._INCIDENCE))
    if table["kind"] in ("incidence_prevalence", "treatment_uptake"):
        return all(v is not None for v in cell.get("derived", {}).values())
    # margins are in the table, the bars are the inner cells
    return not (table["kind"] == "cohort_count" and None in cell["coordinates"])


def _point_of(plot: plots.Plot, cell: dict, table: dict) -> plots.Point:
    coordinates = cell["coordinates"]
    if plot.kind == "lines":
        panel = dict(plot.panels)[str(coordinates[1]).capitalize()]
        series = next(s for s in panel if s.name == plots._category(coordinates[2]))
        return next(p for p in series.points if p.x == coordinates[0])
    if plot.kind == "curves":
        series = next(s for s in plot.series if s.name == coordinates[0])
        return next(p for p in series.points if p.x == int(coordinates[1].split()[0]))
    if plot.kind == "table_one_strata":
        stratum = plots._category(coordinates[1]) + " (N = "
        series = next(s for s in plot.series if (s.name or "").startswith(stratum))
        return next(p for p in series.points if p.x == plots._category(coordinates[0]))
    if plot.kind == "survival":
        name = plots._category(coordinates[2]) if len(coordinates) > 2 else None
        series = next(s for s in plot.series if s.name == name)
        return next(p for p in series.points if p.x == plots._interval_start_end(coordinates[0])[1])
    if plot.kind == "bars" and len(coordinates) == 2:
        series = next(s for s in plot.series if s.name == plots._category(coordinates[1]))
        return next(p for p in series.points if p.x == plots._category(coordinates[0]))
    return next(p for p in plot.series[0].points if p.x == plots._category(coordinates[0]))


def _figure_texts(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text"))]


@pytest.mark.parametrize("kind", list(QUERIES))
def test_a_suppressed_cell_is_drawn_as_missing_never_as_zero_or_its_value(data_api, kind):
    release = _release_of(data_api, kind)
    plot = plots.plot_of(release)
    assert plot is not None and plot.kind == PLOT_KINDS[kind]
    hidden, before = _hide_one_released_cell(release)
    table = plots.main_table(hidden)
    shown = _point_of(plot, before, table)
    assert shown.y is not None  # released: drawn

    hidden_plot = plots.plot_of(hidden)
    point = _point_of(hidden_plot, before, table)
    assert point.y is None and point.low is None and point.high is None  # missing, not 0
    figure = plots.draw(hidden_plot)
    texts = " ".join(_figure_texts(figure))
    assert "hidden" in texts
    for axes in figure.axes:
        for line in axes.get_lines():
            ys = list(line.get_ydata())
            assert SENTINEL not in ys and SENTINEL / 1000 not in ys
        bars = [patch.get_height() for patch in axes.patches if hasattr(patch, "get_height")]
        assert SENTINEL not in bars and 0 not in bars  # no bar of the hidden value, and no 0 bar
    if hidden_plot.kind in ("lines", "curves", "survival"):
        axes_lines = [
            line
            for axes in figure.axes
            for line in axes.get_lines()
            if line.get_label() == point_series(hidden_plot, point)
        ]
        assert any(math.isnan(y) for line in axes_lines for y in line.get_ydata())  # a gap in its line
    if hidden_plot.kind == "bars":
        drawn = sum(len(axes.patches) for axes in figure.axes)
        released = sum(p.y is not None for s in hidden_plot.series for p in s.points)
        assert drawn == released == sum(p.y is not None for s in plot.series for p in s.points) - 1
    svg = plots.render(hidden_plot, "svg").decode()
    assert not any(text in svg for text in SENTINEL_TEXTS)
    assert "hidden" in svg


def point_series(plot: plots.Plot, point: plots.Point) -> str:
    for series_list in [plot.series, *(series for _panel, series in plot.panels)]:
        for series in series_list:
            if any(p is point for p in series.points):
                return series.name or "_child0"
    raise AssertionError("point not in the plot")


def test_incidence_rates_are_drawn_with_their_released_intervals(data_api):
    from matplotlib.collections import PolyCollection

    release = _release_of(data_api, "incidence_prevalence")
    table = plots.main_table(release)
    assert {"rate_per_1000_person_years_lower", "rate_per_1000_person_years_upper"} <= set(
        table["derived_columns"]
    )
    plot = plots.plot_of(release)
    drawn = [p for _panel, series in plot.panels for s in series for p in s.points if p.y is not None]
    assert drawn, "no released rate to draw"
    for point in drawn:  # each released rate within its released interval
        assert point.low is not None and point.high is not None
        assert point.low <= point.y <= point.high
    figure = plots.draw(plot)
    assert any(
        isinstance(collection, PolyCollection) for axes in figure.axes for collection in axes.collections
    ), "the intervals are not shaded"


def test_table_one_shows_released_means_quartiles_and_smds(data_api):
    release = _release_of(data_api, "table_one")
    table = plots.main_table(release)
    assert table["kind"] == "table_one"
    plot = plots.plot_of(release)
    assert [s.name.split(" (")[0] for s in plot.series] == ["exposed", "unexposed", "Total", "SMD"]
    cells = {tuple(c["coordinates"]): c for c in table["cells"]}
    overall = cells[("age", None)]
    assert overall["status"] == "released" and overall["derived"]["mean"] is not None
    age = next(p for p in plot.series[2].points if p.x == "age")
    assert age.note.startswith(f"n {overall['value']:,}: {overall['derived']['mean']:.1f} (")
    # a binary row carries no magnitude columns: its note is "n (%)"
    female = next(p for p in plot.series[2].points if p.x == "female")
    assert ":" not in female.note and "(" in female.note
    smd = next(p for p in plot.series[3].points if p.x == "age")
    assert smd.note == f"{overall['derived']['smd']:.2f}"
    svg = plots.render(plot, "svg").decode()
    assert "SMD" in svg and "exposed" in svg


def test_the_result_table_says_hidden_for_a_withheld_mean_and_leaves_counts_blank():
    from statservice.web import results

    def cell(coordinates, derived):
        return {"coordinates": coordinates, "value": 40, "status": "released", "derived": derived}

    release = {
        "tables": [
            {
                "title": "cohort: table 1",
                "dimensions": ["characteristic"],
                "derived_columns": ["percent", "mean", "sd"],
                "cells": [
                    cell(["age"], {"percent": 100.0, "mean": None, "sd": None}),
                    cell(["female"], {"percent": 50.0}),
                ],
            }
        ]
    }
    (table,) = results.shown_tables(release)
    assert table.rows == [["age", "40", "100", "hidden", "hidden"], ["female", "40", "50", "", ""]]


def test_the_curve_shows_the_released_numbers_at_risk_and_hides_a_suppressed_one(data_api):
    release = _release_of(data_api, "time_to_event")
    table = plots.main_table(release)
    at_risk = [c for c in table["cells"] if c["coordinates"][1] == "at risk" and c["status"] == "released"]
    assert at_risk, "the test cohort releases no number at risk"
    texts = " ".join(_figure_texts(plots.draw(plots.plot_of(release))))
    assert f"{int(at_risk[0]['value']):,}" in texts and "Number at risk" in texts
    hidden = copy.deepcopy(release)
    cell = next(c for c in plots.main_table(hidden)["cells"] if c["coordinates"] == at_risk[0]["coordinates"])
    cell["status"], cell["value"] = "suppressed", SENTINEL
    plot = plots.plot_of(hidden)
    start = plots._interval_start_end(cell["coordinates"][0])[0]
    assert (start, "hidden") in plot.at_risk[0][1]
    svg = plots.render(plot, "svg").decode()
    assert not any(text in svg for text in SENTINEL_TEXTS)
