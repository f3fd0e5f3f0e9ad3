"""The free public statistics as pages, without a key: the list, and each statistic as tables and a
plot drawn from its stored released values, with its noise stated in words.

The same for every visitor (no session, no CSRF token, no navigation), so it is cached and
revalidated exactly as /v1/public/statistics: an entity tag derived from the statistic's own (and the
pages' templates), 304 on If-None-Match, ``PUBLIC_STATISTICS_CONTROL``, and the same per-address rate
limit."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from statservice.api.deps import ServiceDep
from statservice.api.routes import public
from statservice.core.errors import NotFound, StatserviceError
from statservice.web import results, trend_plot
from statservice.web.pages import HERE, PageError, Visitor, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(public.per_client_address)])

PUBLIC_PATH = "/public"
TEMPLATES = ("base.html", "public.html", "public_statistic.html")
# A page's entity tag changes with its statistic and with the pages' look (templates, plot code).
PAGES_VERSION = hashlib.sha256(
    b"".join((HERE / "templates" / name).read_bytes() for name in TEMPLATES)
    + (HERE / "trend_plot.py").read_bytes()
).hexdigest()


def page_etag(api_etag: str) -> str:
    return hashlib.sha256(f"{PAGES_VERSION}|{api_etag}".encode()).hexdigest()


def _render(request: Request, service: Any, template: str, context: dict[str, Any], etag: str) -> Response:
    """The page for anyone: no principal, no CSRF token, no cookie; or 304 if the browser has it."""
    if public._not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": public._quoted(etag)})
    anonymous = Visitor(service, None, nonce="", new_nonce=False)
    response = render(request, anonymous, template, {**context, "csrf_token": ""})
    response.headers["ETag"] = public._quoted(etag)
    return response


def noise_in_words(report: dict[str, Any]) -> list[str]:
    """What the noise means for a reader of the numbers, and the rules that hid cells."""
    sentences = []
    noise = report.get("noise")
    if noise:
        scales = noise.get("scales") or []
        spread = f" of typically about {max(scales):,.0f} persons" if scales else ""
        sentences.append(
            f"Every count here carries random noise{spread} ({noise['mechanism'].replace('_', ' ')}), "
            "so that no person's presence can be told from the numbers: a small difference between two "
            "counts may be noise alone. Rates are computed from the noisy counts."
        )
    for table in report.get("tables", []):
        if table.get("suppressed"):
            sentences.append(
                f"{table['suppressed']} of {table['cells']} cells are hidden: they concern fewer than "
                f"{report.get('threshold')} persons, or a hidden count could be recomputed from them."
            )
    sentences.append(
        f"Data version {report.get('data_version')}, disclosure policy {report.get('policy_version')}."
    )
    return sentences


@router.get(PUBLIC_PATH, response_class=HTMLResponse)
async def statistics_list(request: Request, service: ServiceDep) -> Response:
    try:
        listed = await public.list_statistics(_without_conditions(request), Response(), service)
    except StatserviceError as error:  # no register extract loaded: a 503 page, not a 500
        raise PageError(error.status, "Public statistics not available", error.detail) from error
    items = listed.items
    etag = page_etag(public.public_statistics.etag_of_list([item.etag for item in items]))
    groups = {
        "condition": [item for item in items if item.subject == "condition"],
        "drug_group": [item for item in items if item.subject == "drug_group"],
    }
    return _render(request, service, "public.html", {"groups": groups}, etag)


@router.get(PUBLIC_PATH + "/{slug}", response_class=HTMLResponse)
async def statistic_page(
    request: Request, service: ServiceDep, slug: Annotated[str, Path(max_length=80)]
) -> Response:
    try:
        statistic = await public.get_statistic(slug, _without_conditions(request), Response(), service)
    except NotFound as error:
        raise PageError(404, "No such statistic", error.detail) from error
    except StatserviceError as error:
        raise PageError(error.status, "Public statistics not available", error.detail) from error
    etag = page_etag(statistic.etag)
    if public._not_modified(request, etag):  # before drawing the plot
        return Response(status_code=304, headers={"ETag": public._quoted(etag)})
    tables = results.shown_tables({"tables": statistic.tables})
    plots = await run_in_threadpool(_plots, statistic.tables)
    context = {
        "statistic": statistic,
        "tables": tables,
        "plots": plots,
        "sentences": noise_in_words(statistic.report),
    }
    return _render(request, service, "public_statistic.html", context, etag)


def _plots(tables: list[dict[str, Any]]) -> list[str | None]:
    out = []
    for table in tables:
        svg = trend_plot.trend_svg(table)
        out.append(results.inline_svg(svg, f"Line chart of {table['title']}") if svg else None)
    return out


def _without_conditions(request: Request) -> Request:
    """The request without If-None-Match: the API function answers in full; the page decides on 304
    by its own entity tag."""
    scope = dict(request.scope)
    scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"if-none-match"]
    return Request(scope)
