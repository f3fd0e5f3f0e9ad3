"""``statservice run`` (what ``make run`` calls): a working demo on a fresh machine.

Generates the default 100,000-person registers into ``data/registers`` if missing, migrates the
SQLite database, creates a demo organisation with one key per role on first run (kept in
``var/demo-keys.json``, mode 0600, so re-runs can print them again: it is a development demo), prints
a first query to try with curl, then serves on 127.0.0.1:8000. With STATSERVICE_ENVIRONMENT=production
it creates no demo organisation and prints no keys, only how to create the first administrator key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from statservice.core.config import Settings, get_settings
from statservice.core.files import write_private
from statservice.core.security import ROLES, hash_api_key

console = Console()
DEFAULT_PERSONS = 100_000
DEFAULT_SEED = 20260101
DEMO_ORGANISATION = "Demo organisation"
# What moves the demo to another address (`make run` passes the environment on); `{port}` is a free
# port to suggest.
RUN_PORT_HINT = (
    "Choose another port with STATSERVICE_PORT={port} make run "
    "(or STATSERVICE_PORT={port} statservice run), or stop the program using it"
)


def ensure_registers(data_dir: Path, persons: int = DEFAULT_PERSONS, seed: int = DEFAULT_SEED) -> bool:
    """Generate the registers unless a complete extract is already there. Returns True if it generated.

    The generator writes ``catalog.json`` last, so its presence (not merely some Parquet parts) marks
    a finished extract: a first run interrupted halfway is regenerated instead of being served. An
    extract an older generator made (it lacks registers the service now offers) is moved aside to
    ``<data dir>.generator-<version>`` and generated again; an extract no generator made (a
    delivery) is never touched.
    """
    import json

    from synthetic_registers.catalog import CATALOG_FILE
    from synthetic_registers.generate import GENERATOR_VERSION

    catalog = data_dir / CATALOG_FILE
    if catalog.is_file():
        made_by = json.loads(catalog.read_text(encoding="utf-8")).get("generator_version")
        if made_by is None or made_by == GENERATOR_VERSION:
            return False
        aside = data_dir.with_name(f"{data_dir.name}.generator-{made_by}")
        console.print(
            f"the registers in {data_dir} were made by generator {made_by}; moving them to {aside} and "
            f"generating them with generator {GENERATOR_VERSION}"
        )
        data_dir.rename(aside)
    from rich.progress import Progress

    from synthetic_registers.generate import generate_registers

    data_dir.mkdir(parents=True, exist_ok=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"generating {persons:,} synthetic persons (first run only)", total=None)
        generate_registers(
            data_dir,
            persons=persons,
            seed=seed,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(f"generated {persons:,} synthetic persons into {data_dir}")
    return True


def ensure_demo_keys(settings: Settings) -> dict[str, dict[str, str]]:
    """One key per role for the demo organisation; reuses the stored keys while they are valid."""
    from sqlalchemy import select

    from statservice import accounts
    from statservice.db.models import ApiKey, Organisation
    from statservice.db.session import Database

    db = Database(settings.database_url, audit_key=settings.audit_key)
    path = settings.demo_keys_file
    try:
        stored: dict[str, dict[str, str]] = {}
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8")).get("keys", {})
        with db.write() as session:
            valid = {}
            for role, entry in stored.items():
                row = session.execute(
                    select(ApiKey).where(
                        ApiKey.key_hash == hash_api_key(entry["key"]), ApiKey.revoked_at.is_(None)
                    )
                ).scalar_one_or_none()
                if row is not None:
                    valid[role] = entry
            missing = [role for role in ROLES if role not in valid]
            if missing:
                org = session.execute(
                    select(Organisation).where(Organisation.name == DEMO_ORGANISATION)
                ).scalar_one_or_none()
                if org is None:
                    org = accounts.create_organisation(
                        session, DEMO_ORGANISATION, settings.customer_segment_default, actor="statservice run"
                    )
                for role in missing:
                    row, secret = accounts.create_key(
                        session, org.id, role, f"demo {role}", actor="statservice run"
                    )
                    valid[role] = {"key": secret, "key_id": row.id, "organisation_id": org.id}
        if valid != stored:
            write_private(path, json.dumps({"keys": valid}, indent=2))
        return valid
    finally:
        db.dispose()


FIRST_QUERY = {
    "title": "Incident type 2 diabetes 2015-2018 by sex",
    "index": {
        "concept": {"type": "diagnosis", "codes": ["DE11"]},
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
    },
    "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
}


def print_welcome(keys: dict[str, dict[str, str]], host: str, port: int) -> None:
    table = Table("role", "API key", title=f"demo keys ({DEMO_ORGANISATION}), also in the demo keys file")
    for role in ROLES:
        if role in keys:
            table.add_row(role, keys[role]["key"])
    console.print(table)
    base = f"http://{host}:{port}"
    customer = keys["customer"]["key"]
    body = json.dumps(FIRST_QUERY)
    console.rule("try a first query: its price and privacy cost, then run it")
    # printed plainly (no panel, no wrapping) so the commands can be copied as they are
    for path in ("quote", "runs"):
        console.out(
            f"curl -s {base}/v1/queries/{path} -H 'Authorization: Bearer {customer}' "
            f"-H 'Content-Type: application/json' -d '{body}'",
            highlight=False,
        )
    console.out(f"API docs: {base}/docs", highlight=False)
    console.out(f"Web pages: {base}/ (sign in with the customer key above)", highlight=False)
    console.out(f"free public statistics (no key): {base}/v1/public/statistics", highlight=False)


def print_production_notice(host: str, port: int) -> None:
    console.out(
        f"STATSERVICE_ENVIRONMENT=production: no demo organisation, no keys printed. Create the first "
        f"administrator with `statservice keys create --organisation <name> --role admin` (the key is "
        f"shown once), then serving on http://{host}:{port} (web pages at http://{host}:{port}/)",
        highlight=False,
    )


def run(
    persons: Annotated[int, typer.Option(help="persons to generate on first run")] = DEFAULT_PERSONS,
    serve: Annotated[bool, typer.Option(help="start the server after setting up")] = True,
) -> None:
    """Set up a local demo (registers, database, demo keys) and serve it on 127.0.0.1:8000
    (STATSERVICE_HOST, STATSERVICE_PORT)."""
    from statservice.cli.checks import require_free_port
    from statservice.db.migrate import upgrade

    settings = get_settings()
    if serve:
        # before anything is generated or printed: the welcome's curl commands would reach
        # whatever program holds the port
        require_free_port(settings.host, settings.port, RUN_PORT_HINT)
    generated = ensure_registers(settings.data_dir, persons=persons)  # also an extract lacking its catalog
    from statservice.cli.checks import require_register_catalog

    require_register_catalog(settings.data_dir)
    upgrade(settings.database_url)
    # A demo organisation with printed keys is a development convenience; in production it would be
    # a working admin key in a terminal's scrollback and a file, created without anyone asking.
    keys = ensure_demo_keys(settings) if settings.environment == "development" else None
    from queries.engines import open_engine

    console.print("opening the register extract…")
    open_engine(settings.engine, settings.data_dir, spark_master=settings.spark_master).prepare()
    if generated:  # a new data version: its public statistics, each a release through disclosure control
        from statservice.cli.public import build_public_statistics

        build_public_statistics(settings)
    if serve:  # again: a first run spends a minute generating, and the port may be taken meanwhile
        require_free_port(settings.host, settings.port, RUN_PORT_HINT)
    if keys is None:
        print_production_notice(settings.host, settings.port)
    else:
        print_welcome(keys, settings.host, settings.port)
    if serve:
        from statservice.cli.serve import serve_api

        serve_api(settings.host, settings.port, 1, "warning", RUN_PORT_HINT)
