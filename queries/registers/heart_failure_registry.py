"""The Danish Heart Failure Registry (Dansk Hjertesvigtdatabase, RKKP), table ``dhd``: a patient's
first hospital contact for heart failure with reduced ejection fraction from 2003, with NYHA class
and whether each quality indicator was fulfilled ('Ja') or not ('Nej')."""

from __future__ import annotations

from typing import Annotated, Literal

import sqlglot
from pydantic import Field
from sqlglot import exp

from queries.base_model import Model
from queries.registers import (
    DeclaredConcept,
    DeclaredRegister,
    Relation,
    Row,
    all_of,
    column,
)

HeartFailureIndicator = Literal["echocardiography", "raas_inhibitor", "beta_blocker", "exercise_training"]
# the relation's name of each indicator -> the table's column
INDICATOR_COLUMNS: dict[str, str] = {
    "echocardiography": "ind_ekko",
    "raas_inhibitor": "ind_raas",
    "beta_blocker": "ind_betablok",
    "exercise_training": "ind_traening",
}


class HeartFailureRegistrationConcept(Model):
    """A registration in the Danish Heart Failure Registry (RKKP): a patient's first hospital contact
    for heart failure with reduced ejection fraction from 2003, dated on the registration date."""

    type: Literal["heart_failure_registration"] = "heart_failure_registration"
    nyha_classes: Annotated[tuple[Literal[1, 2, 3, 4], ...], Field(min_length=1)] | None = Field(
        default=None, description="NYHA functional classes (1-4) the registration must have; null = any"
    )
    indicator_not_fulfilled: HeartFailureIndicator | None = Field(
        default=None,
        description="only registrations where this quality indicator was not fulfilled "
        "(echocardiography, RAAS inhibitor, beta-blocker, exercise training); null = any",
    )


REGISTRATIONS = Relation(
    name="heart_failure_registrations",
    # pnr, event_date, nyha, echocardiography, raas_inhibitor, beta_blocker, exercise_training
    sql=sqlglot.select(
        "pnr",
        exp.alias_("d_registrering", "event_date"),
        "nyha",
        *(exp.alias_(table_column, name) for name, table_column in INDICATOR_COLUMNS.items()),
    ).from_("dhd"),
    layout_order="event_date, pnr",
    reference_rows=lambda rows: [
        {
            "pnr": row["pnr"],
            "event_date": row["d_registrering"],
            "nyha": row["nyha"],
            **{name: row[table_column] for name, table_column in INDICATOR_COLUMNS.items()},
        }
        for row in rows("dhd")
    ],
)


def registration_condition(concept: HeartFailureRegistrationConcept, table: str | None) -> exp.Expression:
    conditions: list[exp.Expression] = []
    if concept.nyha_classes is not None:
        classes = [exp.Literal.number(c) for c in sorted(set(concept.nyha_classes))]
        conditions.append(column("nyha", table).isin(*classes))
    if concept.indicator_not_fulfilled is not None:
        not_fulfilled = exp.Literal.string("Nej")
        conditions.append(
            exp.EQ(this=column(concept.indicator_not_fulfilled, table), expression=not_fulfilled)
        )
    return all_of(conditions)


def registration_matches(concept: HeartFailureRegistrationConcept, row: Row) -> bool:
    if concept.nyha_classes is not None and row["nyha"] not in concept.nyha_classes:
        return False
    indicator = concept.indicator_not_fulfilled
    return indicator is None or row[indicator] == "Nej"


REGISTER = DeclaredRegister(
    tables=("dhd",),
    relations=(REGISTRATIONS,),
    concepts=(
        DeclaredConcept(
            HeartFailureRegistrationConcept,
            REGISTRATIONS,
            {"type": "heart_failure_registration", "nyha_classes": [3, 4]},
            registration_condition,
            registration_matches,
        ),
    ),
)
