"""/docs (Swagger UI) and /redoc from the installed ``fastapi-offline`` package's asset files.

FastAPI's defaults load both from a CDN: blank pages offline, and script run without an integrity
check. Here every asset is served by the app itself under /docs-assets/, and nothing else is fetched
(no Google fonts for ReDoc, no validator badge for Swagger UI).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from statservice.api.middleware import CACHEABLE_PREFIX

ASSETS_PATH = CACHEABLE_PREFIX.rstrip("/")
ASSETS = Path(str(files("fastapi_offline") / "static"))
SWAGGER_JS = f"{ASSETS_PATH}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_PATH}/swagger-ui.css"
REDOC_JS = f"{ASSETS_PATH}/redoc.standalone.js"
FAVICON = f"{ASSETS_PATH}/favicon.png"


def install(app: FastAPI, title: str) -> None:
    """Create the app with ``docs_url=None, redoc_url=None`` and call this instead."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} – API",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} – API",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
