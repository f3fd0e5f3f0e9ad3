"""The code lists and coverage that validation checks a query against.

``Vocabulary`` is what validation needs: the known codes per code system, nearest known codes
for an unknown prefix, and the calendar years the extract covers. ``vocabulary_of`` adapts the
register catalog (``synthetic_registers.catalog.Catalog``); extracts without a catalog (the
hand-written test registers) get a vocabulary read from the data itself.
"""

from __future__ import annotations

import bisect
import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthetic_registers.catalog import CANCER_CODES, CATALOG_FILE, Catalog

ICD10_LPR = "icd10_lpr"  # diagnoses and causes of death: ICD-10 with the LPR "D" prefix
ICD10_CANCER = "icd10_cancer"  # cancer register: ICD-10 without the prefix
ATC = "atc"

# catalog code list name -> our code system
CATALOG_SYSTEMS = {"ICD-10": ICD10_LPR, "ATC": ATC, CANCER_CODES: ICD10_CANCER}


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
    """A Vocabulary from what the caller holds: a Vocabulary, a register catalog, or None."""
    if catalog is None or isinstance(catalog, Vocabulary):
        return catalog
    if isinstance(catalog, Catalog):
        return catalog_vocabulary(catalog)
    raise TypeError(f"cannot validate codes against {type(catalog).__name__}")


@functools.lru_cache(maxsize=8)
def _catalog_codes(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    codes: dict[str, list[str]] = {}
    for name, code_list in catalog.code_lists.items():
        system = CATALOG_SYSTEMS.get(name)
        if system is not None:
            codes.setdefault(system, []).extend(code.code for code in code_list.codes)
    return {system: tuple(sorted(set(values))) for system, values in codes.items()}


def catalog_vocabulary(catalog: Catalog) -> Vocabulary:
    """The register catalog's code lists (diagnoses and causes of death in LPR form, cancer codes
    without the D, ATC) and its covered years."""
    return Vocabulary(_catalog_codes(catalog), catalog.first_year, catalog.last_year)


def load_catalog(data_dir: Path) -> Catalog | Vocabulary:
    """The register catalog of an extract (``catalog.json``) when it has one, else a vocabulary read
    from the extract itself (hand-written test registers have no catalog)."""
    if (Path(data_dir) / CATALOG_FILE).exists():
        return Catalog.load(data_dir)
    return vocabulary_from_extract(Path(data_dir))
