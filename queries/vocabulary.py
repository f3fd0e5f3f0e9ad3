"""The code lists and coverage that validation checks a query against.

``Vocabulary`` is what validation needs from a catalog: the known codes per code system, a
nearest-code suggestion, and the calendar years the extract covers. ``vocabulary_of`` adapts the
register catalog (``synthetic_registers.catalog.Catalog``) when there is one; otherwise the
vocabulary is read from the extract itself (distinct codes, first and last event years).
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

ICD10_LPR = "icd10_lpr"  # diagnoses and causes of death: ICD-10 with the LPR "D" prefix
ICD10_CANCER = "icd10_cancer"  # cancer register: ICD-10 without the prefix
ATC = "atc"


@dataclass(frozen=True)
class Vocabulary:
    codes: Mapping[str, tuple[str, ...]]  # code system -> sorted known full codes
    first_year: int | None = None
    last_year: int | None = None

    @classmethod
    def of(
        cls, codes: Mapping[str, Iterable[str]], first_year: int | None = None, last_year: int | None = None
    ) -> Vocabulary:
        return cls(
            {system: tuple(sorted(set(values))) for system, values in codes.items()}, first_year, last_year
        )

    def has_prefix(self, system: str, prefix: str) -> bool:
        known = self.codes.get(system, ())
        position = bisect.bisect_left(known, prefix)
        return position < len(known) and known[position].startswith(prefix)

    def nearest(self, system: str, prefix: str, limit: int = 5) -> list[str]:
        """Known codes (cut to the prefix's length) closest to an unknown prefix: first those sharing
        its longest possible beginning, then by string similarity."""
        known = self.codes.get(system, ())
        candidates = sorted({code[: len(prefix)] for code in known if len(code) >= len(prefix)})
        for keep in range(len(prefix) - 1, 0, -1):
            sharing = [c for c in candidates if c.startswith(prefix[:keep])]
            if sharing:
                ranked = difflib.get_close_matches(prefix, sharing, n=limit, cutoff=0.0)
                return ranked
        return difflib.get_close_matches(prefix, candidates, n=limit, cutoff=0.0)


def vocabulary_from_extract(data_dir: Path) -> Vocabulary:
    """Known codes and covered years read from the Parquet extract."""
    from queries.storage import raw_parquet_connection

    connection = raw_parquet_connection(data_dir)
    try:

        def distinct(sql: str) -> list[str]:
            return [row[0] for row in connection.execute(sql).fetchall() if row[0] is not None]

        lpr = distinct(
            "SELECT DISTINCT code FROM diagnosis_events UNION SELECT DISTINCT code FROM death_cause_events"
        )
        atc = distinct("SELECT DISTINCT atc FROM prescription_events")
        cancer = distinct("SELECT DISTINCT code FROM cancer_events")
        first, last = connection.execute(
            "SELECT min(y), max(y) FROM ("
            "SELECT year(min(event_date)) y FROM diagnosis_events UNION ALL "
            "SELECT year(max(event_date)) FROM diagnosis_events UNION ALL "
            "SELECT year(min(event_date)) FROM prescription_events UNION ALL "
            "SELECT year(max(event_date)) FROM prescription_events)"
        ).fetchone()
    finally:
        connection.close()
    return Vocabulary.of({ICD10_LPR: lpr, ATC: atc, ICD10_CANCER: cancer}, first, last)


def vocabulary_of(catalog: Any) -> Vocabulary | None:
    """A Vocabulary from whatever the caller holds: a Vocabulary, a register catalog, or None."""
    if catalog is None or isinstance(catalog, Vocabulary):
        return catalog
    adapt = getattr(catalog, "vocabulary", None)
    if isinstance(adapt, Vocabulary):
        return adapt
    return catalog_vocabulary(catalog)


def catalog_vocabulary(catalog: Any) -> Vocabulary:
    """Adapt ``synthetic_registers.catalog.Catalog``: its code lists per code system and its years."""
    codes: dict[str, list[str]] = {ICD10_LPR: [], ATC: [], ICD10_CANCER: []}
    for system, values in catalog_code_lists(catalog).items():
        codes.setdefault(system, []).extend(values)
    first, last = catalog_years(catalog)
    return Vocabulary.of(codes, first, last)


def catalog_code_lists(catalog: Any) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    code_lists = getattr(catalog, "code_lists", {}) or {}
    items = code_lists.items() if isinstance(code_lists, Mapping) else ((cl.name, cl) for cl in code_lists)
    for name, code_list in items:
        system = _system_of(
            str(getattr(code_list, "system", None) or getattr(code_list, "code_system", None) or name)
        )
        if system is None:
            continue
        entries = getattr(code_list, "codes", code_list)
        values = entries.keys() if isinstance(entries, Mapping) else entries
        lists.setdefault(system, []).extend(str(getattr(v, "code", v)) for v in values)
    return lists


def _system_of(name: str) -> str | None:
    lowered = name.lower()
    if "atc" in lowered:
        return ATC
    if "cancer" in lowered or "without" in lowered:
        return ICD10_CANCER
    if "icd" in lowered or "diag" in lowered or "death" in lowered:
        return ICD10_LPR
    return None


def catalog_years(catalog: Any) -> tuple[int | None, int | None]:
    years = getattr(catalog, "years", None)
    if years is not None:
        years = tuple(years)
        return (min(years), max(years)) if years else (None, None)
    return getattr(catalog, "first_year", None), getattr(catalog, "last_year", None)


def load_catalog(data_dir: Path) -> Any:
    """The register catalog of an extract when the generator provides one, else its own vocabulary."""
    try:
        from synthetic_registers.catalog import Catalog  # type: ignore[import-not-found]
    except ImportError:
        return vocabulary_from_extract(data_dir)
    try:
        return Catalog.load(data_dir)
    except (FileNotFoundError, duckdb.Error, ValueError):
        return vocabulary_from_extract(data_dir)
