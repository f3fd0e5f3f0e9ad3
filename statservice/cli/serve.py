"""``statservice serve``: the HTTP API under uvicorn, in one or several processes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from statservice.core.config import get_settings

APP_FACTORY = "statservice.api.app:app_from_env"
# What moves `statservice serve` to another address; `{port}` is a free port to suggest.
SERVE_PORT_HINT = (
    "Choose another port with --port {port} or STATSERVICE_PORT={port}, or stop the program using it"
)


def serve(
    host: Annotated[str | None, typer.Option(help="default: STATSERVICE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: STATSERVICE_PORT")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="API processes (default: STATSERVICE_WORKERS)")
    ] = None,
    log_level: Annotated[str, typer.Option()] = "warning",
) -> None:
    """Serve the API. Refuses an extract without its catalog, a database not at the current
    schema (run `statservice migrate` first) and an address it cannot listen on; several workers
    need PostgreSQL."""
    serve_api(host, port, workers, log_level, SERVE_PORT_HINT)


def serve_api(
    host: str | None, port: int | None, workers: int | None, log_level: str, port_hint: str
) -> None:
    """``serve`` for any command: ``port_hint`` says how the calling command changes the port."""
    import uvicorn
    from rich.console import Console

    from statservice.cli.checks import require_free_port, require_register_catalog
    from statservice.db.migrate import NotMigrated, require_head

    settings = get_settings()
    require_register_catalog(settings.data_dir)
    workers = workers or settings.workers
    console = Console(stderr=True)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        console.print(
            "[red]several workers need PostgreSQL[/]: SQLite is served by one process "
            "(set STATSERVICE_DATABASE_URL=postgresql+psycopg://... or use --workers 1)"
        )
        raise typer.Exit(2)
    try:
        require_head(settings.database_url)
    except NotMigrated as error:
        console.print(f"[red]not serving:[/] {error}")
        raise typer.Exit(2) from None
    host, port = host or settings.host, port or settings.port
    require_free_port(host, port, port_hint)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "timeout_graceful_shutdown": 5,
    }
    if workers == 1:
        from statservice.api.app import create_app

        uvicorn.run(create_app(settings), **options)
    else:
        serve_workers(workers, options)


def serve_workers(workers: int, options: dict) -> None:
    """N API processes (uvicorn's supervisor: health checks, restarts, signals), each building its own
    app (and Service) from the environment and listening on its own SO_REUSEPORT socket.

    uvicorn's own way, one socket shared by every process, let the first process to wake take every
    connection waiting: 50 clients connecting at once left 21 to 39 keep-alive connections on one
    of four processes, which served most of the load on one core while the others idled (issue 14).
    With a socket each, the kernel spreads new connections over the processes."""
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(APP_FACTORY, factory=True, workers=workers, **options)
    if not hasattr(socket, "SO_REUSEPORT"):  # not Linux or BSD: one shared socket
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    # no socket from here: each process binds host and port itself (statservice.api.app.app_from_env)
    Multiprocess(config, sockets=None).run()  # type: ignore[arg-type]
