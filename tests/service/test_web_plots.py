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
    "time_to_event": "survival",
}


def test_every_result_kind_of_the_registry_has_a_plot():
    from queries.registry import RESULT_KINDS

    assert set(plots.READERS) == set(RESULT_KINDS) == set(PLOT_KINDS) == set(QUERIES)


def _release_of(data_api, kind: str) -> dict:
    answer = data_api.post("/v1/queries/runs", data_api.customer, json={"index": INDEX, **QUERIES[kind]})
    deadline = time.monotonic() + 180
    while answer.status_code == 202 and time.monotonic() < deadline:  # a loaded machine: poll
        time.sleep(0.5)
        run = data_api.get(answer.headers["Location"], data_api.customer).json()
        if run["release_id"]:
            return data_api.get(f"/v1/releases/{run['release_id']}", data_api.customer).json()
        assert run["status"] in ("queued", "running"), run
    assert answer.status_code == 201, answer.text
    return data_api.get(f"/v1/releases/{answer.json()['id']}", data_api.customer).json()


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
