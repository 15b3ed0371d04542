"""The web dashboard under ``/ui``: static ES modules served by the facade itself, no build step, no CDN.

The pages call the same ``/v2`` REST API with the API key the person signs in with (kept in the browser's
``sessionStorage``), so they show exactly what that key may see; this module only serves files. Every page URL
(``/ui/jobs/<id>``, ``/ui/new``, …) answers the same ``index.html``: the route is resolved in the browser, and a
job the key cannot see is the API's ``JOB_NOT_FOUND``, the same for another account's job as for a missing one.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
UI_PREFIX = "/ui"
# Scripts, styles, images and API calls from this origin only; nothing inline, no framing. uPlot sizes its
# elements through the CSSOM (element.style), which a style-src policy does not restrict.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class _Assets(StaticFiles):
    """Static files with the dashboard's security headers; browsers revalidate them (ETag) on each load."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update({**SECURITY_HEADERS, "Cache-Control": "no-cache"})
        return response


def _index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """Serve the dashboard: assets under ``/ui/assets``, every other ``/ui`` path the single page."""
    app.mount(f"{UI_PREFIX}/assets", _Assets(directory=STATIC), name="ui-assets")

    @app.get(UI_PREFIX, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/jobs")

    @app.get(UI_PREFIX + "/{page:path}", include_in_schema=False)
    async def ui_page(page: str) -> FileResponse:
        del page  # the browser resolves the route
        return _index()
