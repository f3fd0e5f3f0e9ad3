"""The register catalog: registers, variables, coverage years, data owners and code lists.

The catalog publishes no person counts at all (not even large ones), so nothing here can fall below
the threshold or be differenced.
"""

from __future__ import annotations

from functools import cache
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
from statservice.core.errors import NotFound
from synthetic_registers.schema import TABLES

router = APIRouter(prefix="/catalog", tags=["catalog"], responses=problems(503))


@cache
def _registers() -> dict[str, RegisterDetail]:
    grouped: dict[str, list] = {}
    for table in TABLES:
        grouped.setdefault(table.register, []).append(table)
    out = {}
    for name, tables in grouped.items():
        firsts = [t.coverage[0] for t in tables]
        lasts = [t.coverage[1] for t in tables]
        out[name] = RegisterDetail(
            name=name,
            owner=tables[0].owner,
            description=tables[0].description,
            tables=[t.name for t in tables],
            coverage_first_year=None if None in firsts else min(firsts),
            coverage_last_year=None if None in lasts else max(lasts),
            minimum_cell_count=max(t.minimum_cell_count for t in tables),
            notes=[note for t in tables for note in t.notes],
            variables=[
                VariablePublic(
                    table=t.name,
                    name=c.name,
                    type=c.duckdb_type,
                    description=c.description,
                    code_system=c.code_system,
                    nullable=c.nullable,
                )
                for t in tables
                for c in t.columns
            ],
        )
    return out


@router.get("/registers", response_model=list[RegisterPublic], summary="Registers, owners and coverage")
def list_registers(principal: CurrentPrincipal) -> list[RegisterPublic]:
    return [RegisterPublic(**r.model_dump(exclude={"variables"})) for r in _registers().values()]


@router.get("/registers/{name}", response_model=RegisterDetail, summary="One register with its variables")
def get_register(name: Annotated[str, Path(max_length=80, examples=["LMDB"])], principal: CurrentPrincipal):
    register = _registers().get(name)
    if register is None:
        raise NotFound(f"register {name!r} not found; known: {', '.join(_registers())}")
    return register


@router.get(
    "/variables", response_model=list[VariablePublic], summary="Variables, optionally of one register"
)
def list_variables(
    principal: CurrentPrincipal,
    register: Annotated[str | None, Query(max_length=80)] = None,
    search: Annotated[
        str | None, Query(max_length=80, description="substring of name or description")
    ] = None,
) -> list[VariablePublic]:
    registers = _registers()
    if register is not None and register not in registers:
        raise NotFound(f"register {register!r} not found")
    chosen = [registers[register]] if register else list(registers.values())
    variables = [v for r in chosen for v in r.variables]
    if search:
        needle = search.lower()
        variables = [v for v in variables if needle in v.name.lower() or needle in v.description.lower()]
    return variables


@router.get("/data-owners", response_model=list[DataOwnerPublic], summary="Data owners and their registers")
def list_owners(principal: CurrentPrincipal) -> list[DataOwnerPublic]:
    owners: dict[str, list[str]] = {}
    for register in _registers().values():
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
    summary="Codes of one list, searched by code prefix or by words in the name",
)
def search_codes(
    name: Annotated[str, Path(max_length=80, examples=["atc"])],
    principal: CurrentPrincipal,
    service: ServiceDep,
    search: Annotated[str | None, Query(max_length=80, examples=["A10B", "diabetes"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[CodePublic]:
    lists = _code_lists(service)
    if name not in lists:
        raise NotFound(f"code list {name!r} not found; known: {', '.join(sorted(lists))}")
    codes = lists[name][1]
    if search:
        needle = search.strip().lower()
        codes = [(c, n) for c, n in codes if c.lower().startswith(needle) or needle in n.lower()]
    page = codes[offset : offset + limit]
    return Page[CodePublic](
        items=[CodePublic(code=c, name=n) for c, n in page], total=len(codes), limit=limit, offset=offset
    )
