"""The browser client: `/` and `/call/<token>` (the guest link) serve the same page, assets live
under `/web/`. Files come from the `web` package, so a plain `pip install .` ships them.

Every page carries a strict Content-Security-Policy: the client is same-origin ES modules and one
stylesheet, with no inline script or style, so nothing injected into a chat message can run.
"""
from __future__ import annotations

from pathlib import Path

import web
from quart import Quart, Response, send_from_directory
from werkzeug.exceptions import NotFound

from .web_login import register_login

WEB_ROOT = Path(web.__file__).resolve().parent
ASSET_SUFFIXES = {".html", ".css", ".js", ".svg", ".png", ".webmanifest"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",   # the page URL holds the room token
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
    # No build step, so no content hashes in file names: revalidate on every load (cheap 304s).
    "Cache-Control": "no-cache",
}


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


async def index(token: str | None = None) -> Response:
    return _secured(await send_from_directory(WEB_ROOT, "index.html"))


async def asset(path: str) -> Response:
    if Path(path).suffix not in ASSET_SUFFIXES:   # the package's own .py files are not assets
        raise NotFound()
    return _secured(await send_from_directory(WEB_ROOT, path))


def register_web(app: Quart) -> None:
    app.add_url_rule("/", "web_index", index, methods=["GET"])
    app.add_url_rule("/call/<token:token>", "web_call", index, methods=["GET"])
    app.add_url_rule("/web/<path:path>", "web_asset", asset, methods=["GET"])
    register_login(app)
