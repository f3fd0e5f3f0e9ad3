"""Request and response models of the billing resources (quotes, invoices, credit notes, billing
account, bespoke orders, history). Public models of billing's own records are billing's (``billing.*
Public``), so there is one definition of each; money is ``Decimal`` and leaves as a JSON string."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from billing.invoicing import InvoicePublic
from queries.limits import check_json_limits

# PostgreSQL text cannot hold NUL; refuse it in the request instead of failing in the database
TEXT = r"^[^\x00]*$"

# The years a billing date or period may name. Without a bound, year 9999 overflowed the date
# arithmetic (the month after, the due date) into a 500.
FIRST_BILLING_YEAR = 2000
LAST_BILLING_YEAR = 2100
BillingDate = Annotated[
    dt.date,
    Field(ge=dt.date(FIRST_BILLING_YEAR, 1, 1), le=dt.date(LAST_BILLING_YEAR, 12, 31)),
]


# --- invoices and credit notes -------------------------------------------------------------


class InvoiceIssueCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"year": 2026, "month": 10}]},
    )

    year: int = Field(ge=FIRST_BILLING_YEAR, le=LAST_BILLING_YEAR, description="the closed month's year")
    month: int = Field(ge=1, le=12)
    issue_date: BillingDate | None = Field(
        None,
        description="default today (UTC); on or after the first day after the month, and not in the future",
    )


class InvoiceIssuePublic(BaseModel):
    year: int
    month: int
    invoices: list[InvoicePublic] = Field(description="one per organisation with lines to invoice")


class CreditNoteCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "release re-run at our expense", "net_amount": "250.00"}]},
    )

    reason: str = Field(min_length=1, max_length=500, pattern=TEXT)
    net_amount: Decimal | None = Field(
        None,
        gt=0,
        max_digits=14,
        decimal_places=2,
        description="net DKK to credit; default everything not yet credited",
    )


class BillingAccountUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "legal_name": "Aarhus Universitet",
                    "cvr": "31119103",
                    "street": "Nordre Ringgade 1",
                    "city": "Aarhus C",
                    "postal_code": "8000",
                    "country_code": "DK",
                    "email": "faktura@au.dk",
                }
            ]
        },
    )

    legal_name: str = Field(min_length=1, max_length=256, pattern=TEXT)
    cvr: str | None = Field(
        None,
        pattern=r"^[0-9]{8}$",
        description="Danish CVR number (UBL needs it); must pass the modulus-11 check",
    )
    ean: str | None = Field(
        None,
        pattern=r"^[0-9]{13}$",
        description="EAN (GLN) location number where a public buyer receives e-invoices; the UBL's "
        "electronic address when given. Must end in its GS1 check digit",
    )
    street: str | None = Field(None, max_length=256, pattern=TEXT)
    city: str | None = Field(None, max_length=128, pattern=TEXT)
    postal_code: str | None = Field(None, max_length=16, pattern=TEXT)
    country_code: str = Field("DK", pattern=r"^[A-Z]{2}$")
    email: str | None = Field(None, max_length=256, pattern=TEXT)


class BillingAccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    organisation_id: str
    legal_name: str
    cvr: str | None
    street: str | None
    city: str | None
    postal_code: str | None
    country_code: str
    email: str | None
    ean: str | None


# --- bespoke orders ------------------------------------------------------------------------


class OrderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Statin persistence after first MI, by region",
                    "request_text": "Persistence of statin use 1 and 3 years after a first myocardial "
                    "infarction 2012-2018, by region and sex.",
                    "draft_query": {
                        "index": {
                            "concept": {"type": "diagnosis", "codes": ["DI21"]},
                            "period": {"start": "2012-01-01", "end": "2018-12-31"},
                        }
                    },
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200, pattern=TEXT)
    request_text: str = Field(min_length=1, max_length=20_000, pattern=TEXT)
    # not validated as a query (staff refine it), but within the limits of any query JSON: a draft
    # nested 500 deep once made every order listing fail
    draft_query: Annotated[dict[str, Any] | None, BeforeValidator(check_json_limits)] = Field(
        None, description="optional draft query JSON (not validated: staff refine it; at most 32 levels deep)"
    )


class FixedElementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=500, pattern=TEXT)
    net_amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2, description="net DKK")


class OrderEstimateCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "hours": "12.50",
                    "fixed_elements": [
                        {"description": "Data management plan review", "net_amount": "1500.00"}
                    ],
                    "note": "includes two rounds of revisions",
                }
            ]
        },
    )

    hours: Decimal = Field(ge=0, le=100_000, max_digits=8, decimal_places=2)
    fixed_elements: list[FixedElementCreate] = Field(default_factory=list, max_length=50)
    note: str | None = Field(None, max_length=2000, pattern=TEXT)


class OrderNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000, pattern=TEXT)


class OrderDecline(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "cells too small"}]})

    reason: str = Field(min_length=1, max_length=2000, pattern=TEXT)


class HourLogCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"work_date": "2026-11-20", "hours": "3.25", "note": "cohort"}]},
    )

    work_date: BillingDate
    hours: Decimal = Field(gt=0, le=24, max_digits=4, decimal_places=2)
    note: str | None = Field(None, max_length=2000, pattern=TEXT)


class OrderInvoiceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue_date: BillingDate | None = Field(None, description="default today (UTC); not in the future")


# --- history -------------------------------------------------------------------------------


class TimelineItem(BaseModel):
    """One thing in an organisation's history: a query run (with its release and price), or a billing
    record (quote, invoice line not of a run, order, invoice, credit note)."""

    kind: str = Field(
        description="query_run | quote | invoice_line | order | invoice | credit_note",
        examples=["query_run"],
    )
    id: str
    organisation_id: str | None = None
    occurred_at: dt.datetime
    description: str | None = None
    status: str | None = None
    net_amount: Decimal | None = None
    gross_amount: Decimal | None = None
    references: dict[str, str] = Field(default_factory=dict)
    amount_basis: str | None = Field(
        None,
        description="what net_amount is. Orders: invoiced | accepted estimate (what it will cost) | "
        "estimate, not accepted | nothing billed | not estimated yet. Query runs: charged | not charged "
        "(refused or failed: 0.00) | not finished",
        examples=["accepted estimate"],
    )
    # query runs (kind == "query_run"), as before
    run_id: str | None = None
    title: str | None = None
    query_hash: str | None = None
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    release_id: str | None = None
    price: Decimal | None = None
    currency: str | None = None
