"""A yearly statistic as lines over the years: one panel per measure (incident, prevalent), one line per
remaining category (sex, region, age band). Drawn from released values only: a hidden cell is a gap
in its line, never a point.

Used for the public statistics, whose tables have the year as their first breakdown and up to three
breakdowns (more than the bar chart of ``results.plot_svg`` shows)."""

from __future__ import annotations

import io
import math
from typing import Any

from statservice.web.plots import _PLOT_LOCK, _category, plot_settings

YEAR_DIMENSIONS = ("year", "index_year")
MEASURE_DIMENSION = "measure"
MAX_LINES = 12  # more lines than a reader can tell apart: the table only


def _label(dimension: str) -> str:
    return dimension.replace("_", " ").capitalize()


def trend_svg(table: dict[str, Any]) -> str | None:
    """The table as an SVG line chart, or None if its first breakdown is not the year or it would
    need more than ``MAX_LINES`` lines in a panel."""
    dimensions = list(table["dimensions"])
    if not dimensions or dimensions[0] not in YEAR_DIMENSIONS:
        return None
    categories = list(table["categories"])
    panel_at = dimensions.index(MEASURE_DIMENSION) if MEASURE_DIMENSION in dimensions else None
    panels = categories[panel_at] if panel_at is not None else [None]
    series_at = [i for i in range(1, len(dimensions)) if i != panel_at]
    if len(series_at) > 1:
        return None
    series = categories[series_at[0]] if series_at else [None]
    if len(series) > MAX_LINES:
        return None
    # the margins (a None coordinate) stay in the table; the lines are the inner cells
    value_of = {
        tuple(cell["coordinates"]): cell["value"] if cell["status"] == "released" else None
        for cell in table["cells"]
        if all(c is not None for c in cell["coordinates"])
    }
    if not any(v is not None for v in value_of.values()):
        return None
    with _PLOT_LOCK, plot_settings():
        return _draw(table, dimensions, categories[0], panels, panel_at, series, series_at, value_of)


def _draw(table, dimensions, years, panels, panel_at, series, series_at, value_of) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG  # imported on first plot
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.6 * len(panels) + 1.2, 3.4))
    FigureCanvasSVG(figure)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, panel in zip(axes_list, panels, strict=True):
        for name in series:
            ys = []
            for year in years:
                coordinates = [None] * len(dimensions)
                coordinates[0] = year
                if panel_at is not None:
                    coordinates[panel_at] = panel
                if series_at:
                    coordinates[series_at[0]] = name
                value = value_of.get(tuple(coordinates))
                ys.append(math.nan if value is None else float(value))  # NaN: a gap, not a zero
            axes.plot(
                [str(y) for y in years], ys, marker="o", label=_category(name) if name is not None else None
            )
        axes.set_title(_category(panel) if panel is not None else "")
        axes.set_xlabel(_label(dimensions[0]))
        axes.set_ylabel("Persons")
        axes.set_ylim(bottom=0)
        axes.spines[["top", "right"]].set_visible(False)
    if series_at:
        axes_list[-1].legend(title=_label(dimensions[series_at[0]]), fontsize=8, title_fontsize=8)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})  # the same release, the same file
    return buffer.getvalue()
