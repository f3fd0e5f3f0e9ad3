"""The Danish Adult Diabetes Registry (Dansk Voksen Diabetes Database, RKKP), table ``dvdd``: a
yearly status of each adult with diabetes seen at a hospital outpatient clinic, with diabetes type,
HbA1c and whether each screening indicator was met ('Ja') or not ('Nej')."""

from __future__ import annotations

from typing import Annotated, Literal

import sqlglot
from pydantic import Field
from sqlglot import exp

from queries.base_model import Model
from queries.registers import DeclaredConcept, DeclaredRegister, Relation, Row, all_of, column

DiabetesIndicator = Literal["eye_examination", "foot_examination", "urine_albumin"]
# the relation's name of each indicator -> the table's column
INDICATOR_COLUMNS: dict[str, str] = {
    "eye_examination": "ind_oejne",
    "foot_examination": "ind_fod",
    "urine_albumin": "ind_albuminuri",
}


class DiabetesStatusConcept(Model):
    """A yearly status in the Danish Adult Diabetes Registry (RKKP) from a hospital outpatient
    clinic, from 2005, dated on the clinic visit it was recorded at."""

    type: Literal["diabetes_status"] = "diabetes_status"
    diabetes_types: Annotated[tuple[Literal[1, 2], ...], Field(min_length=1)] | None = Field(
        default=None, description="diabetes types (1, 2) the status must record; null = any"
    )
    hba1c_min: float | None = Field(
        default=None, ge=0, description="only statuses with an HbA1c at or above this (mmol/mol)"
    )
    indicator_not_fulfilled: DiabetesIndicator | None = Field(
        default=None,
        description="only statuses where this indicator was not met (eye or foot examination in "
        "the last two years, urine albumin measured in the year); null = any",
    )


STATUSES = Relation(
    name="diabetes_statuses",
    # pnr, event_date, diabetes_type, hba1c (mmol/mol, NULL if not measured), eye_examination,
    # foot_examination, urine_albumin
    sql=sqlglot.select(
        "pnr",
        exp.alias_("d_status", "event_date"),
        exp.alias_("diabetestype", "diabetes_type"),
        "hba1c",
        *(exp.alias_(table_column, name) for name, table_column in INDICATOR_COLUMNS.items()),
    ).from_("dvdd"),
    layout_order="event_date, pnr",
    reference_rows=lambda rows: [
        {
            "pnr": row["pnr"],
            "event_date": row["d_status"],
            "diabetes_type": row["diabetestype"],
            "hba1c": row["hba1c"],
            **{name: row[table_column] for name, table_column in INDICATOR_COLUMNS.items()},
        }
        for row in rows("dvdd")
    ],
)


def status_condition(concept: DiabetesStatusConcept, table: str | None) -> exp.Expression:
    conditions: list[exp.Expression] = []
    if concept.diabetes_types is not None:
        types = [exp.Literal.number(t) for t in sorted(set(concept.diabetes_types))]
        conditions.append(column("diabetes_type", table).isin(*types))
    if concept.hba1c_min is not None:  # an HbA1c not measured (NULL) never meets it
        conditions.append(
            exp.GTE(this=column("hba1c", table), expression=exp.Literal.number(concept.hba1c_min))
        )
    if concept.indicator_not_fulfilled is not None:
        not_met = exp.Literal.string("Nej")
        conditions.append(exp.EQ(this=column(concept.indicator_not_fulfilled, table), expression=not_met))
    return all_of(conditions)


def status_matches(concept: DiabetesStatusConcept, row: Row) -> bool:
    if concept.diabetes_types is not None and row["diabetes_type"] not in concept.diabetes_types:
        return False
    if concept.hba1c_min is not None and (row["hba1c"] is None or row["hba1c"] < concept.hba1c_min):
        return False
    indicator = concept.indicator_not_fulfilled
    return indicator is None or row[indicator] == "Nej"


REGISTER = DeclaredRegister(
    tables=("dvdd",),
    relations=(STATUSES,),
    concepts=(
        DeclaredConcept(
            DiabetesStatusConcept,
            STATUSES,
            {"type": "diabetes_status", "diabetes_types": [2], "hba1c_min": 53},
            status_condition,
            status_matches,
        ),
    ),
)
