"""An audit record as an auditor reads it: for a release, what was hidden and why, how it was
protected (threshold, noise, degraded protection, the audits run); for a refused or failed run, why.

Built only from the record's payload as the audit log stores it (the auditor view of the disclosure
report), so the page says what the chain holds and nothing else."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from disclosure.report import SuppressionReason

# Why a cell was hidden, in words: one per reason the disclosure report can give (SUPPRESSION_REASONS;
# a test checks that every reason has its words).
REASON_IN_WORDS: dict[str, str] = {
    "primary": "fewer persons than the threshold",
    "secondary": "hidden as well, so that a hidden cell cannot be recomputed from the margins",
    "differencing": "hidden so that it cannot be subtracted from a cell released earlier",
    "total_only": "only the table's total could be released",
}

SUPPRESSION_REASONS: tuple[str, ...] = typing.get_args(SuppressionReason)
RELEASE_ACTION = "release"
REFUSAL_ACTION_PREFIX = "release."  # release.refused, release.failed


@dataclass(frozen=True)
class HiddenCell:
    table: str
    cell: str  # its categories, e.g. "2020, incident, male"
    reason: str  # in words
    interval: str  # what the audit proved an attacker could narrow the true count down to


@dataclass
class AuditorReport:
    """What the record's page shows: headline facts, sentences, and the hidden cells."""

    kind: str  # "release", "refusal" or "record"
    facts: list[tuple[str, str]] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    hidden: list[HiddenCell] = field(default_factory=list)


def _coordinates(coordinates: list[Any]) -> str:
    return ", ".join("total" if c is None else str(c).replace("_", " ") for c in coordinates) or "total"


def _interval(low: int, high: int | None) -> str:
    return f"{low} or more" if high is None else f"{low}–{high}"


def auditor_report(record: dict[str, Any]) -> AuditorReport:
    action = record["action"]
    payload = record.get("payload") or {}
    if action == RELEASE_ACTION:
        return _release_report(payload)
    if action.startswith(REFUSAL_ACTION_PREFIX):
        status = action.removeprefix(REFUSAL_ACTION_PREFIX)
        report = AuditorReport("refusal", facts=[("Run", str(payload.get("run_id", "")))])
        report.sentences.append(f"The run was {status}: {payload.get('detail', 'no detail recorded')}")
        if payload.get("reason"):
            report.sentences.append(f"The rule that decided it: {payload['reason']}.")
        return report
    return AuditorReport("record")


def _release_report(payload: dict[str, Any]) -> AuditorReport:
    report = payload.get("report") or {}
    out = AuditorReport("release")
    line = payload.get("invoice_line") or {}
    out.facts = [
        ("Release", str(payload.get("release_id", ""))),
        ("Run", str(payload.get("run_id", ""))),
        ("Key", f"{payload.get('key_id', '')} ({payload.get('role', '')})"),
        ("Data version", str(report.get("data_version", payload.get("data_version", "")))),
        ("Disclosure policy", str(report.get("policy_version", payload.get("policy_version", "")))),
        ("Threshold", f"{report.get('threshold', '')} persons"),
        ("Privacy budget spent (rho)", f"{payload.get('rho_spent', 0):g}"),
        ("Invoiced", f"{line['net_amount']} {line.get('currency', '')}" if line else "nothing (free)"),
    ]
    tables = report.get("tables", [])
    for table in tables:
        title, cells, hidden = table["title"], table["cells"], table["suppressed"]
        if not hidden:
            out.sentences.append(f"{title}: all {cells} cells released.")
            continue
        parts = [
            f"{table[reason]} {REASON_IN_WORDS[reason]} ({reason})"
            for reason in ("primary", "secondary", "differencing")
            if table.get(reason)
        ]
        out.sentences.append(f"{title}: {hidden} of {cells} cells hidden: " + "; ".join(parts) + ".")
        if table.get("total_only"):
            out.sentences.append(f"{title}: {REASON_IN_WORDS['total_only']}.")
        if table.get("rounding_base"):
            out.sentences.append(f"{title}: rounded to a multiple of {table['rounding_base']}.")
    noise = report.get("noise")
    if noise:
        out.sentences.append(
            f"Noise: {noise['mechanism'].replace('_', ' ')} per {noise.get('privacy_unit', 'one person')}, "
            f"rho {noise['rho']:g} charged; {noise.get('draws_new', 0)} new draws, "
            f"{noise.get('draws_reused', 0)} reused (the same cells asked again get the same noise)."
        )
    audit = report.get("audit") or {}
    if audit.get("degraded"):
        out.sentences.append(f"Protected another way than asked (degraded): {audit['degraded']}")
    if audit:
        out.sentences.append(
            f"Interval audit {'passed' if audit.get('passed') else 'did not pass'} in "
            f"{audit.get('rounds', 0)} rounds ({audit.get('audit_lps', 0)} linear programs), linked to "
            f"{audit.get('linked_earlier_tables', 0)} earlier tables; the overlap audit checked "
            f"{audit.get('atoms', 0)} atoms against {audit.get('earlier_counts', 0)} earlier counts and hid "
            f"{audit.get('hidden_by_atom_audit', 0)} cells."
        )
    guard = report.get("guard")
    if guard:
        out.sentences.append(
            f"Differencing guard: {guard['comparisons']} comparisons; hid {guard['hidden_within_release']} "
            f"cells within the release and {guard['hidden_against_earlier']} against earlier releases."
        )
    out.sentences.extend(report.get("notes", []))
    titles = [table["title"] for table in tables]
    for cell in audit.get("cells", []):
        index = cell["table"]
        out.hidden.append(
            HiddenCell(
                table=titles[index] if 0 <= index < len(titles) else str(index),
                cell=_coordinates(cell["coordinates"]),
                reason=REASON_IN_WORDS.get(cell["reason"], cell["reason"]),
                interval=_interval(cell["low"], cell.get("high")),
            )
        )
    return out
