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
# The pages may load only from the app: ReDoc's bundle names a logo on cdn.redoc.ly, which the browser
# then does not fetch (the image's alt text is shown). Inline script and style: the pages' own
# bootstrap (FastAPI's HTML); blob workers: ReDoc's search.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'"
)


def install(app: FastAPI, title: str) -> None:
    """Create the app with ``docs_url=None, redoc_url=None`` and call this instead."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _self_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} – API",
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _self_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} – API",
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )


def _self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page
