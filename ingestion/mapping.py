"""The mapping file: which files hold which table, what each variable is called, how codes map."""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from synthetic_registers.schema import TABLES, TABLES_BY_NAME

DEFAULT_MAPPING = Path(__file__).with_name("default_mapping.toml")
# A year (and quarter) at the end of a file name: lmdb2015, lmdb_2015, bef2015q4, lpr_adm_2018_12.
_PERIOD_SUFFIX = re.compile(r"[_-]?(19|20)\d\d([_-]?(q[1-4]|\d\d))?$")


class MappingError(ValueError):
    """The mapping file itself is wrong (names an unknown table or variable, bad value)."""


@dataclass(frozen=True)
class TableMapping:
    table: str
    file_stems: tuple[str, ...]
    variants: dict[str, tuple[str, ...]]  # schema variable -> names it may arrive under, in order
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # delivered variables known and deliberately not read (no warning)


@dataclass(frozen=True)
class Mapping:
    path: Path
    tables: dict[str, TableMapping]
    csv_separator: str = ";"
    csv_encoding: str = "latin-1"
    csv_decimal: str = ","
    unknown_code_tolerance: float = 0.001
    earliest_date: dt.date = dt.date(1880, 1, 1)
    latest_date: dt.date = dt.date(2035, 12, 31)

    def table_of(self, path: Path) -> str | None:
        """The schema table a delivered file belongs to, from its name (None: not ours)."""
        stem = _PERIOD_SUFFIX.sub("", path.name.split(".")[0].lower())
        for mapping in self.tables.values():
            if any(fnmatch.fnmatchcase(stem, pattern) for pattern in mapping.file_stems):
                return mapping.table
        return None


def load_mapping(path: Path | None = None) -> Mapping:
    path = path or DEFAULT_MAPPING
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise MappingError(f"{path}: {error}") from None
    declared = data.get("tables", {})
    unknown = sorted(set(declared) - set(TABLES_BY_NAME))
    if unknown:
        raise MappingError(f"{path}: unknown tables {unknown}; the schema has {sorted(TABLES_BY_NAME)}")
    tables = {}
    for table in TABLES:
        entry = declared.get(table.name, {})
        schema_columns = {c.name for c in table.columns}
        for section in ("columns", "codes"):
            extra = sorted(set(entry.get(section, {})) - schema_columns)
            if extra:
                raise MappingError(f"{path}: tables.{table.name}.{section} names unknown variables {extra}")
        variants = {
            c.name: tuple(
                dict.fromkeys([c.name, *(v.lower() for v in entry.get("columns", {}).get(c.name, []))])
            )
            for c in table.columns
        }
        stems = tuple(dict.fromkeys([table.name, *(s.lower() for s in entry.get("files", []))]))
        codes = {
            name: {str(k).upper(): str(v) for k, v in mapping.items()}
            for name, mapping in entry.get("codes", {}).items()
        }
        ignored = tuple(v.lower() for v in entry.get("ignore", []))
        tables[table.name] = TableMapping(table.name, stems, variants, codes, ignored)
    csv = data.get("csv", {})
    validation = data.get("validation", {})
    try:
        return Mapping(
            path=path,
            tables=tables,
            csv_separator=str(csv.get("separator", ";")),
            csv_encoding=str(csv.get("encoding", "latin-1")),
            csv_decimal=str(csv.get("decimal", ",")),
            unknown_code_tolerance=float(validation.get("unknown_code_tolerance", 0.001)),
            earliest_date=dt.date.fromisoformat(str(validation.get("earliest_date", "1880-01-01"))),
            latest_date=dt.date.fromisoformat(str(validation.get("latest_date", "2035-12-31"))),
        )
    except ValueError as error:
        raise MappingError(f"{path}: {error}") from None
