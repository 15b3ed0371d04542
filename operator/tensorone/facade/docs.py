"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) from assets vendored in ``docs_assets/`` (``make docs-assets``).

FastAPI's defaults load both from a CDN, which leaves a blank page on a machine or cluster without internet
access; here every script, stylesheet and icon the pages use is served by the facade itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(__file__).with_name("docs_assets")
ASSETS_URL = "/docs-assets"
SWAGGER_JS = f"{ASSETS_URL}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_URL}/swagger-ui/swagger-ui.css"
FAVICON = f"{ASSETS_URL}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{ASSETS_URL}/redoc/redoc.standalone.js"


def install(app: FastAPI) -> None:
    """Serve the docs pages and their assets; create the app with ``docs_url=None, redoc_url=None``."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            # The validator badge would fetch an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
