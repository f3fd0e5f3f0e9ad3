"""``statservice serve``: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from statservice.core.config import get_settings


def serve(
    host: Annotated[str | None, typer.Option(help="default: STATSERVICE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: STATSERVICE_PORT")] = None,
    migrate: Annotated[bool, typer.Option(help="upgrade the database first")] = True,
    log_level: Annotated[str, typer.Option()] = "warning",
) -> None:
    """Serve the API (migrating the database first); refuses an extract without its catalog."""
    import uvicorn

    from statservice.api.app import create_app
    from statservice.cli.checks import require_register_catalog
    from statservice.db.migrate import upgrade

    settings = get_settings()
    require_register_catalog(settings.data_dir)
    if migrate:
        upgrade(settings.database_url)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
