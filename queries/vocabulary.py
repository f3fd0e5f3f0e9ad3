"""The code lists and coverage that validation checks a query against.

``Vocabulary`` is what validation needs: the known codes per code system, nearest known codes
for an unknown prefix, and the calendar years the extract covers. ``vocabulary_of`` adapts the
register catalog (``synthetic_registers.catalog.Catalog``), whose code lists are package data.

The vocabulary never comes from the rows themselves: the set of codes present in an extract is
information about persons (a code only one person has would be revealed by appearing among the
"nearest known codes" of a validation error). An extract without ``catalog.json`` is therefore
refused (``MissingCatalogError``) rather than served with a vocabulary read from its data.
"""

from __future__ import annotations

import bisect
import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queries.registry import CODE_SYSTEMS
from synthetic_registers.catalog import CATALOG_FILE, Catalog

# catalog code list name -> our code system
CATALOG_SYSTEMS = {system.catalog_list: name for name, system in CODE_SYSTEMS.items()}


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


class MissingCatalogError(FileNotFoundError):
    """The extract has no ``catalog.json``: not a finished extract, and nothing to validate against."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        super().__init__(
            f"the register extract in {self.data_dir} has no {CATALOG_FILE}, so it is unfinished or not "
            "an extract at all; code lists and coverage come only from the catalog, never from the "
            "rows. Regenerate it (statservice generate --out DIR, or make run, which regenerates an "
            "extract lacking its catalog)."
        )


def require_catalog(data_dir: str | Path) -> Path:
    """The path of the extract's ``catalog.json``, or ``MissingCatalogError``."""
    path = Path(data_dir) / CATALOG_FILE
    if not path.is_file():
        raise MissingCatalogError(Path(data_dir))
    return path


def load_catalog(data_dir: str | Path) -> Catalog:
    """The register catalog of an extract (``catalog.json``); ``MissingCatalogError`` without one."""
    require_catalog(data_dir)
    return Catalog.load(data_dir)
