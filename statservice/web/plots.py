"""Plots of a release, one kind per result kind, drawn only from the released numbers.

Each plot is made in two steps: ``plot_of`` reads the release into a ``Plot`` (series of points whose
value is ``None`` where the cell is not released), and ``draw`` turns that into a matplotlib figure.
A cell that is not released is read as ``None`` whatever its ``value`` says, and drawn as missing: a
gap in a line, no bar, a box that says "hidden", never 0 and never a number. The same figure is the
page's picture (SVG) and the downloads (SVG, PNG).

- cohort count, biobank availability: bars (up to two breakdowns);
- incidence and prevalence: per year, a line per breakdown category (rate per 1,000 person-years
  where released, else the count), with intervals where the release carries them;
- attrition: a flow diagram, one box per step with its count and its share of the previous step;
- treatment uptake: cumulative uptake curves per drug group over the days after index;
- characteristics: Table 1, "n (%)" per characteristic under the cohort's N;
- table_one: Table 1 with a column per stratum and overall, "mean (SD); median [Q1, Q3]" for
  continuous characteristics and the SMD of a two-way split;
- time to event: cumulative incidence curves with their 95 % bands, one per stratum, stepping at
  the ends of the released intervals, with the numbers at risk under them."""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass, field
from typing import Any

HIDDEN = "hidden"
TOTAL = "Total"
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
# where a release carries an interval for a derived column (``<column>_lower``/``_upper``)
LOWER, UPPER = "_lower", "_upper"


def _category(value: Any) -> str:
    return TOTAL if value is None else str(value).replace("_", " ")


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def released(cell: dict[str, Any]) -> bool:
    return cell.get("status") == "released" and cell.get("value") is not None


def _released_derived(cell: dict[str, Any], column: str) -> float | None:
    if not released(cell):
        return None
    value = (cell.get("derived") or {}).get(column)
    return None if value is None else float(value)


@dataclass
class Point:
    x: Any  # the category (year, day, step, sample type)
    y: float | None  # None: not released, drawn as missing
    low: float | None = None
    high: float | None = None
    note: str = ""  # shown beside the point (a share, "n (%)")


@dataclass
class Series:
    name: str | None
    points: list[Point]


@dataclass
class Plot:
    kind: str  # bars, lines, flow, curves, table_one, survival
    title: str
    x_label: str = ""
    y_label: str = ""
    series: list[Series] = field(default_factory=list)
    panels: list[tuple[str, list[Series]]] = field(default_factory=list)  # lines: one panel per measure
    caption: str = ""
    # survival: per series, the released number at risk at the start of each interval (day, text)
    at_risk: list[tuple[str, list[tuple[int, str]]]] = field(default_factory=list)

    @property
    def described(self) -> str:
        """What the picture shows, for its accessible name."""
        return f"{self.caption} {self.title}".strip()


def main_table(release: dict[str, Any]) -> dict[str, Any] | None:
    """The table a plot is drawn of: a flag kind's own table, not the cohort total released with it."""
    tables = release.get("tables") or []
    return tables[-1] if tables else None


def plot_of(release: dict[str, Any]) -> Plot | None:
    table = main_table(release)
    if table is None:
        return None
    reader = READERS.get(table.get("kind", ""), _bars)
    return reader(release, table)


def _cells_by_coordinates(table: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(cell["coordinates"]): cell for cell in table["cells"]}


def _bars(release: dict[str, Any], table: dict[str, Any]) -> Plot | None:
    dimensions = table["dimensions"]
    if len(dimensions) > 2:  # more breakdowns than bars show clearly: the table only
        return None
    cells = _cells_by_coordinates(table)
    first = table["categories"][0] if dimensions else [None]
    names = table["categories"][1] if len(dimensions) == 2 else [None]
    series = []
    for name in names:
        points = []
        for category in first:
            key = () if not dimensions else (category,) if len(dimensions) == 1 else (category, name)
            cell = cells.get(key, {})
            points.append(Point(_category(category), float(cell["value"]) if released(cell) else None))
        series.append(Series(None if name is None else _category(name), points))
    return Plot(
        "bars",
        table["title"],
        x_label=_label(dimensions[0]) if dimensions else "",
        y_label="Persons",
        series=series,
        caption="Bar chart of the released counts; hidden cells have no bar.",
    )


def _incidence_prevalence(release: dict[str, Any], table: dict[str, Any]) -> Plot:
    dimensions = table["dimensions"]  # year, measure[, breakdown]
    years, measures = table["categories"][0], table["categories"][1]
    names = [*table["categories"][2], None] if len(dimensions) > 2 else [None]
    rate = next(iter(table.get("derived_columns") or []), None)
    cells = _cells_by_coordinates(table)
    panels = []
    for measure in measures:
        series = []
        for name in names:
            points = []
            for year in years:
                cell = cells.get((year, measure, name) if len(dimensions) > 2 else (year, measure), {})
                if rate:
                    y = _released_derived(cell, rate)
                    low, high = _released_derived(cell, rate + LOWER), _released_derived(cell, rate + UPPER)
                else:
                    y, low, high = (float(cell["value"]) if released(cell) else None), None, None
                points.append(Point(year, y, low, high))
            series.append(Series(_category(name) if len(dimensions) > 2 else None, points))
        panels.append((_label(str(measure)), series))
    return Plot(
        "lines",
        table["title"],
        x_label="Year",
        y_label="Per 1,000 person-years" if rate else "Persons",
        panels=panels,
        caption="Incidence and prevalence by year, per 1,000 person-years with the exact 95 % interval of "
        "each rate shaded; a hidden year is a gap in its line.",
    )


def _attrition(release: dict[str, Any], table: dict[str, Any]) -> Plot:
    points = []
    for i, cell in enumerate(table["cells"]):
        share = _released_derived(cell, "percent_of_previous_step") if i else None
        note = f"{share:g}% of the previous step" if share is not None else ""
        points.append(
            Point(
                _category(cell["coordinates"][0]), float(cell["value"]) if released(cell) else None, note=note
            )
        )
    return Plot(
        "flow",
        table["title"],
        series=[Series(None, points)],
        caption="Flow diagram of the persons left after each step; a hidden step says so.",
    )


def _uptake(release: dict[str, Any], table: dict[str, Any]) -> Plot:
    drugs, within = table["categories"][0], table["categories"][1]
    share = next(iter(table.get("derived_columns") or []), None)
    cells = _cells_by_coordinates(table)
    days = [w for w in within if str(w).endswith(" days")]  # not the eligible new users
    series = []
    for drug in drugs:
        points = []
        for day in days:
            cell = cells.get((drug, day), {})
            y = _released_derived(cell, share) if share else None
            points.append(Point(int(str(day).split()[0]), y))
        series.append(Series(_category(drug), points))
    return Plot(
        "curves",
        table["title"],
        x_label="Days after index",
        y_label="Cumulative share of the cohort (%)",
        series=series,
        caption="Cumulative uptake per drug group; a hidden point is a gap in its curve.",
    )


def _table_one(release: dict[str, Any], table: dict[str, Any]) -> Plot:
    tables = release.get("tables") or []
    total_cell = tables[0]["cells"][0] if len(tables) > 1 and tables[0]["cells"] else {}
    total = f"{int(total_cell['value']):,}" if released(total_cell) else HIDDEN
    percent = next(iter(table.get("derived_columns") or []), None)
    points = []
    for cell in table["cells"]:
        share = _released_derived(cell, percent) if percent else None
        if not released(cell):
            note = HIDDEN
        else:
            note = f"{int(cell['value']):,}" + (f" ({share:.1f})" if share is not None else "")
        points.append(
            Point(
                _category(cell["coordinates"][0]), float(cell["value"]) if released(cell) else None, note=note
            )
        )
    return Plot(
        "table_one",
        f"Table 1. Characteristics of the cohort (N = {total})",
        series=[Series("n (%)", points)],
        caption="Table 1: number (percent) of the cohort with each characteristic.",
    )


def _table_one_note(cell: dict[str, Any]) -> str:
    """One cell of a stratified Table 1: "n (%)" for a count, "mean (SD); median [Q1, Q3]" with its
    n for a continuous characteristic; every part not released reads "hidden"."""
    if not released(cell):
        return HIDDEN
    count = f"{int(cell['value']):,}"
    percent = _released_derived(cell, "percent")
    if "mean" not in (cell.get("derived") or {}):
        return count + (f" ({percent:.1f})" if percent is not None else "")

    def number(column: str, spec: str) -> str:
        value = _released_derived(cell, column)
        return HIDDEN if value is None else format(value, spec)

    mean = f"{number('mean', '.1f')} ({number('sd', '.1f')})"
    quartiles = f"{number('median', '.0f')} [{number('q1', '.0f')}, {number('q3', '.0f')}]"
    return f"n {count}: {mean}; {quartiles}"


def _table_one_by_stratum(release: dict[str, Any], table: dict[str, Any]) -> Plot:
    """Table 1 with a column per stratum (and overall), and the SMD of a two-way split."""
    tables = release.get("tables") or []
    sizes = _cells_by_coordinates(tables[0]) if len(tables) > 1 else {}
    cells = _cells_by_coordinates(table)
    stratified = len(table["dimensions"]) > 1
    strata: list[Any] = [*table["categories"][1], None] if stratified else [None]
    series = []
    for stratum in strata:
        size = sizes.get((stratum,) if stratified else (), {})
        n = f"{int(size['value']):,}" if released(size) else HIDDEN
        points = []
        for characteristic in table["categories"][0]:
            cell = cells.get((characteristic, stratum) if stratified else (characteristic,), {})
            value = float(cell["value"]) if released(cell) else None
            points.append(Point(_category(characteristic), value, note=_table_one_note(cell)))
        series.append(Series(f"{_category(stratum)} (N = {n})", points))
    if stratified and "smd" in (table.get("derived_columns") or []) and len(strata) == 3:
        points = []
        for characteristic in table["categories"][0]:
            smd = _released_derived(cells.get((characteristic, None), {}), "smd")
            points.append(Point(_category(characteristic), smd, note="" if smd is None else f"{smd:.2f}"))
        series.append(Series("SMD", points))
    return Plot(
        "table_one_strata",
        table["title"],
        series=series,
        caption="Table 1: n (%) for counts; mean (SD); median [Q1, Q3] for continuous characteristics, "
        "released numbers only.",
    )


# time to event (``disclosure.curves``): the rows of each interval and the estimate's columns
_AT_RISK, _EVENTS = "at risk", "events"
_INCIDENCE, _INCIDENCE_LOW, _INCIDENCE_HIGH = (
    "cumulative_incidence_percent",
    "ci_lower_percent",
    "ci_upper_percent",
)


def _interval_start_end(label: Any) -> tuple[int, int]:
    start, end = str(label).split("-")
    return int(start), int(end)


def _time_to_event(release: dict[str, Any], table: dict[str, Any]) -> Plot:
    intervals = table["categories"][0]
    cells = _cells_by_coordinates(table)
    strata = list(dict.fromkeys(tuple(cell["coordinates"][2:]) for cell in table["cells"]))
    series, at_risk = [], []
    for stratum in strata:
        name = _category(stratum[0]) if stratum else None
        points = [Point(0, 0.0, 0.0, 0.0)]  # nobody has the event before follow-up starts
        numbers = []
        for label in intervals:
            start, end = _interval_start_end(label)
            events = cells.get((label, _EVENTS, *stratum), {})
            points.append(
                Point(
                    end,
                    _released_derived(events, _INCIDENCE),
                    _released_derived(events, _INCIDENCE_LOW),
                    _released_derived(events, _INCIDENCE_HIGH),
                )
            )
            risk = cells.get((label, _AT_RISK, *stratum), {})
            numbers.append((start, f"{int(risk['value']):,}" if released(risk) else HIDDEN))
        series.append(Series(name, points))
        at_risk.append((name or "At risk", numbers))
    return Plot(
        "survival",
        table["title"],
        x_label="Days after index",
        y_label="Cumulative incidence (%)",
        series=series,
        caption="Cumulative incidence with 95 % intervals, stepping at the end of each released interval; "
        "numbers at risk at the start of each interval below. A hidden estimate is a gap.",
        at_risk=at_risk,
    )


READERS = {
    "cohort_count": _bars,
    "biobank_availability": _bars,
    "incidence_prevalence": _incidence_prevalence,
    "attrition": _attrition,
    "treatment_uptake": _uptake,
    "characteristics": _table_one,
    "table_one": _table_one_by_stratum,
    "time_to_event": _time_to_event,
}


# --- drawing ---------------------------------------------------------------------------------------


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def draw(plot: Plot) -> Any:
    """The matplotlib figure of ``plot`` (not yet saved)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # imported on first plot: ~0.3 s
    from matplotlib.figure import Figure

    if plot.kind == "lines":
        figure = Figure(figsize=(7, 3.2 * len(plot.panels)))
    elif plot.kind == "survival":
        figure = Figure(figsize=(7, 3.8 + 0.25 * len(plot.at_risk)))
    elif plot.kind in ("flow", "table_one", "table_one_strata"):
        rows = len(plot.series[0].points)
        wide = 4.0 + 2.6 * len(plot.series) if plot.kind == "table_one_strata" else 7
        figure = Figure(figsize=(wide, 1.0 + (1.1 if plot.kind == "flow" else 0.4) * rows))
    else:
        figure = Figure(figsize=(7, 3.6))
    FigureCanvasAgg(figure)
    DRAWERS[plot.kind](figure, plot)
    return figure


def _draw_bars(figure: Any, plot: Plot) -> None:
    axes = figure.add_subplot()
    categories = [p.x for p in plot.series[0].points]
    width = 0.8 / len(plot.series)
    for s, series in enumerate(plot.series):
        offsets = [i + (s - (len(plot.series) - 1) / 2) * width for i in range(len(categories))]
        shown = [(x, p.y) for x, p in zip(offsets, series.points, strict=True) if p.y is not None]
        axes.bar([x for x, _ in shown], [y for _, y in shown], width=width * 0.95, label=series.name)
        for x, p in zip(offsets, series.points, strict=True):
            if p.y is None:
                axes.annotate(HIDDEN, (x, 0), ha="center", va="bottom", fontsize=8, rotation=90)
    axes.set_xticks(range(len(categories)), categories)
    axes.set_ylabel(plot.y_label)
    axes.set_xlabel(plot.x_label)
    axes.set_title(plot.title)
    if len(plot.series) > 1:
        axes.legend()
    axes.spines[["top", "right"]].set_visible(False)


def _draw_lines(figure: Any, plot: Plot) -> None:
    for k, (panel, series_list) in enumerate(plot.panels):
        axes = figure.add_subplot(len(plot.panels), 1, k + 1)
        for series in series_list:
            xs = [p.x for p in series.points]
            ys = [_nan(p.y) for p in series.points]
            total = series.name == TOTAL
            (line,) = axes.plot(
                xs,
                ys,
                marker="o",
                label=series.name,
                color="black" if total else None,
                linestyle="--" if total else "-",
            )
            if any(p.low is not None and p.high is not None for p in series.points):
                axes.fill_between(
                    xs,
                    [_nan(p.low) for p in series.points],
                    [_nan(p.high) for p in series.points],
                    alpha=0.2,
                    color=line.get_color(),
                )
            _mark_hidden(axes, series, line.get_color())
        axes.set_title(f"{plot.title}: {panel.lower()}" if k == 0 else panel)
        axes.set_ylabel(plot.y_label)
        axes.set_xticks([p.x for p in series_list[0].points])
        axes.set_ylim(bottom=0)
        if any(s.name for s in series_list):
            axes.legend(fontsize=8)
        axes.spines[["top", "right"]].set_visible(False)
    figure.axes[-1].set_xlabel(plot.x_label)


def _mark_hidden(axes: Any, series: Any, color: Any) -> None:
    """The word "hidden" at the foot of each point of ``series`` that was not released, so a gap in
    the line reads as hidden, never as missing data or 0."""
    for p in series.points:
        if p.y is None:
            axes.annotate(
                HIDDEN,
                (p.x, 0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize=8,
                color=color,
                rotation=90,
            )


def _draw_curves(figure: Any, plot: Plot) -> None:
    axes = figure.add_subplot()
    for series in plot.series:
        xs = [p.x for p in series.points]
        (line,) = axes.plot(
            xs, [_nan(p.y) for p in series.points], marker="o", drawstyle="steps-post", label=series.name
        )
        _mark_hidden(axes, series, line.get_color())
    axes.set_xticks([p.x for p in plot.series[0].points])
    axes.set_ylim(bottom=0)
    axes.set_xlabel(plot.x_label)
    axes.set_ylabel(plot.y_label)
    axes.set_title(plot.title)
    axes.legend(fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)


def _draw_survival(figure: Any, plot: Plot) -> None:
    rows = len(plot.at_risk)
    grid = figure.add_gridspec(2, 1, height_ratios=(6, 0.6 + 0.5 * rows), hspace=0.45)
    axes = figure.add_subplot(grid[0])
    for series in plot.series:
        xs = [p.x for p in series.points]
        (line,) = axes.plot(
            xs, [_nan(p.y) for p in series.points], drawstyle="steps-post", label=series.name, marker="."
        )
        if any(p.low is not None for p in series.points[1:]):
            axes.fill_between(
                xs,
                [_nan(p.low) for p in series.points],
                [_nan(p.high) for p in series.points],
                step="post",
                alpha=0.2,
                color=line.get_color(),
            )
        _mark_hidden(axes, series, line.get_color())
    ends = [p.x for p in plot.series[0].points]
    axes.set_xticks(ends)
    axes.set_xlim(0, max(ends) * 1.02)
    axes.set_ylim(bottom=0)
    axes.set_ylabel(plot.y_label)
    axes.set_title(plot.title)
    if any(s.name for s in plot.series):
        axes.legend(fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    # the numbers at risk, under the axis they belong to
    table = figure.add_subplot(grid[1], sharex=axes)
    table.set_axis_off()
    table.set_ylim(-0.5, rows - 0.5)
    table.set_title("Number at risk", fontsize=9, loc="left")
    for r, (name, numbers) in enumerate(plot.at_risk):
        y = rows - 1 - r
        table.annotate(
            name,
            (0, y),
            xycoords=("axes fraction", "data"),
            xytext=(-24, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=8,
        )
        for day, text in numbers:
            table.text(day, y, text, ha="center", va="center", fontsize=7)
    axes.set_xlabel(plot.x_label)


def _draw_flow(figure: Any, plot: Plot) -> None:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    points = plot.series[0].points
    step = 1 / (len(points) + 0.6)
    axes.text(0.5, 1 - step * 0.3, plot.title, ha="center", va="center", fontsize=11, weight="bold")
    for i, p in enumerate(points):
        y = 1 - step * (i + 1)
        count = f"n = {int(p.y):,}" if p.y is not None else f"n {HIDDEN}"
        text = f"{p.x}\n{count}" + (f"  ({p.note})" if p.note else "")
        axes.text(
            0.5,
            y,
            text,
            ha="center",
            va="center",
            fontsize=10,
            bbox={
                "boxstyle": "round,pad=0.5",
                "facecolor": "#f3f6f9" if p.y is not None else "#ffffff",
                "edgecolor": "#5a6470",
                "linestyle": "-" if p.y is not None else "--",
            },
        )
        if i + 1 < len(points):
            axes.annotate(
                "",
                xy=(0.5, y - step * 0.62),
                xytext=(0.5, y - step * 0.38),
                arrowprops={"arrowstyle": "->", "color": "#5a6470"},
            )


def _draw_table_one(figure: Any, plot: Plot) -> None:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    points = plot.series[0].points
    row = 1 / (len(points) + 2.5)
    axes.text(0.05, 1 - row * 0.7, plot.title, ha="left", va="center", fontsize=11, weight="bold")
    axes.text(0.05, 1 - row * 1.6, "Characteristic", ha="left", va="center", weight="bold")
    axes.text(0.95, 1 - row * 1.6, "n (%)", ha="right", va="center", weight="bold")
    axes.plot([0.05, 0.95], [1 - row * 2.1] * 2, color="black", linewidth=0.8)
    for i, p in enumerate(points):
        y = 1 - row * (i + 2.6)
        axes.text(0.07, y, str(p.x), ha="left", va="center")
        axes.text(0.95, y, p.note, ha="right", va="center")
    axes.plot([0.05, 0.95], [1 - row * (len(points) + 2.1)] * 2, color="black", linewidth=0.8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)


def _draw_table_one_strata(figure: Any, plot: Plot) -> None:
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    names = [p.x for p in plot.series[0].points]
    row = 1 / (len(names) + 2.5)
    first = 0.3  # the characteristic's column; the strata share the rest
    width = (0.97 - first) / len(plot.series)
    axes.text(0.02, 1 - row * 0.7, plot.title, ha="left", va="center", fontsize=11, weight="bold")
    axes.text(0.02, 1 - row * 1.6, "Characteristic", ha="left", va="center", weight="bold")
    for s, series in enumerate(plot.series):
        x = first + width * (s + 0.5)
        axes.text(x, 1 - row * 1.6, series.name or "", ha="center", va="center", weight="bold", fontsize=8)
        for i, p in enumerate(series.points):
            axes.text(x, 1 - row * (i + 2.6), p.note, ha="center", va="center", fontsize=8)
    for i, name in enumerate(names):
        axes.text(0.03, 1 - row * (i + 2.6), str(name), ha="left", va="center", fontsize=9)
    axes.plot([0.02, 0.97], [1 - row * 2.1] * 2, color="black", linewidth=0.8)
    axes.plot([0.02, 0.97], [1 - row * (len(names) + 2.1)] * 2, color="black", linewidth=0.8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)


DRAWERS = {
    "bars": _draw_bars,
    "lines": _draw_lines,
    "curves": _draw_curves,
    "survival": _draw_survival,
    "flow": _draw_flow,
    "table_one": _draw_table_one,
    "table_one_strata": _draw_table_one_strata,
}

# matplotlib's settings are process-global: one plot at a time, under the settings below
_PLOT_LOCK = threading.Lock()


def plot_settings() -> Any:
    """Text stays text in SVG (searchable, smaller); a fixed hash salt makes a figure's SVG the same
    each time it is drawn."""
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "statservice", "font.size": 10})


def render(plot: Plot, fmt: str) -> bytes:
    """``plot`` as an SVG or PNG file (the same release gives the same file)."""
    with _PLOT_LOCK, plot_settings():
        figure = draw(plot)
        if plot.kind == "survival":  # two axes sharing x: tight_layout cannot place the table
            figure.subplots_adjust(left=0.16, right=0.96, top=0.92, bottom=0.04)
        elif plot.kind not in ("flow", "table_one", "table_one_strata"):
            figure.tight_layout()
        buffer = io.BytesIO()
        # text stays text in SVG (searchable, smaller); no date in the file
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(buffer, format=fmt, metadata=metadata, dpi=120)
        return buffer.getvalue()
