"""A Python client for statservice over HTTP, for notebooks and scripts (``docs/client.md``).

Queries are built with the service's own pydantic model (``queries.model.Query``), so a notebook
gets the same types, defaults and field checks as the server; a plain dict is sent as it is and the
server names what is wrong with it. Answers come back as the service's public models
(``statservice.api.schemas``), and a release's tables as a Polars (or pandas) data frame that is the
same rectangle of cells as the downloads (``statservice.exports.ReleaseExport``).

Every error the service answers (a 4xx or 5xx, always RFC 9457 problem+json) is raised as one
exception type, ``ProblemError``, carrying the problem's fields; so is a run that ends refused or
failed after polling. Network failures stay ``httpx.TransportError``s, and a run still unfinished
when the client stops waiting is a ``RunStillRunning`` (a ``TimeoutError``) naming the run to
``wait`` for again.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import httpx
import polars as pl

import statservice
from queries.model import Query
from statservice import exports
from statservice.api.billing_schemas import TimelineItem
from statservice.api.schemas import (
    BudgetPublic,
    CodePublic,
    FieldError,
    Page,
    Problem,
    QuotePublic,
    ReleasePublic,
    ReleaseSummary,
    RunPublic,
    ValidationPublic,
)

if TYPE_CHECKING:
    import pandas

__all__ = [
    "Client",
    "ExportFormat",
    "ProblemError",
    "Release",
    "RunProgress",
    "RunStillRunning",
]

ExportFormat = Literal["json", "csv", "parquet", "xlsx"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)  # the service's formats (statservice.exports)

# How long to wait before polling again when the service sends no Retry-After (it always does).
DEFAULT_POLL_SECONDS = 1.0
UNFINISHED = ("queued", "running")

_POLARS_TYPES = {int: pl.Int64, float: pl.Float64, str: pl.String}
_STAGE_WORDS = {"engine": "counting", "disclosure_control": "disclosure control", "commit": "committing"}


class ProblemError(Exception):
    """An error answer of the service: its RFC 9457 problem document, field by field.

    ``errors`` lists the offending fields (``field``, ``message``, ``valid``). ``retry_after`` is the
    seconds the service asked to wait (429, 503), ``run_id`` the run that ended refused or failed."""

    def __init__(self, problem: Problem, *, retry_after: float | None = None, run_id: str | None = None):
        self.problem = problem
        self.type = problem.type
        self.title = problem.title
        self.status = problem.status
        self.detail = problem.detail
        self.instance = problem.instance
        self.errors: list[FieldError] = list(problem.errors)
        self.retry_after = retry_after
        self.run_id = run_id
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status} {self.title}: {self.detail}"
        for error in self.errors:
            text += f"\n  {error.field or '(request)'}: {error.message} (valid: {error.valid})"
        return text

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        try:
            problem = Problem.model_validate(response.json())
        except ValueError:  # not problem+json: an answer from something in front of the service
            problem = Problem(
                type="about:blank",  # RFC 9457: the problem is the status code's
                title=response.reason_phrase or "Error",
                status=response.status_code,
                detail=response.text[:500] or response.reason_phrase or "no detail",
                instance=response.request.url.path,
            )
        return cls(problem, retry_after=retry_after(response))


class RunStillRunning(TimeoutError):
    """The client stopped waiting; the run goes on. ``Client.wait(error.run_id)`` picks it up."""

    def __init__(self, run_id: str, status: str, waited: float):
        self.run_id = run_id
        self.status = status
        super().__init__(
            f"run {run_id} is still {status} after {waited:.0f} s; wait for it with client.wait({run_id!r})"
        )


@dataclass(frozen=True)
class RunProgress:
    """What a run is doing, as reported to a progress callback each time the client hears of it."""

    run_id: str
    status: Literal["queued", "running", "released", "refused", "failed"]
    queue_position: int | None = None
    stage: Literal["engine", "disclosure_control", "commit"] | None = None

    @classmethod
    def of(cls, run: RunPublic) -> RunProgress:
        return cls(run.id, run.status, run.queue_position, run.stage)

    def describe(self) -> str:
        if self.status == "queued" and self.queue_position:
            return f"run {self.run_id}: queued, number {self.queue_position} in line"
        if self.status == "running" and self.stage:
            return f"run {self.run_id}: running ({_STAGE_WORDS.get(self.stage, self.stage)})"
        return f"run {self.run_id}: {self.status}"


ProgressCallback = Callable[[RunProgress], None]


class Release(ReleasePublic):
    """A release as the service answers it (tables, disclosure report, price), with its tables as
    data frames. ``frame()`` is the downloads' rectangle: one row per cell, a column per dimension
    (margins are ``"total"``), ``value`` (``None`` where suppressed), ``status``, derived values and the
    release's identifiers; it equals the Parquet download."""

    def export(self) -> exports.ReleaseExport:
        identifiers = {
            "release_id": self.id,
            "query_hash": self.query_hash,
            "data_version": self.data_version,
            "policy_version": self.policy_version,
        }
        return exports.ReleaseExport.build(identifiers, self.tables)

    def frame(self, table: int | None = None) -> pl.DataFrame:
        """Every table's cells, or only table number ``table`` (1-based) with only its own columns."""
        export = self.export()
        columns, rows = export.columns, export.rows
        if table is not None:
            numbers = [info.table for info in export.tables]
            if table not in numbers:
                raise ValueError(f"release {self.id} has no table {table}; its tables are {numbers}")
            columns = export.table_columns(export.tables[table - 1])
            positions = [export.columns.index(column) for column in columns]
            number = export.columns.index("table")
            rows = tuple(tuple(row[i] for i in positions) for row in rows if row[number] == table)
        schema = {column: _POLARS_TYPES[export.types[column]] for column in columns}
        return pl.DataFrame(list(rows), schema=schema, orient="row")

    def to_pandas(self, table: int | None = None) -> pandas.DataFrame:
        """``frame(table)`` as a pandas data frame (pandas is optional: ``statservice[pandas]``)."""
        require_pandas()
        return self.frame(table).to_pandas()


def require_pandas() -> None:
    try:
        import pandas  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "pandas is not installed; it is optional for the statservice client: "
            "pip install 'statservice[pandas]' (or use Release.frame(), a Polars data frame)"
        ) from error


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds())


def query_payload(query: Query | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON sent for ``query``: a ``Query`` with every field (its defaults included, so
    discriminators such as a concept's ``type`` are always there); a mapping as it is."""
    if isinstance(query, Query):
        return query.model_dump(mode="json")
    return dict(query)


class Client:
    """statservice over HTTP with one API key.

    >>> client = Client("http://127.0.0.1:8000", api_key="...")  # doctest: +SKIP

    ``act_for`` (staff keys) works for a customer organisation (``X-Act-For-Organisation``). Use it
    as a context manager, or ``close()`` it, to close its connections."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        act_for: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"statservice-client/{statservice.__version__}",
            "Accept": "application/json, application/problem+json",
        }
        if act_for:
            headers["X-Act-For-Organisation"] = act_for
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise ProblemError.from_response(response)
        return response

    def _get(self, path: str, **params: Any) -> Any:
        params = {name: value for name, value in params.items() if value is not None}
        return self._request("GET", path, params=params).json()

    # --- queries ---------------------------------------------------------------------------

    def validate(self, query: Query | Mapping[str, Any]) -> ValidationPublic:
        """Check a query against the catalog and the disclosure policy's shape limits, running nothing."""
        response = self._request("POST", "/v1/queries/validate", json=query_payload(query))
        return ValidationPublic.model_validate(response.json())

    def quote(self, query: Query | Mapping[str, Any]) -> QuotePublic:
        """Price (Decimal DKK, full and reduced) and privacy cost of a query, and whether the privacy
        budget would refuse it (``would_refuse``, ``warnings``), running nothing."""
        response = self._request("POST", "/v1/queries/quote", json=query_payload(query))
        return QuotePublic.model_validate(response.json())

    def run(
        self,
        query: Query | Mapping[str, Any],
        *,
        quote_id: str | None = None,
        order_id: str | None = None,
        progress: ProgressCallback | bool = False,
        timeout: float = 600.0,
    ) -> Release:
        """Run a query and return its release, waiting for it as the service asks: a 202 is polled at
        its ``Location`` after each ``Retry-After``. ``progress`` is called with each status heard
        (queued with its place in line, running with its stage, released); ``True`` shows them on
        stderr with rich. A refused or failed run raises ``ProblemError``; one unfinished after
        ``timeout`` seconds raises ``RunStillRunning``."""
        started = time.monotonic()
        params = {"quote_id": quote_id, "order_id": order_id}
        with progress_reporter(progress) as report:
            response = self._request(
                "POST",
                "/v1/queries/runs",
                json=query_payload(query),
                params={name: value for name, value in params.items() if value},
            )
            if response.status_code == 201:
                release = Release.model_validate(response.json())
                report(RunProgress(release.run_id, "released"))
                return release
            run = RunPublic.model_validate(response.json())
            report(RunProgress.of(run))
            return self._poll(response, run, report, started, timeout)

    def wait(
        self, run_id: str, *, progress: ProgressCallback | bool = False, timeout: float = 600.0
    ) -> Release:
        """Wait for a run submitted before (``RunStillRunning.run_id``) and return its release."""
        started = time.monotonic()
        with progress_reporter(progress) as report:
            response = self._request("GET", f"/v1/queries/runs/{run_id}")
            run = RunPublic.model_validate(response.json())
            report(RunProgress.of(run))
            return self._poll(response, run, report, started, timeout)

    def _poll(
        self,
        response: httpx.Response,
        run: RunPublic,
        report: ProgressCallback,
        started: float,
        timeout: float,
    ) -> Release:
        location = response.headers.get("location") or f"/v1/queries/runs/{run.id}"
        while run.status in UNFINISHED:
            pause = retry_after(response)
            pause = DEFAULT_POLL_SECONDS if pause is None else pause
            waited = time.monotonic() - started
            if waited + pause > timeout:
                raise RunStillRunning(run.id, run.status, waited)
            time.sleep(pause)
            response = self._request("GET", location)
            run = RunPublic.model_validate(response.json())
            report(RunProgress.of(run))
        if run.status == "released" and run.release_id:
            return self.release(run.release_id)
        problem = run.problem or Problem(
            type="about:blank",
            title="Run not released",
            status=409,
            detail=f"the run ended {run.status}",
            instance=f"/v1/queries/runs/{run.id}",
        )
        raise ProblemError(problem, run_id=run.id)

    def run_status(self, run_id: str) -> RunPublic:
        return RunPublic.model_validate(self._get(f"/v1/queries/runs/{run_id}"))

    # --- releases and downloads ------------------------------------------------------------

    def release(self, release_id: str) -> Release:
        return Release.model_validate(self._get(f"/v1/releases/{release_id}"))

    def releases(self, *, limit: int = 50, offset: int = 0) -> Page[ReleaseSummary]:
        return Page[ReleaseSummary].model_validate(self._get("/v1/releases", limit=limit, offset=offset))

    def download(self, release: str | ReleasePublic, format: ExportFormat = "csv") -> bytes:
        """A release's tables as the service renders them: JSON, CSV, Parquet or XLSX bytes."""
        if format not in EXPORT_FORMATS:
            raise ValueError(f"unknown format {format!r}; one of {', '.join(EXPORT_FORMATS)}")
        release_id = release.id if isinstance(release, ReleasePublic) else release
        response = self._request("GET", f"/v1/releases/{release_id}/result", params={"format": format})
        return response.content

    def save(
        self, release: str | ReleasePublic, path: str | Path, format: ExportFormat | None = None
    ) -> Path:
        """Download a release into ``path``; the format is the file's suffix unless given."""
        path = Path(path)
        fmt = format or path.suffix.lstrip(".").lower()
        if fmt not in EXPORT_FORMATS:
            known = ", ".join(EXPORT_FORMATS)
            raise ValueError(f"cannot tell the format from {path.name!r}; give format=, one of {known}")
        path.write_bytes(self.download(release, fmt))  # type: ignore[arg-type]
        return path

    def frame_from_download(self, release: str | ReleasePublic) -> pl.DataFrame:
        """The Parquet download as a Polars data frame (the same frame as ``Release.frame()``)."""
        return pl.read_parquet(io.BytesIO(self.download(release, "parquet")))

    # --- budgets, history, catalog ---------------------------------------------------------

    def budget(self, organisation_id: str | None = None) -> BudgetPublic:
        """The privacy budget (zCDP rho) left to an organisation (default: the key's) on this data version."""
        return BudgetPublic.model_validate(self._get("/v1/budgets", organisation_id=organisation_id))

    def history(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[TimelineItem]:
        """Runs, quotes, orders, invoices and credit notes of the organisation, newest first."""
        body = self._get("/v1/history", kind=kind, status=status, limit=limit, offset=offset)
        return Page[TimelineItem].model_validate(body)

    def iter_history(self, *, kind: str | None = None, status: str | None = None) -> Iterator[TimelineItem]:
        """Every history item, newest first, page by page."""
        offset = 0
        while True:
            page = self.history(kind=kind, status=status, limit=500, offset=offset)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def search_codes(self, code_list: str, text: str, *, limit: int = 20) -> list[CodePublic]:
        """Codes of a catalog code list (``icd10``, ``atc``, ...) found by code, name or synonym."""
        body = self._get(f"/v1/catalog/code-lists/{code_list}", q=text, limit=limit)
        return Page[CodePublic].model_validate(body).items


@contextmanager
def progress_reporter(progress: ProgressCallback | bool) -> Iterator[ProgressCallback]:
    """The callback to report to: the caller's, a rich status line on stderr (``True``), or none."""
    if progress is True:
        from rich.console import Console

        with Console(stderr=True).status("submitting the run") as status:
            yield lambda update: status.update(update.describe())
    elif callable(progress):
        yield progress
    else:
        yield lambda update: None
