"""Benchmark: a year of service on one data version, through the service's real release path.

    .venv/bin/python -m benchmarks.service_year [--persons 100000] [--organisations 50]
        [--releases 2000] [--seed 1] [--database-url URL] [--max-minutes MINUTES]
        [--no-examples] [--no-public-statistics]

Generates the registers once into ``data/service-year-<persons>`` (reused when present; the layout is
built on first use), migrates a fresh SQLite file (or the empty database ``--database-url`` names),
releases the free public statistics first (``statservice.public_statistics``, as ``statservice run``
does for a new data version: they are in the release history every later release is checked against),
creates the organisations and two customer keys each through ``statservice.accounts``, and asks the
questions of ``benchmarks.workload`` one after another: ``pipeline.prepare``, ``pipeline.create_run``,
the engine, then ``pipeline.commit_release`` (protect, persistence, audit record and invoice line).
Only protect + commit is timed (``protect_and_commit``), never the engine.

Baseline in the same run: the same tables protected release by release with
``disclosure.pipeline.protect`` and a fresh, empty in-memory store, i.e. without any memory of earlier
releases. Comparing what each hides shows the information cross-release protection costs.

Per release it records the milliseconds, whether it was refused, the smallest true cell and, for
every cell with a true count of at least 20, whether it was shown (true counts stay in this process
and are never printed, only shares). The last line:

- ``p50_ms``/``p95_ms``/``max_ms``: protect + commit per release;
- ``refused_share``: refused releases among questions whose smallest true cell is >= 20 (nothing in
  them needs primary suppression, so a refusal is pure loss; the goal is <= 1 %);
- ``hidden_large_share``: cells with a true count >= 20 that were not shown (suppressed, or the
  release refused), over all releases; ``baseline_hidden_large_share`` the same without memory
  (the goal is at most 2 percentage points above it).

``--max-minutes`` (or SIGTERM, e.g. from ``timeout``) stops asking new questions after that wall-clock
time, once the current release is done, and reports the releases done, so a slow audit gives a first
figure instead of running for hours.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.workload import Ask, workload

ROOT = Path(__file__).resolve().parents[1]
LARGE = 20  # a cell this large never needs primary suppression: hiding it is information lost
KEYS_PER_ORGANISATION = 2
SECRET = "service-year-benchmark-secret-0123456789"
AUDIT_KEY = "service-year-benchmark-audit-key-9876543210"  # keys the audit chain (HMAC)

console = Console()


@dataclass(frozen=True)
class Outcome:
    """What one release cost and showed (shares only ever leave the process)."""

    behaviour: str
    family: str
    milliseconds: float
    engine_milliseconds: float
    refused: bool
    refusal: str | None  # disclosure control's fixed message (never depends on a count)
    failed: bool
    smallest_true_cell: int | None
    large_cells: int
    large_hidden: int
    baseline_refused: bool
    baseline_large_hidden: int
    mode: str = "exact"  # exact, noise (asked), degraded (capacity or deadline), refused, failed


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


# --- setting up the service -----------------------------------------------------------------------


def ensure_data(data_dir: Path, persons: int) -> str:
    """Registers (generated once, with ``make run``'s seed) and their query layout; the data version."""
    from queries.engine import DuckDBEngine
    from statservice.cli.run import ensure_registers

    ensure_registers(data_dir, persons=persons)
    engine = DuckDBEngine(data_dir)
    try:
        with console.status("building the query layout (first use of this extract only)"):
            engine.prepare()
        return engine.data_version
    finally:
        engine.close()


def build_service(database_url: str, data_dir: Path) -> Any:
    """A real ``Service`` on a migrated database that holds no releases yet (a year starts empty)."""
    from sqlalchemy import func, select

    from statservice.core.config import Settings
    from statservice.db.migrate import upgrade
    from statservice.db.models import ReleaseRecord
    from statservice.service import Service

    upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=SECRET,
        noise_secret=SECRET,
        audit_key=AUDIT_KEY,
        audit_checkpoint_seconds=0,  # no server here: the chain is verified with its key
        run_executor="thread",
        release_time_bucket_ms=0,  # the padding is for HTTP answers; commit_release never waits for it
    )
    service = Service(settings)
    with service.db.session() as session:
        if session.execute(select(func.count()).select_from(ReleaseRecord)).scalar_one():
            service.close()
            raise SystemExit(
                "the database already holds releases; a service year starts from an empty database "
                "(drop and create it, or leave out --database-url for a temporary SQLite file)"
            )
    return service


def create_requesters(service: Any, organisations: int, name: str = "organisation") -> list[list[Any]]:
    """Organisations (each in its billing segment) with customer keys, through ``statservice.accounts``."""
    from statservice import accounts, pipeline

    segments = ("public_research", "public_research", "private_company", "public_authority", "start_up")
    requesters: list[list[Any]] = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with service.db.write() as session:
        for n in range(organisations):
            organisation = accounts.create_organisation(
                session, f"service-year {stamp} {name} {n}", segments[n % len(segments)]
            )
            keys = []
            for k in range(KEYS_PER_ORGANISATION):
                row, _secret = accounts.create_key(session, organisation.id, "customer", f"analyst {k}")
                keys.append(
                    pipeline.Requester(
                        key_id=row.id,
                        role="customer",
                        key_organisation_id=organisation.id,
                        organisation_id=organisation.id,
                        actor=f"key:{row.id} (customer, org:{organisation.id})",
                    )
                )
            requesters.append(keys)
    return requesters


# --- one release ----------------------------------------------------------------------------------


def protect_and_commit(
    service: Any, run_id: str, requester: Any, prepared: Any, tables: list
) -> tuple[str | None, str | None, float]:
    """The measured part of a release: disclosure control and the release transaction.

    The only place the benchmark times anything; if the release path is split into a protect phase
    and a commit phase, time both here. Returns the release id (None when refused), the refusal's
    message and the milliseconds.
    A refusal is recorded the way ``pipeline.execute_run`` records it, outside the timing.
    """
    from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, ReleaseRefused
    from statservice import pipeline
    from statservice.stores import BudgetOverdrawn

    started = time.perf_counter()
    try:
        release_id = pipeline.commit_release(service, run_id, requester, prepared, tables)
    except (ReleaseRefused, BudgetOverdrawn) as refusal:
        elapsed = 1000 * (time.perf_counter() - started)
        message = refusal.message if isinstance(refusal, ReleaseRefused) else BUDGET_EXCEEDED_MESSAGE
        reason = refusal.reason if isinstance(refusal, ReleaseRefused) else "a ledger was overdrawn at commit"
        problem = pipeline._problem(409, "release-refused", "Release refused", message, run_id)
        pipeline._finish_unreleased(service, run_id, requester, prepared, "refused", problem, reason=reason)
        return None, message, elapsed
    return release_id, None, 1000 * (time.perf_counter() - started)


def mode_of_release(service: Any, release_id: str | None, failed: bool) -> str:
    """How the release was protected, from its audit record (what an auditor reads)."""
    from sqlalchemy import select

    from statservice.db.models import AuditRecord, ReleaseRecord

    if release_id is None:
        return "failed" if failed else "refused"
    with service.db.session() as session:
        sequence = session.get(ReleaseRecord, release_id).audit_sequence
        payload = session.execute(
            select(AuditRecord.payload_json).where(AuditRecord.sequence == sequence)
        ).scalar_one()
    report = json.loads(payload)["report"]
    degraded = report["audit"].get("degraded")
    if degraded:
        return "degraded: capacity" if "capacity" in degraded else "degraded: deadline"
    return "exact" if report.get("noise") is None else "noise (asked)"


def mode_table(outcomes: list[Outcome]) -> Table:
    """Time and information loss per protection mode: where the cost and the hiding come from."""
    table = Table(title="by protection mode")
    for column in ("mode", "releases", "p50 ms", "p95 ms", "max ms", "hidden >= 20", "baseline hidden >= 20"):
        table.add_column(column, justify="right")
    for mode, count in Counter(o.mode for o in outcomes).most_common():
        s = summarise([o for o in outcomes if o.mode == mode])
        table.add_row(
            mode,
            str(count),
            f"{s.p50_ms:.0f}",
            f"{s.p95_ms:.0f}",
            f"{s.max_ms:.0f}",
            f"{s.hidden_large_share:.1%}",
            f"{s.baseline_hidden_large_share:.1%}",
        )
    return table


def shown_in_release(service: Any, release_id: str) -> dict[tuple[int, tuple], bool]:
    """(table, coordinates) -> shown, from the release as persisted (what the customer downloads)."""
    from statservice.db.models import ReleaseRecord

    with service.db.session() as session:
        record = session.get(ReleaseRecord, release_id)
        tables = json.loads(record.tables_json)
    return {
        (t, tuple(cell["coordinates"])): cell["value"] is not None
        for t, table in enumerate(tables)
        for cell in table["cells"]
    }


def baseline_shown(
    service: Any, requester: Any, prepared: Any, tables: list
) -> dict[tuple[int, tuple], bool] | None:
    """The same tables protected with no memory of earlier releases (None when refused)."""
    from disclosure.errors import ReleaseRefused
    from disclosure.pipeline import protect
    from disclosure.release import ReleaseContext
    from disclosure.stores import InMemoryStores
    from statservice import pipeline

    data_version = service.data_version
    context = ReleaseContext(
        data_version=data_version,
        organisation_id=requester.organisation_id,
        noise_secret=service.noise_secret_for(data_version),
        rounding_base=pipeline.rounding_for(prepared.query),
        differential_privacy=pipeline.privacy_for(prepared.query),
    )
    try:
        release = protect(tables, service.policy, context, InMemoryStores())
    except ReleaseRefused:
        return None
    return {
        (t, tuple(row.coordinates)): not row.suppressed
        for t, table in enumerate(release.tables)
        for row in table.rows
    }


def ask(service: Any, requesters: list[list[Any]], question: Ask, segments: list[str]) -> Outcome:
    from statservice import pipeline

    requester = requesters[question.organisation][question.key]
    prepared = pipeline.prepare(service, question.payload(), segments[question.organisation])
    run_id = pipeline.create_run(service, requester, prepared)
    started = time.perf_counter()
    tables = service.engine.run(prepared.query)
    engine_ms = 1000 * (time.perf_counter() - started)
    failed = False
    try:
        release_id, refusal, ms = protect_and_commit(service, run_id, requester, prepared, tables)
    except Exception as error:  # recorded as execute_run would; counted, never hidden
        console.print(f"[red]release failed: {type(error).__name__}[/red]")
        pipeline.fail_run(service, run_id, requester, prepared)
        release_id, refusal, ms, failed = None, None, float("nan"), True
    shown = shown_in_release(service, release_id) if release_id is not None else {}
    baseline = baseline_shown(service, requester, prepared, tables)
    counts = [
        cell.count
        for table in tables
        for cell in table.cells
        if not (cell.structural_zero and cell.count == 0)
    ]
    large = [
        (t, cell.coordinates) for t, table in enumerate(tables) for cell in table.cells if cell.count >= LARGE
    ]
    for released in (shown, baseline or {}):
        if released and any(cell not in released for cell in large):
            # a cell the release does not list would silently count as hidden: a benchmark bug
            raise RuntimeError("a released table does not list every cell of the engine's table")
    return Outcome(
        behaviour=question.behaviour,
        family=question.question.family,
        milliseconds=ms,
        engine_milliseconds=engine_ms,
        refused=release_id is None,
        refusal=refusal,
        failed=failed,
        smallest_true_cell=min(counts) if counts else None,
        large_cells=len(large),
        large_hidden=sum(not shown.get(cell, False) for cell in large),
        baseline_refused=baseline is None,
        baseline_large_hidden=sum(not (baseline or {}).get(cell, False) for cell in large),
        mode=mode_of_release(service, release_id, failed),
    )


# --- the documented examples on the year-old database ---------------------------------------------


@dataclass(frozen=True)
class ExampleOutcome:
    title: str
    kind: str
    mode: str
    cells: int
    shown: int  # cells shown (not suppressed); 0 with cells > 0 means fully hidden


def documented_examples(service: Any, segment: str = "public_research") -> list[ExampleOutcome]:
    """Every query of ``docs/query-language.md``, asked on the database as the year left it, by a new
    organisation, through the same path as the year's questions: released, and how much is shown."""
    from queries.examples import queries_in_markdown
    from statservice import pipeline

    (requester,) = create_requesters(service, 1, "documentation reader")[0][:1]
    outcomes = []
    for payload in queries_in_markdown((ROOT / "docs" / "query-language.md").read_text()):
        prepared = pipeline.prepare(service, payload, segment)
        run_id = pipeline.create_run(service, requester, prepared)
        tables = service.engine.run(prepared.query)
        release_id, _refusal, _ms = protect_and_commit(service, run_id, requester, prepared, tables)
        shown = shown_in_release(service, release_id) if release_id is not None else {}
        outcomes.append(
            ExampleOutcome(
                title=payload.get("title", ""),
                kind=payload["result"]["kind"],
                mode=mode_of_release(service, release_id, failed=False),
                cells=sum(len(table.cells) for table in tables),
                shown=sum(shown.values()),
            )
        )
    return outcomes


def examples_table(outcomes: list[ExampleOutcome]) -> Table:
    table = Table(title="the documented queries (docs/query-language.md) on the year-old database")
    for column in ("query", "result kind", "protection", "cells shown"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for outcome in outcomes:
        table.add_row(outcome.title, outcome.kind, outcome.mode, f"{outcome.shown} of {outcome.cells}")
    return table


# --- the year -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    releases: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    refused_share: float
    hidden_large_share: float
    baseline_hidden_large_share: float


def summarise(outcomes: list[Outcome]) -> Summary:
    timed = [o.milliseconds for o in outcomes if not o.failed]
    clean = [o for o in outcomes if o.smallest_true_cell is not None and o.smallest_true_cell >= LARGE]
    large = sum(o.large_cells for o in outcomes)
    return Summary(
        releases=len(outcomes),
        p50_ms=percentile(timed, 50),
        p95_ms=percentile(timed, 95),
        max_ms=max(timed) if timed else float("nan"),
        refused_share=share(sum(o.refused for o in clean), len(clean)),
        hidden_large_share=share(sum(o.large_hidden for o in outcomes), large),
        baseline_hidden_large_share=share(sum(o.baseline_large_hidden for o in outcomes), large),
    )


def decile_table(outcomes: list[Outcome]) -> Table:
    table = Table(title=f"{len(outcomes)} releases by decile (protect + commit; engine not counted)")
    for column in (
        "decile",
        "releases",
        "p50 ms",
        "p95 ms",
        "max ms",
        "refused",
        "refused, smallest cell >= 20",
        "hidden >= 20",
        "baseline hidden >= 20",
    ):
        table.add_column(column, justify="right")
    chunks = [c for c in np.array_split(np.arange(len(outcomes)), min(10, len(outcomes))) if len(c)]
    for n, indices in enumerate(chunks, start=1):
        part = [outcomes[i] for i in indices]
        s = summarise(part)
        table.add_row(
            str(n),
            f"{int(indices[0]) + 1}-{int(indices[-1]) + 1}",
            f"{s.p50_ms:.0f}",
            f"{s.p95_ms:.0f}",
            f"{s.max_ms:.0f}",
            f"{share(sum(o.refused for o in part), len(part)):.1%}",
            f"{s.refused_share:.1%}",
            f"{s.hidden_large_share:.1%}",
            f"{s.baseline_hidden_large_share:.1%}",
        )
    return table


def exact_counts_held(service: Any) -> int:
    from disclosure.stores import GLOBAL_SCOPE

    with service.db.session() as session:
        service.history.refresh(session, service.data_version)
    return service.history.released_count_total(service.data_version, GLOBAL_SCOPE)


def publish_public_statistics(service: Any) -> None:
    """What ``statservice run`` does for a new data version before any customer asks: the free public
    statistics are released first, and their exact counts are part of every later audit's history."""
    from statservice import public_statistics

    with console.status("releasing the free public statistics (as statservice run does)"):
        outcomes = public_statistics.build(service)
    published = sum(outcome.status == "released" for outcome in outcomes)
    console.print(
        f"public statistics: {published} of {len(outcomes)} published, "
        f"{exact_counts_held(service)} exact counts held before the first customer question"
    )


def run_year(
    database_url: str,
    data_dir: Path,
    organisations: int,
    releases: int,
    seed: int,
    max_minutes: float | None,
    examples: bool = True,
    public: bool = True,
) -> tuple[list[Outcome], list[ExampleOutcome]]:
    service = build_service(database_url, data_dir)
    try:
        if public:
            publish_public_statistics(service)
        requesters = create_requesters(service, organisations)
        from statservice import pipeline

        segments = [pipeline.segment_of(service, keys[0].organisation_id) for keys in requesters]
        asks = workload(organisations, releases, seed, KEYS_PER_ORGANISATION)
        service.engine.prepare()  # open the layout outside the first release
        deadline = time.monotonic() + 60 * max_minutes if max_minutes else None
        outcomes: list[Outcome] = []
        # ``timeout`` (SIGTERM) ends the year after the current release and still reports it
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with Progress(
            TextColumn("[bold]releases[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        ) as progress:
            task = progress.add_task("releases", total=len(asks), status="")
            for question in asks:
                if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    console.print(f"[yellow]stopped early after {len(outcomes)} releases[/yellow]")
                    break
                outcomes.append(ask(service, requesters, question, segments))
                last = outcomes[-1]
                status = f"last {last.milliseconds:.0f} ms, p95 {summarise(outcomes).p95_ms:.0f} ms"
                progress.update(task, advance=1, status=status)
                if not console.is_terminal and len(outcomes) % max(1, len(asks) // 20) == 0:
                    # a log has no live bar: a line every 5 % instead
                    console.print(f"{len(outcomes)}/{len(asks)} releases, {status}")
        signal.signal(signal.SIGTERM, previous)
        console.print(f"exact counts held after the year: {exact_counts_held(service)}")
        return outcomes, documented_examples(service) if examples else []
    finally:
        service.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=100_000, help="size of the generated registers")
    parser.add_argument("--organisations", type=int, default=50)
    parser.add_argument("--releases", type=int, default=2000)
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the workload (the registers use make run's)"
    )
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: a temporary SQLite file)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="register extract (default: data/service-year-<persons>)"
    )
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="stop asking after this many minutes and report"
    )
    parser.add_argument(
        "--no-examples",
        action="store_true",
        help="skip asking the documented queries of docs/query-language.md after the year",
    )
    parser.add_argument(
        "--no-public-statistics",
        action="store_true",
        help="start the year without the free public statistics statservice run releases first",
    )
    args = parser.parse_args()
    if min(args.persons, args.organisations, args.releases) < 1:
        parser.error("--persons, --organisations and --releases must be at least 1")

    data_dir = args.data_dir or ROOT / "data" / f"service-year-{args.persons}"
    data_version = ensure_data(data_dir, args.persons)
    with tempfile.TemporaryDirectory(prefix="service-year-") as workdir:
        database_url = args.database_url or f"sqlite:///{workdir}/statservice.sqlite3"
        console.print(
            f"data version {data_version} ({args.persons:,} persons), "
            f"{database_url.split('://')[0]}, {args.organisations} organisations, {args.releases} releases"
        )
        outcomes, examples = run_year(
            database_url,
            data_dir,
            args.organisations,
            args.releases,
            args.seed,
            args.max_minutes,
            not args.no_examples,
            not args.no_public_statistics,
        )

    # wide enough for every column even when the output is not a terminal
    Console(width=max(console.width, 130)).print(decile_table(outcomes))
    Console(width=max(console.width, 130)).print(mode_table(outcomes))
    behaviours = Counter(o.behaviour for o in outcomes)
    refused = Counter(o.behaviour for o in outcomes if o.refused)
    console.print(
        "asks by behaviour (refused): "
        + ", ".join(f"{name} {count} ({refused[name]})" for name, count in behaviours.most_common())
    )
    for message, count in Counter(o.refusal for o in outcomes if o.refusal).most_common():
        console.print(f"refused {count}x: {message}")
    failed = sum(o.failed for o in outcomes)
    engine = [o.engine_milliseconds for o in outcomes]
    console.print(
        f"all releases refused: {share(sum(o.refused for o in outcomes), len(outcomes)):.1%} "
        f"(baseline {share(sum(o.baseline_refused for o in outcomes), len(outcomes)):.1%}); "
        f"failed: {failed}; engine (not counted) p50 {percentile(engine, 50):.0f} ms, "
        f"p95 {percentile(engine, 95):.0f} ms"
    )
    if examples:
        Console(width=max(console.width, 130)).print(examples_table(examples))
        released = sum(e.mode not in ("refused", "failed") for e in examples)
        hidden = sum(e.cells > 0 and e.shown == 0 for e in examples)
        console.print(f"documented examples: {len(examples)}, released {released}, fully hidden {hidden}")
    s = summarise(outcomes)
    print(
        f"releases={s.releases} organisations={args.organisations} p50_ms={s.p50_ms:.0f} "
        f"p95_ms={s.p95_ms:.0f} max_ms={s.max_ms:.0f} refused_share={s.refused_share:.4f} "
        f"hidden_large_share={s.hidden_large_share:.4f} "
        f"baseline_hidden_large_share={s.baseline_hidden_large_share:.4f}"
    )


if __name__ == "__main__":
    main()
