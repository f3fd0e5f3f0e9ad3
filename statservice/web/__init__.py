"""The web pages: server-rendered Jinja2 templates, htmx served from this package, nothing from
outside. The pages call the same functions as the /v1 API (``statservice.api.routes``), so a page
shows what the API answers."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from statservice.web.pages import HERE, install_error_pages
from statservice.web.routes import ROUTERS

STATIC_PATH = "/static"


def install(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="static")
    install_error_pages(app)
    for router in ROUTERS:
        app.include_router(router)
