"""The FastAPI application: routers under /v1, problem+json errors, body size limit."""

from __future__ import annotations

import asyncio
import functools
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

import statservice
from statservice import web
from statservice.api import docs, errors
from statservice.api.deps import reject_unknown_query_parameters
from statservice.api.middleware import BodySizeLimit, InputGuard, SecurityHeaders
from statservice.api.routes import ROUTERS
from statservice.core.config import Settings, get_settings
from statservice.service import Service

DESCRIPTION = """
Aggregate answers over pseudonymised Danish national health registers. **Analyses are sold, not data**:
every result passes disclosure control (thresholds, secondary suppression with an attacker audit,
differencing guard, optional rounding and differential privacy) and is recorded in a hash-chained
audit log together with its invoice line.

Authenticate with `Authorization: Bearer <API key>` or `X-API-Key: <API key>`. Every error is an
RFC 9457 `application/problem+json` document.
"""


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    settings = settings or get_settings()
    owns_service = service is None
    service = service or Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from statservice.pipeline import mark_interrupted_runs

        mark_interrupted_runs(app.state.service)  # only runs whose lease expired: see statservice/leases.py
        app.state.service.warm_up()
        app.state.service.start_audit_checkpoints()
        app.state.service.start_leases()
        yield
        app.state.service.lease_keeper.stop()
        app.state.service.stop_audit_checkpoints()
        if owns_service:  # a service passed in belongs to the caller (tests, embedding)
            service.close()

    app = FastAPI(
        title="statservice",
        version=statservice.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # docs.install: the same pages from installed assets, not a CDN
        redoc_url=None,
    )
    app.state.service = service
    errors.install(app)
    app.add_middleware(InputGuard)  # added first, so it runs inside the size limit
    docs.install(app, "statservice")
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so the 413 above gets the headers too
    for router in ROUTERS:
        app.include_router(router, prefix="/v1", dependencies=[Depends(reject_unknown_query_parameters)])
    web.install(app)  # the pages under /, calling the same functions as the routes above
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory statservice.api.app:app_from_env``: one per API process of
    ``statservice serve --workers N``, called in the process's event loop before it listens."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not being served
        loop = None
    if loop is not None:
        listen_on_own_socket(loop)
    return create_app()


def listen_on_own_socket(loop: asyncio.AbstractEventLoop) -> None:
    """Let this API process bind its own listening socket with SO_REUSEPORT when it is given a host
    and port to listen on (``serve --workers N``, ``statservice.cli.serve.serve_workers``), so the
    kernel spreads connections over the processes. A socket handed in (``sock=``) is used as it is."""
    create_server = loop.create_server

    @functools.wraps(create_server)
    async def own_socket(*args, **kwargs):
        if kwargs.get("sock") is None:
            kwargs["reuse_port"] = True
        return await create_server(*args, **kwargs)

    loop.create_server = own_socket  # type: ignore[method-assign]
