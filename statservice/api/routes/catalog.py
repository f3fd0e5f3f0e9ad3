"""The register catalog: registers, variables, coverage years, data owners and code lists.

The catalog publishes no person counts at all (not even large ones), so nothing here can fall below
the threshold or be differenced.

The endpoints are sync (run in the threadpool): the first call reads the extract's catalog and a code
search scans lists of thousands of codes, neither of which may hold up the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from statservice.api.deps import CurrentPrincipal, ServiceDep
from statservice.api.openapi import problems
from statservice.api.schemas import (
    CodeListPublic,
    CodePublic,
    DataOwnerPublic,
    Page,
    RegisterDetail,
    RegisterPublic,
    VariablePublic,
)
from statservice.core.errors import Invalid, NotFound
from synthetic_registers.schema import TABLES

router = APIRouter(prefix="/catalog", tags=["catalog"], responses=problems(503))

# ``q`` is the search text's name; ``search`` is its first name, still accepted (published in
# earlier schemas and used by existing clients) and marked deprecated.
SearchAlias = Annotated[
    str | None,
    Query(max_length=80, deprecated=True, description="the same as `q` (its former name)"),
]


def search_text(q: str | None, search: str | None) -> str | None:
    """The one search text of ``q`` and its alias ``search``; a 422 if they disagree."""
    if q is not None and search is not None and q != search:
        raise Invalid(
            "give the search text once: q (search is its former name)",
            errors=[
                {
                    "field": "query:search",
                    "message": "differs from q",
                    "valid": "leave it out, or the same as q",
                }
            ],
        )
    return q if q is not None else search


def _variables(table) -> list[VariablePublic]:
    """Variables of a catalog table (``TableInfo.variables``) or a schema table (``Table.columns``)."""
    out = []
    for v in getattr(table, "variables", None) or table.columns:
        out.append(
            VariablePublic(
                table=table.name,
                name=v.name,
                type=getattr(v, "type", None) or v.duckdb_type,
                description=v.description,
                code_system=v.code_system,
                nullable=v.nullable,
            )
        )
    return out


def build_registers(tables) -> dict[str, RegisterDetail]:
    """Registers with owners, coverage years, thresholds, notes and variables; never row counts."""
    grouped: dict[str, list] = {}
    for table in tables:
        grouped.setdefault(table.register, []).append(table)
    out = {}
    for name, members in grouped.items():
        firsts = [t.coverage[0] for t in members]
        lasts = [t.coverage[1] for t in members]
        out[name] = RegisterDetail(
            name=name,
            owner=members[0].owner,
            description=members[0].description,
            tables=[t.name for t in members],
            coverage_first_year=None if None in firsts else min(firsts),
            coverage_last_year=None if None in lasts else max(lasts),
            minimum_cell_count=max(t.minimum_cell_count for t in members),
            notes=list(dict.fromkeys(note for t in members for note in t.notes)),
            variables=[v for t in members for v in _variables(t)],
        )
    return out


def _registers(service) -> dict[str, RegisterDetail]:
    cached = getattr(service, "_catalog_registers", None)
    if cached is None:
        try:
            tables = list(service.catalog.tables.values())  # coverage years of this extract
        except (FileNotFoundError, OSError, ValueError, KeyError):
            tables = list(TABLES)  # no extract (yet): the schema's registers and nominal coverage
        cached = build_registers(tables)
        service._catalog_registers = cached
    return cached


@router.get("/registers", response_model=list[RegisterPublic], summary="Registers, owners and coverage")
def list_registers(principal: CurrentPrincipal, service: ServiceDep) -> list[RegisterPublic]:
    return [RegisterPublic(**r.model_dump(exclude={"variables"})) for r in _registers(service).values()]


@router.get("/registers/{name}", response_model=RegisterDetail, summary="One register with its variables")
def get_register(
    name: Annotated[str, Path(max_length=80, examples=["LMDB"])],
    principal: CurrentPrincipal,
    service: ServiceDep,
):
    registers = _registers(service)
    register = registers.get(name)
    if register is None:
        raise NotFound(f"register {name!r} not found; known: {', '.join(registers)}")
    return register


@router.get(
    "/variables", response_model=list[VariablePublic], summary="Variables, optionally of one register"
)
def list_variables(
    principal: CurrentPrincipal,
    service: ServiceDep,
    register: Annotated[str | None, Query(max_length=80)] = None,
    q: Annotated[
        str | None, Query(max_length=80, description="substring of name or description", examples=["atc"])
    ] = None,
    search: SearchAlias = None,
) -> list[VariablePublic]:
    search = search_text(q, search)
    registers = _registers(service)
    if register is not None and register not in registers:
        raise NotFound(f"register {register!r} not found")
    chosen = [registers[register]] if register else list(registers.values())
    variables = [v for r in chosen for v in r.variables]
    if search:
        needle = search.lower()
        variables = [v for v in variables if needle in v.name.lower() or needle in v.description.lower()]
    return variables


@router.get("/data-owners", response_model=list[DataOwnerPublic], summary="Data owners and their registers")
def list_owners(principal: CurrentPrincipal, service: ServiceDep) -> list[DataOwnerPublic]:
    owners: dict[str, list[str]] = {}
    for register in _registers(service).values():
        owners.setdefault(register.owner, []).append(register.name)
    return [DataOwnerPublic(name=name, registers=sorted(regs)) for name, regs in sorted(owners.items())]


def _code_lists(service) -> dict[str, tuple[str | None, list[tuple[str, str]]]]:
    """name -> (description, [(code, name)]) from the register catalog."""
    return service.code_lists()


@router.get("/code-lists", response_model=list[CodeListPublic], summary="Code lists (ICD-10, ATC, ...)")
def list_code_lists(principal: CurrentPrincipal, service: ServiceDep) -> list[CodeListPublic]:
    return [
        CodeListPublic(name=name, description=description, codes=len(codes))
        for name, (description, codes) in _code_lists(service).items()
    ]


@router.get(
    "/code-lists/{name}",
    response_model=Page[CodePublic],
    summary="Codes of one list, searched by code, name or synonym (brand names, abbreviations)",
)
def search_codes(
    name: Annotated[str, Path(max_length=80, examples=["atc"])],
    principal: CurrentPrincipal,
    service: ServiceDep,
    q: Annotated[
        str | None,
        Query(
            max_length=80,
            description=(
                "a code or code prefix, words of the name, or a synonym (Ozempic, GLP-1, DOAC, MI, COPD); "
                "case, spaces and hyphens are ignored. Ranked: the exact code, codes starting with it, "
                "then name and synonym matches, whole before partial"
            ),
            examples=["A10B", "diabetes", "GLP-1"],
        ),
    ] = None,
    search: SearchAlias = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[CodePublic]:
    text = search_text(q, search)
    lists = _code_lists(service)
    if name not in lists:
        raise NotFound(f"code list {name!r} not found; known: {', '.join(sorted(lists))}")
    code_list = service.code_list(name)
    if text and text.strip():
        codes = [(c.code, c.name) for c in code_list.search(text, limit=None)]
    else:
        codes = lists[name][1]
    page = codes[offset : offset + limit]
    return Page[CodePublic](
        items=[CodePublic(code=c, name=n, synonyms=list(code_list.synonyms(c))) for c, n in page],
        total=len(codes),
        limit=limit,
        offset=offset,
    )
