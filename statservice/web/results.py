"""A release as a person reads it: formatted tables, a plot, and the disclosure report in words.

Everything here is built from the release as stored (``ReleasePublic``): released values and the
marker of a hidden cell. No true count is ever at hand, so none can leak into a page or a plot."""

from __future__ import annotations

import html
import io
import threading
from dataclasses import dataclass
from typing import Any

HIDDEN = "hidden"  # how a suppressed cell is shown (the report says why, in general terms)
TOTAL = "Total"


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _category(value: Any) -> str:
    return TOTAL if value is None else str(value).replace("_", " ")


@dataclass(frozen=True)
class ShownTable:
    title: str
    label_columns: int  # the first columns name the cell (its categories); the rest are numbers
    header: list[str]
    rows: list[list[str]]
    hidden: int


def shown_tables(release: dict[str, Any]) -> list[ShownTable]:
    out = []
    for table in release["tables"]:
        dimensions = [d.replace("_", " ").capitalize() for d in table["dimensions"]]
        derived = list(table.get("derived_columns") or [])
        header = [*dimensions, "Persons", *(d.replace("_", " ") for d in derived)]
        rows, hidden = [], 0
        for cell in table["cells"]:
            released = cell["status"] == "released"
            hidden += not released
            value = _number(cell["value"]) if released else HIDDEN
            extra = [_number(cell.get("derived", {}).get(d)) if released else "" for d in derived]
            rows.append([*(_category(c) for c in cell["coordinates"]), value, *extra])
        out.append(ShownTable(table["title"], len(dimensions), header, rows, hidden))
    return out


def report_in_words(release: dict[str, Any]) -> list[str]:
    """The customer's disclosure report as sentences."""
    report = release["report"]
    sentences = []
    for table in report.get("tables", []):
        hidden = table.get("suppressed", 0)
        cells = table.get("cells", 0)
        if hidden:
            sentences.append(
                f"{table['title']}: {hidden} of {cells} cells are hidden to protect the persons in them."
            )
        else:
            sentences.append(f"{table['title']}: all {cells} cells are released.")
        if table.get("rounding_base"):
            sentences.append(
                f"{table['title']}: counts are rounded to a multiple of {table['rounding_base']}."
            )
    sentences.extend(report.get("notes", []))
    if report.get("noise"):
        sentences.append(f"Noise was added to the counts ({report['noise']}).")
    rho = report.get("rho_spent") or 0
    sentences.append(
        f"This release spent {rho:g} of the organisation's privacy budget (rho)."
        if rho
        else "This release spent none of the organisation's privacy budget."
    )
    sentences.extend(report.get("advice", []))
    sentences.append(
        f"Data version {report.get('data_version')}, disclosure policy {report.get('policy_version')}."
    )
    return [str(s) for s in sentences]


def plot_svg(release: dict[str, Any]) -> str | None:
    """A bar chart of the first table's released cells (margins left out), as SVG text; None when the
    table has nothing to draw or more than two breakdowns. A hidden cell has no bar, only the word
    "hidden"."""
    if not release["tables"]:
        return None
    table = release["tables"][0]
    if len(table["dimensions"]) > 2:  # more breakdowns than a bar chart shows clearly: the table only
        return None
    # the margins (a None coordinate) are in the table below; the bars are the inner cells
    cells = [c for c in table["cells"] if all(x is not None for x in c["coordinates"])]
    if not cells:
        return None

    with _PLOT_LOCK, _svg_settings():
        return _bar_chart(table, cells)


def _bar_chart(table: dict[str, Any], cells: list[dict[str, Any]]) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG  # imported on first plot: ~0.3 s
    from matplotlib.figure import Figure

    dimensions = table["dimensions"]
    first = table["categories"][0] if dimensions else [None]
    series = table["categories"][1] if len(dimensions) >= 2 else [None]
    value_of = {tuple(c["coordinates"][:2]): c for c in cells}
    figure = Figure(figsize=(7, 3.6))
    FigureCanvasSVG(figure)
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    for s, name in enumerate(series):
        xs, heights, hidden_at = [], [], []
        for i, category in enumerate(first):
            key = () if not dimensions else (category,) if len(dimensions) == 1 else (category, name)
            cell = value_of.get(key)
            x = i + (s - (len(series) - 1) / 2) * width
            if cell is None or cell["status"] != "released" or cell["value"] is None:
                hidden_at.append(x)
                continue
            xs.append(x)
            heights.append(float(cell["value"]))
        axes.bar(xs, heights, width=width * 0.95, label=_category(name) if name is not None else None)
        for x in hidden_at:
            axes.annotate(HIDDEN, (x, 0), ha="center", va="bottom", fontsize=8, rotation=90)
    axes.set_xticks(range(len(first)), [_category(c) for c in first])
    axes.set_ylabel("Persons")
    axes.set_title(table["title"])
    if dimensions:
        axes.set_xlabel(dimensions[0].replace("_", " ").capitalize())
    if len(series) > 1:
        axes.legend(title=dimensions[1].replace("_", " ").capitalize())
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})  # the same release, the same file
    return buffer.getvalue()


def inline_svg(svg: str, label: str) -> str:
    """The SVG document as an element of a page: without its XML prolog, an image named by ``label``."""
    element = svg[svg.index("<svg") :]
    return element.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" ', 1)


# matplotlib's settings are process-global: one plot at a time, under the settings below
_PLOT_LOCK = threading.Lock()


def _svg_settings():
    """Text stays text (searchable, smaller); a fixed hash salt makes a release's SVG the same each time."""
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "statservice", "font.size": 10})
