"""The customer's pages: the cohort builder (code search, live validation and price, run with
progress), results (table, plot, disclosure report in words, CSV) and history.

Each action calls the /v1 endpoint's own function with the signed-in principal, so the pages and the
API cannot disagree about validation, price, disclosure or what a role may see."""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from billing.errors import BillingError
from disclosure.errors import ReleaseRefused
from queries.errors import QueryValidationError
from statservice import exports
from statservice.api.deps import Principal, ServiceDep
from statservice.api.errors import error_of
from statservice.api.routes import catalog, history, queries, releases
from statservice.api.routes import drafts as api_drafts
from statservice.core.errors import NotFound, StatserviceError
from statservice.web import forms, plots, results
from statservice.web.pages import BUYER_ROLES, CsrfChecked, PageError, VisitorDep, page_roles, render

router = APIRouter(include_in_schema=False)
Buyer = Annotated[Principal, Depends(page_roles(*BUYER_ROLES))]
RunId = Annotated[str, Path(max_length=40)]
ReleaseId = Annotated[str, Path(max_length=40)]
CODE_RESULTS = 15


def problem_of(exc: Exception) -> StatserviceError:
    """The API's problem for an exception of a /v1 function (the same message and fields)."""
    if isinstance(exc, StatserviceError):
        return exc
    if isinstance(exc, QueryValidationError | ReleaseRefused | BillingError):
        return error_of(exc)
    raise exc


def builder_context(form: forms.BuilderForm, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "form": form,
        "concepts": forms.index_concepts(),
        "coded": forms.coded_concepts(),
        "occurrences": forms.occurrence_choices(),
        "controls": form.controls(),
        "slots": forms.errors_by_slot(errors or [], form.slot_names()),
    }


@router.get("/", response_class=HTMLResponse)
async def builder(
    request: Request,
    visitor: VisitorDep,
    principal: Buyer,
    service: ServiceDep,
    draft: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The builder, empty or showing a saved draft (``?draft=<id>``)."""
    if draft is None:
        return render(request, visitor, "builder.html", builder_context(forms.BuilderForm()))
    try:
        saved = await run_in_threadpool(api_drafts.get_draft, draft, principal, service)
    except NotFound as error:
        raise PageError(404, "Not found", error.detail) from error
    context = builder_context(forms.BuilderForm.from_payload(saved.query))
    return render(request, visitor, "builder.html", {**context, "draft_name": saved.name})


@router.get("/builder/codes", response_class=HTMLResponse)
async def search_codes(
    request: Request,
    visitor: VisitorDep,
    principal: Buyer,
    service: ServiceDep,
    concept_type: Annotated[str, Query(max_length=40)] = "diagnosis",
    q: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    concept = forms.coded_concepts().get(concept_type)
    codes: list[Any] = []
    if concept is not None and q.strip():
        page = await run_in_threadpool(
            catalog.search_codes,
            name=concept.code_list,
            principal=principal,
            service=service,
            q=q,
            search=None,
            limit=CODE_RESULTS,
            offset=0,
        )
        codes = page.items
    return render(request, visitor, "_codes.html", {"codes": codes, "q": q})


async def _checked(
    request: Request, principal: Principal, service: Any
) -> tuple[forms.BuilderForm, Any, list[dict[str, Any]]]:
    """The form, its quote (None if the query is not valid) and the field errors."""
    form = forms.BuilderForm.from_form(await request.form())
    try:
        query = forms.parse_query(form.payload())
        quote = await queries.quote_query(query=query, principal=principal, service=service)
    except RequestValidationError as error:
        return form, None, forms.field_errors(error)
    except Exception as error:
        problem = problem_of(error)
        return form, None, problem.errors or [{"field": "", "message": problem.detail}]
    return form, quote, []


@router.post("/builder/check", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def check(request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep) -> Response:
    """Live validation: the price and privacy cost, and each field error at its field."""
    form, quote, errors = await _checked(request, principal, service)
    slots = forms.errors_by_slot(errors, form.slot_names())
    return render(request, visitor, "_check.html", {"quote": quote, "slots": slots})


@router.post("/builder/edit", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def edit(request: Request, visitor: VisitorDep, principal: Buyer) -> Response:
    """The form's derived parts drawn again: after a criterion (or characteristic, or drug group) is
    added or removed, or a choice (a concept's type, the result kind) changes what is asked."""
    posted = await request.form()
    form = forms.BuilderForm.from_form(posted)
    edit_field = posted.get("edit")
    if isinstance(edit_field, str) and edit_field:
        form = form.edited(edit_field[:400])
    response = render(request, visitor, "_sections.html", builder_context(form))
    response.headers["HX-Trigger"] = "form-changed"  # the quote follows the new form
    return response


@router.post("/builder/run", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def run(request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep) -> Response:
    form, quote, errors = await _checked(request, principal, service)
    slots = forms.errors_by_slot(errors, form.slot_names())
    if quote is None:
        return render(request, visitor, "_check.html", {"quote": None, "slots": slots, "not_run": True})
    query = forms.parse_query(form.payload())
    try:
        answer = await run_in_threadpool(
            queries.run_query, query=query, principal=principal, service=service, quote_id=None, order_id=None
        )
    except Exception as error:
        problem = problem_of(error)
        return render(request, visitor, "_problem.html", {"detail": problem.detail, "status": problem.status})
    body = json.loads(answer.body)
    if answer.status_code == 201:
        return await _release_fragment(request, visitor, principal, service, body["id"])
    if answer.status_code == 202:
        return render(request, visitor, "_run.html", {"run": body})
    return render(
        request, visitor, "_problem.html", {"detail": body.get("detail"), "status": body.get("status")}
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_progress(
    request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep, run_id: RunId
) -> Response:
    """What a run is doing (htmx polls this while it runs), then its result or why there is none."""
    try:
        run = await queries.get_run(run_id=run_id, principal=principal, service=service, response=Response())
    except NotFound as error:
        raise PageError(404, "Not found", error.detail) from error
    if run.status == "released" and run.release_id:
        return await _release_fragment(request, visitor, principal, service, run.release_id)
    if run.problem is not None:
        return render(request, visitor, "_problem.html", {"detail": run.problem.detail, "status": run.status})
    return render(request, visitor, "_run.html", {"run": run.model_dump(mode="json")})


def _release(service: Any, principal: Principal, release_id: str) -> dict[str, Any]:
    with service.db.session() as session:
        try:
            public = releases.get_release(release_id, principal, session, service)
        except NotFound as error:
            raise PageError(404, "Not found", error.detail) from error
    return public.model_dump(mode="json")


def _release_context(release: dict[str, Any]) -> dict[str, Any]:
    plot = plots.plot_of(release)
    svg = plots.render(plot, "svg").decode() if plot else None
    return {
        "release": release,
        "tables": results.shown_tables(release),
        "plot": results.inline_svg(svg, plot.described) if plot and svg else None,
        "plot_caption": plot.caption if plot else "",
        "table_one": plot if plot and plot.kind == "table_one" else None,
        "report": results.report_in_words(release),
        "data_formats": list(exports.FORMATS),
        "plot_formats": list(plots.FORMATS),
    }


async def _release_fragment(
    request: Request, visitor: Any, principal: Principal, service: Any, release_id: str
) -> Response:
    release = await run_in_threadpool(_release, service, principal, release_id)
    context = await run_in_threadpool(_release_context, release)
    return render(request, visitor, "_result.html", context)


@router.get("/releases/{release_id}", response_class=HTMLResponse)
async def release_page(
    request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep, release_id: ReleaseId
) -> Response:
    release = await run_in_threadpool(_release, service, principal, release_id)
    context = await run_in_threadpool(_release_context, release)
    return render(request, visitor, "release.html", context)


@router.get("/releases/{release_id}/download.{data_format}")
def download(
    principal: Buyer,
    service: ServiceDep,
    release_id: ReleaseId,
    data_format: Annotated[str, Path(max_length=10)],
) -> Response:
    """The release as the API's download endpoint answers it (``GET /v1/releases/{id}/result``)."""
    if data_format not in exports.FORMATS:
        raise PageError(404, "Not found", f"No download as {data_format}: {', '.join(exports.FORMATS)}.")
    with service.db.session() as session:
        try:
            return releases.download(
                release_id, principal, session, format=cast(exports.ExportFormat, data_format)
            )
        except NotFound as error:
            raise PageError(404, "Not found", error.detail) from error


@router.get("/releases/{release_id}/plot.{plot_format}")
def download_plot(
    principal: Buyer,
    service: ServiceDep,
    release_id: ReleaseId,
    plot_format: Annotated[str, Path(max_length=10)],
) -> Response:
    """The plot the page shows, as a file."""
    if plot_format not in plots.FORMATS:
        raise PageError(404, "Not found", f"No plot as {plot_format}: {', '.join(plots.FORMATS)}.")
    plot = plots.plot_of(_release(service, principal, release_id))
    if plot is None:
        raise PageError(404, "No plot", "This release has no table a plot is drawn for.")
    return Response(
        plots.render(plot, plot_format),
        media_type=plots.FORMATS[plot_format],
        headers={"Content-Disposition": f'attachment; filename="{release_id}.{plot_format}"'},
    )


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep) -> Response:
    with service.db.session() as session:
        page = history.history(principal, session, service, status=None, kind=None, limit=100, offset=0)
    return render(request, visitor, "history.html", {"items": page.items, "total": page.total})
