"""Staff pages: the order board (request -> estimate -> accept -> start -> runs -> hours -> deliver ->
invoice), acting for an organisation, and monthly invoicing.

Every change of state is the /v1/orders (or /v1/invoices) function of the same name, called with the
signed-in staff principal acting for the order's organisation, so the board and the API share the
state machine, the prices, the audit records and the messages. Forms are CSRF-checked; after a change
the browser is sent back to the order (post/redirect/get), after a refusal the order is shown again
with the reason at the form that was sent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from billing import orders as billing_orders
from statservice.api import billing_schemas as schemas
from statservice.api.deps import Principal, ServiceDep
from statservice.api.errors import validation_errors
from statservice.api.routes import invoices, orders, organisations
from statservice.core.errors import NotFound
from statservice.web import forms
from statservice.web.pages import STAFF_ROLES, CsrfChecked, PageError, VisitorDep, page_roles, render
from statservice.web.routes.customer import problem_of

router = APIRouter(include_in_schema=False)
Staff = Annotated[Principal, Depends(page_roles(*STAFF_ROLES))]
OrderId = Annotated[str, Path(max_length=64)]
BOARD_LIMIT = 500
FIXED_ELEMENT_ROWS = 3  # rows of the estimate form; more through the API

# The board's columns: the order states in the state machine's order (billing.orders.STATES).
BOARD_STATES = billing_orders.STATES


@dataclass(frozen=True)
class OrderAction:
    """A form on an order's page: the /v1/orders function it calls and when it is offered."""

    name: str  # the path segment, /staff/orders/{id}/{name}, as in /v1/orders/{id}/{name}
    label: str  # the button
    to_state: str | None  # the state it moves the order to (None: the order stays, e.g. hours)


# One per order state a person moves an order to (a test checks they cover TRANSITIONS; "expired" is
# reached by time alone), and the two that do not move it.
ORDER_ACTIONS: tuple[OrderAction, ...] = (
    OrderAction("estimate", "Send the estimate", "estimated"),
    OrderAction("decline", "Decline the request", "declined"),
    OrderAction("accept", "Accept the estimate for the customer", "accepted"),
    OrderAction("start", "Start work", "in_progress"),
    OrderAction("runs", "Run the query for the order", None),
    OrderAction("hours", "Log hours", None),
    OrderAction("deliver", "Deliver", "delivered"),
    OrderAction("invoice", "Invoice the order", "invoiced"),
    OrderAction("cancel", "Cancel the order", "cancelled"),
)
ACTIONS_BY_NAME = {action.name: action for action in ORDER_ACTIONS}
STATES_REACHED_BY_TIME = ("expired",)


def offered(order: billing_orders.OrderPublic) -> list[OrderAction]:
    """The forms the order's state allows: a transition it may make, or work while in progress (runs,
    hours, a change order's estimate and its acceptance)."""
    allowed = set(order.allowed_transitions)
    in_progress = order.state == "in_progress"
    work = {"runs", "hours", "estimate"} | ({"accept"} if order.change_order is not None else set())
    return [a for a in ORDER_ACTIONS if a.to_state in allowed or (in_progress and a.name in work)]


def parse_body(model: type[BaseModel], payload: dict[str, Any]) -> Any:
    """The form as the API's body model; a ``RequestValidationError`` naming the fields, as the API
    answers the same JSON."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(errors, body=payload) from error


def _text(form: Any, name: str) -> str:
    return str(form.get(name, "")).strip()


def _optional_note(form: Any, name: str = "note") -> dict[str, Any]:
    note = _text(form, name)
    return {"note": note} if note else {}


def _acting(principal: Principal, organisation_id: str) -> Principal:
    return dataclasses.replace(principal, organisation_id=organisation_id)


# --- the board --------------------------------------------------------------------------------------


def _board_context(service: Any, principal: Principal, organisation_id: str) -> dict[str, Any]:
    with service.db.session() as session:
        known = organisations.list_organisations(principal, session)
        names = {organisation.id: organisation.name for organisation in known}
        if organisation_id and organisation_id not in names:
            raise PageError(404, "Not found", f"organisation {organisation_id} not found")
        acting = _acting(principal, organisation_id) if organisation_id else principal
        page = orders.list_orders(acting, session, state=None, limit=BOARD_LIMIT, offset=0)
    columns = {state: [o for o in page.items if o.state == state] for state in BOARD_STATES}
    last_month = service.clock().date().replace(day=1) - dt.timedelta(days=1)  # billing's today
    return {
        "organisations": known,
        "names": names,
        "acting_for": organisation_id,
        "columns": columns,
        "total": page.total,
        "last_month": last_month,
    }


@router.get("/staff", response_class=HTMLResponse)
async def order_board(
    request: Request,
    visitor: VisitorDep,
    principal: Staff,
    service: ServiceDep,
    organisation_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    context = await run_in_threadpool(_board_context, service, principal, organisation_id)
    return render(request, visitor, "staff.html", context)


@router.post("/staff/orders", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def new_order(request: Request, visitor: VisitorDep, principal: Staff, service: ServiceDep) -> Response:
    """Place an order for an organisation (staff act for it), as POST /v1/orders with
    X-Act-For-Organisation."""
    form = await request.form()
    organisation_id = _text(form, "organisation_id")
    payload: dict[str, Any] = {"title": _text(form, "title"), "request_text": _text(form, "request_text")}
    draft = _text(form, "draft_query")
    errors: list[dict[str, Any]] = []
    try:
        if not organisation_id:
            errors.append({"field": "organisation_id", "message": "choose the organisation the order is for"})
        if draft:
            try:
                payload["draft_query"] = json.loads(draft)
            except ValueError:
                errors.append({"field": "draft_query", "message": "not JSON: paste the query as JSON"})
        body = parse_body(schemas.OrderCreate, payload)
        if errors:
            raise RequestValidationError([])
        created = await run_in_threadpool(
            orders.request_order, body=body, principal=_acting(principal, organisation_id), service=service
        )
    except RequestValidationError as error:
        errors += validation_errors(error)
    except Exception as error:
        problem = problem_of(error)
        errors += problem.errors or [{"field": "", "message": problem.detail}]
    if errors:
        context = await run_in_threadpool(_board_context, service, principal, organisation_id)
        slots = _slots(errors, ("organisation_id", "title", "request_text", "draft_query"))
        return render(
            request,
            visitor,
            "staff.html",
            {**context, "new_order": payload | {"draft": draft}, "slots": slots},
            422,
        )
    return RedirectResponse(f"/staff/orders/{created.id}", status_code=303)


@router.post("/staff/invoices", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def monthly_invoicing(
    request: Request, visitor: VisitorDep, principal: Staff, service: ServiceDep
) -> Response:
    """Issue the monthly invoices of a closed month (all organisations, or the one acted for), as
    POST /v1/invoices/issue."""
    form = await request.form()
    organisation_id = _text(form, "organisation_id")
    payload: dict[str, Any] = {"year": _text(form, "year"), "month": _text(form, "month")}
    if _text(form, "issue_date"):
        payload["issue_date"] = _text(form, "issue_date")
    acting = _acting(principal, organisation_id) if organisation_id else principal
    issued, errors = None, []
    try:
        body = parse_body(schemas.InvoiceIssueCreate, payload)
        issued = await run_in_threadpool(
            invoices.issue_invoices, body=body, principal=acting, service=service
        )
    except RequestValidationError as error:
        errors = validation_errors(error)
    except Exception as error:
        problem = problem_of(error)
        errors = problem.errors or [{"field": "", "message": problem.detail}]
    context = await run_in_threadpool(_board_context, service, principal, organisation_id)
    slots = _slots(errors, ("year", "month", "issue_date"))
    return render(
        request,
        visitor,
        "staff.html",
        {**context, "issued": issued, "invoicing": payload, "invoicing_slots": slots},
        422 if errors else 200,
    )


# --- one order --------------------------------------------------------------------------------------


def _slots(errors: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, list[str]]:
    """field -> the messages shown at it; "" -> those no field of the form owns."""
    shown: dict[str, list[str]] = {field: [] for field in (*fields, "")}
    for error in errors:
        field = str(error.get("field", ""))
        owner = next((f for f in fields if field == f or field.startswith(f"{f}.")), "")
        message = error.get("message", "")
        if error.get("valid"):
            message = f"{message} (valid: {error['valid']})"
        shown[owner].append(f"{field}: {message}" if not owner and field else message)
    return shown


def _order_context(service: Any, principal: Principal, order_id: str) -> dict[str, Any]:
    with service.db.session() as session:
        try:
            order = orders.get_order(order_id, principal, session)
        except NotFound as error:
            raise PageError(404, "Not found", error.detail) from error
        names = {o.id: o.name for o in organisations.list_organisations(principal, session)}
    draft = json.dumps(order.draft_query, indent=2) if order.draft_query else ""
    return {
        "order": order,
        "organisation_name": names.get(order.organisation_id, order.organisation_id),
        "actions": offered(order),
        "draft": draft,
        "today": service.clock().date().isoformat(),
        "fixed_rows": range(FIXED_ELEMENT_ROWS),
        "errors": {},
        "sent": {},
    }


@router.get("/staff/orders/{order_id}", response_class=HTMLResponse)
async def order_page(
    request: Request,
    visitor: VisitorDep,
    principal: Staff,
    service: ServiceDep,
    order_id: OrderId,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    context = await run_in_threadpool(_order_context, service, principal, order_id)
    action = ACTIONS_BY_NAME.get(done)
    return render(request, visitor, "staff_order.html", {**context, "done": action})


def _call(action: str, order_id: str, form: Any, principal: Principal, service: Any, order: Any) -> Any:
    """The /v1/orders function of ``action`` with the form as its body; raises what it raises."""
    acting = _acting(principal, order.organisation_id)
    if action == "estimate":
        elements = []
        for row in range(FIXED_ELEMENT_ROWS):
            description, amount = _text(form, f"fixed_{row}_description"), _text(form, f"fixed_{row}_amount")
            if description or amount:
                elements.append({"description": description, "net_amount": amount})
        body = parse_body(
            schemas.OrderEstimateCreate,
            {"hours": _text(form, "hours"), "fixed_elements": elements, **_optional_note(form)},
        )
        return orders.estimate(order_id, body, principal, service)
    if action == "decline":
        body = parse_body(schemas.OrderDecline, {"reason": _text(form, "reason")})
        return orders.decline(order_id, body, principal, service)
    if action == "accept":  # the customer's step, taken by staff acting for it (e.g. on the phone)
        return orders.accept(order_id, acting, service)
    if action == "start":
        return orders.start(order_id, principal, service)
    if action == "runs":
        try:
            payload = json.loads(_text(form, "query") or "null")
        except ValueError:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "not JSON: write the query as JSON", "type": "json_invalid"}]
            ) from None
        if not isinstance(payload, dict):
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "the query is a JSON object", "type": "dict_type"}]
            )
        return orders.run_for_order(order_id, forms.parse_query(payload), principal, service)
    if action == "hours":
        body = parse_body(
            schemas.HourLogCreate,
            {"work_date": _text(form, "work_date"), "hours": _text(form, "hours"), **_optional_note(form)},
        )
        return orders.log_hours(order_id, body, principal, service)
    if action == "deliver":
        return orders.deliver(
            order_id, principal, service, parse_body(schemas.OrderNote, _optional_note(form))
        )
    if action == "invoice":
        issue_date = _text(form, "issue_date")
        body = parse_body(schemas.OrderInvoiceCreate, {"issue_date": issue_date} if issue_date else {})
        return orders.invoice(order_id, principal, service, body)
    if action == "cancel":
        reason = _optional_note(form)
        return orders.cancel(
            order_id, acting, service, parse_body(schemas.OrderNote, reason) if reason else None
        )
    raise PageError(404, "Not found", f"no order action {action!r}")


@router.post("/staff/orders/{order_id}/{action}", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def order_action(
    request: Request,
    visitor: VisitorDep,
    principal: Staff,
    service: ServiceDep,
    order_id: OrderId,
    action: Annotated[str, Path(max_length=20)],
) -> Response:
    if action not in ACTIONS_BY_NAME:
        raise PageError(404, "Not found", f"no order action {action!r}")
    form = await request.form()
    context = await run_in_threadpool(_order_context, service, principal, order_id)
    errors: list[dict[str, Any]] = []
    status = 422
    try:
        answer = await run_in_threadpool(_call, action, order_id, form, principal, service, context["order"])
    except RequestValidationError as error:
        errors = validation_errors(error)
    except PageError:
        raise
    except Exception as error:
        problem = problem_of(error)
        errors, status = problem.errors or [{"field": "", "message": problem.detail}], problem.status
    else:
        if isinstance(answer, Response) and answer.status_code >= 400:  # a run refused or failed
            body = json.loads(bytes(answer.body))
            errors = [{"field": "", "message": body.get("detail", "the run was not released")}]
            status = answer.status_code
    if errors:
        context = await run_in_threadpool(_order_context, service, principal, order_id)
        fields = ("hours", "fixed_elements", "note", "reason", "work_date", "issue_date", "query", "state")
        sent = {name: str(value) for name, value in form.items() if name != "csrf_token"}
        return render(
            request,
            visitor,
            "staff_order.html",
            {**context, "errors": {action: _slots(errors, fields)}, "sent": {action: sent}, "done": None},
            status,
        )
    return RedirectResponse(f"/staff/orders/{order_id}?done={action}", status_code=303)
