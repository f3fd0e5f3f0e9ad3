"""Free public statistics, without a key: served from the database as stored when they were released
(``statservice.public_statistics``), with an entity tag and cache headers, rate-limited per client
address."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from statservice import public_statistics
from statservice.api.deps import ServiceDep, in_session
from statservice.api.openapi import problems
from statservice.core.errors import NotFound, TooManyRequests

router = APIRouter(prefix="/public", tags=["public statistics"], responses=problems(503))

# Statistics change only when one is added or a new data version is built: caches may keep them
# briefly and then revalidate with If-None-Match (304 when unchanged). The SecurityHeaders
# middleware says so on every answer here that is not an error (PUBLIC_STATISTICS_CONTROL).
ETAG_HEADER = {"ETag": {"description": "entity tag of the answer", "schema": {"type": "string"}}}


async def per_client_address(request: Request, service: ServiceDep) -> None:
    """A token from the client address's bucket (no key, so no organisation to count against)."""
    address = request.client.host if request.client else "unknown"
    wait = service.public_rate_limiter.take(address)
    if wait > 0:
        raise TooManyRequests(service.public_rate_limiter.retry_after_seconds(wait))


class PublicStatisticSummary(BaseModel):
    slug: str
    title: str
    subject: Literal["condition", "drug_group"]
    description: str
    data_version: str
    url: str
    etag: str


class PublicStatisticPublic(PublicStatisticSummary):
    policy_version: str
    query: dict[str, Any] = Field(description="the question answered, in the query language")
    tables: list[dict[str, Any]] = Field(description="protected tables: released values or 'suppressed'")
    report: dict[str, Any] = Field(description="disclosure report: what was hidden and why, in words")


class PublicStatisticsList(BaseModel):
    items: list[PublicStatisticSummary]


def _quoted(etag: str) -> str:
    return f'"{etag}"'


def _not_modified(request: Request, etag: str) -> bool:
    asked = request.headers.get("if-none-match")
    if not asked:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in asked.split(",")}
    return "*" in tags or _quoted(etag) in tags


def _answer(request: Request, response: Response, etag: str, body: BaseModel) -> BaseModel | Response:
    if _not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": _quoted(etag)})
    response.headers["ETag"] = _quoted(etag)
    return body


def _summary(statistic: public_statistics.Statistic, row: Any) -> dict[str, Any]:
    return {
        "slug": statistic.slug,
        "title": statistic.title,
        "subject": statistic.subject,
        "description": statistic.description,
        "data_version": row.data_version,
        "url": f"/v1/public/statistics/{statistic.slug}",
        "etag": row.etag,
    }


@router.get(
    "/statistics",
    response_model=PublicStatisticsList,
    summary="The free public statistics of the data version served (no key)",
    responses={200: {"headers": ETAG_HEADER}, 304: {"description": "not modified (If-None-Match)"}},
    dependencies=[Depends(per_client_address)],
)
async def list_statistics(request: Request, response: Response, service: ServiceDep):
    def read(session) -> PublicStatisticsList:
        known = {statistic.slug: statistic for statistic in public_statistics.statistics_for(service)}
        items = [
            PublicStatisticSummary(**_summary(known[row.slug], row))
            for row, _ in public_statistics.stored(service, session)
            if row.slug in known
        ]
        return PublicStatisticsList(items=items)

    body = await in_session(service, read)
    etag = public_statistics.etag_of_list([item.etag for item in body.items])
    return _answer(request, response, etag, body)


@router.get(
    "/statistics/{slug}",
    response_model=PublicStatisticPublic,
    summary="One public statistic: its tables and disclosure report (no key)",
    responses={200: {"headers": ETAG_HEADER}, 304: {"description": "not modified (If-None-Match)"}},
    dependencies=[Depends(per_client_address)],
)
async def get_statistic(
    slug: Annotated[str, Path(max_length=80, examples=["type-2-diabetes-incidence-prevalence-by-sex"])],
    request: Request,
    response: Response,
    service: ServiceDep,
):
    def read(session) -> PublicStatisticPublic:
        known = {statistic.slug: statistic for statistic in public_statistics.statistics_for(service)}
        for row, release in public_statistics.stored(service, session, slug):
            if slug in known:
                tables, report = public_statistics.served_tables(release)
                return PublicStatisticPublic(
                    **_summary(known[slug], row),
                    policy_version=release.policy_version,
                    query=known[slug].query.model_dump(mode="json"),
                    tables=tables,
                    report=report,
                )
        raise NotFound(f"no public statistic {slug!r}; the list is at /v1/public/statistics")

    body = await in_session(service, read)
    return _answer(request, response, body.etag, body)
