"""The catalog of a generated register extract: tables, variables, code lists, data version.

Written as ``catalog.json`` next to the Parquet tables and loaded with ``Catalog.load(dir)``. It is
what customers browse and what query validation checks codes against; code lists come from the
package data, so the catalog and the data agree by construction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synthetic_registers.codes import (
    SKS_PROCEDURES,
    Code,
    CodeList,
    Icd10List,
    atc_list,
    cancer_icd10_list,
    icd10_list,
    municipalities,
    sks_procedure_list,
)
from synthetic_registers.laboratory import LAB_ANALYSES, analysis_list
from synthetic_registers.quality_databases import QUALITY_DATABASE_ENUMERATIONS
from synthetic_registers.schema import TABLES, Table

CATALOG_FILE = "catalog.json"

# enumerated code systems: value -> label, published with the catalog
ENUMERATIONS: dict[str, dict[str, str]] = {
    "CPR sex": {"1": "male", "2": "female"},
    "LPR patient type": {"0": "inpatient (admission)", "1": "outpatient", "2": "emergency room"},
    "LPR diagnosis type": {"A": "action (primary) diagnosis", "B": "secondary (bi-) diagnosis"},
    "SKS contact type": {"ALCA00": "physical attendance", "ALCA10": "virtual contact"},
    "SKS priority": {"ATA1": "acute", "ATA3": "planned"},
    "yes/no": {"Ja": "yes", "Nej": "no"},
    "DST region": {
        "1081": "Nordjylland",
        "1082": "Midtjylland",
        "1083": "Syddanmark",
        "1084": "Hovedstaden",
        "1085": "Sjælland",
    },
    "DST/ISCED level": {
        "10": "primary and lower secondary",
        "20": "general upper secondary",
        "30": "vocational",
        "40": "short-cycle tertiary",
        "50": "medium-cycle tertiary",
        "60": "bachelor",
        "70": "master",
        "80": "PhD",
    },
    "biobank sample type": {
        t: t.replace("_", " ")
        for t in ("dried_blood_spot", "serum", "plasma", "whole_blood", "dna", "tissue")
    },
    # each clinical quality database declares its own with its generator
    **QUALITY_DATABASE_ENUMERATIONS,
}
CANCER_CODES = "ICD-10 without D prefix"
CODE_SYSTEM_LISTS = {
    "ICD-10 (D prefix)": "ICD-10",
    "ICD-10": CANCER_CODES,
    "ATC": "ATC",
    "SKS procedure": SKS_PROCEDURES,
    "NPU/DNK analysis": LAB_ANALYSES,
}


@dataclass(frozen=True)
class VariableInfo:
    name: str
    type: str
    description: str
    code_system: str | None
    nullable: bool


@dataclass(frozen=True)
class TableInfo:
    name: str
    register: str
    owner: str
    description: str
    coverage: tuple[int, int]
    minimum_cell_count: int
    person_level: bool
    rows: int
    variables: tuple[VariableInfo, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def variable(self, name: str) -> VariableInfo:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"{self.name} has no variable {name!r}")


def _coverage(table: Table, start_year: int, end_year: int) -> tuple[int, int]:
    """The calendar years of an extract from ``start_year`` to ``end_year`` that the table covers."""
    first, last = table.coverage
    if table.history_from is not None:
        start_year = table.history_from
    elif first is not None:
        start_year = max(start_year, first)
    return start_year, end_year if last is None else min(end_year, last)


class Catalog:
    """What a generated extract contains, with searchable code lists."""

    def __init__(self, metadata: dict, tables: dict[str, TableInfo]) -> None:
        self.metadata = metadata
        self.tables = tables
        self.code_lists: dict[str, CodeList] = {
            "ICD-10": icd10_list(),
            "ATC": atc_list(),
            CANCER_CODES: cancer_icd10_list(),
            SKS_PROCEDURES: sks_procedure_list(),
            LAB_ANALYSES: analysis_list(),
        }

    @property
    def data_version(self) -> str:
        return self.metadata["data_version"]

    @property
    def first_year(self) -> int:
        return self.metadata["start_year"]

    @property
    def last_year(self) -> int:
        return self.metadata["end_year"]

    @property
    def years(self) -> range:
        return range(self.first_year, self.last_year + 1)

    def table(self, name: str) -> TableInfo:
        return self.tables[name]

    def code_list(self, code_system: str) -> CodeList | None:
        """The code list behind a variable's code system (None for free values and pseudonyms)."""
        return self.code_lists.get(CODE_SYSTEM_LISTS.get(code_system, code_system))

    @property
    def icd10(self) -> Icd10List:
        return self.code_lists["ICD-10"]  # type: ignore[return-value]

    @property
    def atc(self) -> CodeList:
        return self.code_lists["ATC"]

    def search_codes(self, system: str, text: str, limit: int = 25) -> list[Code]:
        return self.code_lists[system].search(text, limit)

    def nearest_codes(self, system: str, code: str, n: int = 5) -> list[Code]:
        return self.code_lists[system].nearest(code, n)

    def to_dict(self) -> dict:
        return {
            **self.metadata,
            "tables": {name: asdict(info) for name, info in self.tables.items()},
            "enumerations": ENUMERATIONS,
            "municipalities": {str(m.kom): {"name": m.name, "region": m.reg} for m in municipalities()},
            "code_lists": {
                system: [{"code": c.code, "name": c.name} for c in codes.codes]
                for system, codes in self.code_lists.items()
            },
        }

    def write(self, directory: Path) -> Path:
        path = Path(directory) / CATALOG_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def build(cls, metadata: dict, rows: dict[str, int]) -> Catalog:
        start, end = metadata["start_year"], metadata["end_year"]
        tables = {
            t.name: TableInfo(
                name=t.name,
                register=t.register,
                owner=t.owner,
                description=t.description,
                coverage=_coverage(t, start, end),
                minimum_cell_count=t.minimum_cell_count,
                person_level=t.person_level,
                rows=rows.get(t.name, 0),
                variables=tuple(
                    VariableInfo(c.name, c.duckdb_type, c.description, c.code_system, c.nullable)
                    for c in t.columns
                ),
                notes=t.notes,
            )
            for t in TABLES
        }
        return cls(metadata, tables)

    @classmethod
    def load(cls, directory: str | Path) -> Catalog:
        data = json.loads((Path(directory) / CATALOG_FILE).read_text(encoding="utf-8"))
        tables = {}
        for name, info in data["tables"].items():
            variables = tuple(VariableInfo(**v) for v in info.pop("variables"))
            tables[name] = TableInfo(
                variables=variables,
                coverage=tuple(info.pop("coverage")),
                notes=tuple(info.pop("notes")),
                **info,
            )
        skip = {"tables", "enumerations", "municipalities", "code_lists"}
        return cls({k: v for k, v in data.items() if k not in skip}, tables)
