"""A release as a person reads it: formatted tables, a plot, and the disclosure report in words.

Everything here is built from the release as stored (``ReleasePublic``): released values and the
marker of a hidden cell. No true count is ever at hand, so none can leak into a page or a plot."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from disclosure.magnitude import VALUE_COLUMNS
from statservice.web import plots

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


def _derived(cell: dict[str, Any], column: str) -> str:
    """A derived value; a mean, SD or quartile the magnitude rules withheld reads "hidden" (a row
    without the column, a count's row in a Table 1, stays blank)."""
    values = cell.get("derived") or {}
    if column in VALUE_COLUMNS and column in values and values[column] is None:
        return HIDDEN
    return _number(values.get(column))


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
            extra = [_derived(cell, d) if released else "" for d in derived]
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
    """The release's plot (``statservice.web.plots``) as SVG text; None when no plot is drawn of it."""
    plot = plots.plot_of(release)
    return plots.render(plot, "svg").decode() if plot else None


def inline_svg(svg: str, label: str) -> str:
    """The SVG document as an element of a page: without its XML prolog, an image named by ``label``."""
    element = svg[svg.index("<svg") :]
    return element.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" ', 1)
