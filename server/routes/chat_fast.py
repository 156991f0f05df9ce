"""GET /ocs/v{1,2}.php/apps/spreed/api/v1/chat/{token} (receive messages) straight from ASGI, ahead of Quart.

Why: a chat fan-out wakes every parked poll of a room at once, and per woken poll the server spent
~0.38 ms of CPU, mostly in the HTTP stack: quart-trio's per-request nursery and cancel scopes, Quart's
request/response objects, werkzeug's routing. This path skips that stack for the requests it can
answer *identically* (docs/PERFORMANCE.md#chat, "ASGI fast path").

It takes a request only when that is certain and cheap to decide up front: method GET, exactly the
route's path (token `[a-z0-9]{4,30}`, no root path), no request body (no Content-Length other than 0,
no Transfer-Encoding, no Content-Type), `OCS-APIRequest: true`, no web login cookie, a query string
without repeated keys, and either no Authorization header (a guest, or an anonymous caller) or Basic
credentials that the in-memory cache already knows (`ctx.passwords.cached_user`). Everything else
(uncached or malformed credentials, a missing OCS-APIRequest, a body, the login cookie, HEAD, odd
headers) goes to Quart unchanged, which answers it as before.

Given that, the answer is built the same way as the Quart route's: the same `Params`, the same
action (`chat.receive_page`), the same encoding (`ocs.encode`), the same headers in the same order,
the same error rendering (ParleyError → its OCS envelope; anything else is logged and answered with
the OCS 500 envelope of server/app.py). A client that goes away while its poll is parked cancels it,
as quart-trio does: a watcher task reads `receive()` until `http.disconnect`.
"""
from __future__ import annotations

import base64
import logging
import re
import secrets
from urllib.parse import parse_qsl

import trio
from quart import Quart
from werkzeug.http import parse_cookie

from storage.db import DatabaseUnavailable

from .. import ocs
from ..auth import COOKIE_NAME, cookie_hash
from ..domain.context import Actor, Ctx
from ..domain.errors import ParleyError
from ..params import Params
from ..routes.web_login import LOGIN_COOKIE
from .chat import receive_page

log = logging.getLogger("parley")   # the logger of server/app.py's handler for unexpected errors

PATH = re.compile(r"/ocs/v([12])\.php/apps/spreed/api/v1/chat/([a-z0-9]{4,30})")
# The Quart rules of the same route, as the request metrics label them.
ROUTES = {v: f"/ocs/v{v}.php/apps/spreed/api/v1/chat/<token:token>" for v in (1, 2)}
# Headers whose presence alone sends a request to Quart: a body, or a login cookie (below).
_BODY_HEADERS = (b"content-length", b"transfer-encoding", b"content-type")
# Headers read here; a request that repeats one goes to Quart (werkzeug reads the first, or joins).
_READ = {b"authorization", b"ocs-apirequest", b"accept", b"cookie", b"host"}


def _headers(scope) -> dict[bytes, bytes] | None:
    """The headers this path reads, or None when the request is not certainly eligible."""
    seen: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _BODY_HEADERS:
            if name != b"content-length" or value.strip() != b"0":
                return None
        if name in _READ:
            if name in seen:
                return None
            seen[name] = value
    return seen


def _query(raw: bytes) -> dict[str, str] | None:
    """`request.args` as werkzeug parses it, or None when a key repeats or the bytes are not UTF-8."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    values: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"):
        if key in values:
            return None
        values[key] = value
    return values


class ChatPollMiddleware:
    """ASGI middleware: answers eligible chat receive requests, passes everything else to `inner`."""

    def __init__(self, app: Quart, inner) -> None:
        self.app, self.inner = app, inner
        self.enabled = True   # tests switch it off to compare with the Quart route
        self.served = 0       # requests answered here (tests check which path answered)

    async def __call__(self, scope, receive, send) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET" or not self.enabled
                or scope.get("root_path", "") != ""):
            await self.inner(scope, receive, send)
            return
        match = PATH.fullmatch(scope["path"])
        try:
            request = self._eligible(scope, match) if match is not None else None
        except Exception:   # not expected; Quart then answers the request as it always did
            log.exception("chat fast path: eligibility check failed for %s", scope["path"])
            request = None
        if request is None:
            await self.inner(scope, receive, send)
            return
        actor, values, accept = request
        self.served += 1
        version, token = int(match[1]), match[2]   # type: ignore[index]
        scope["parley.route"] = ROUTES[version]    # the metrics' route label (server/ops_http.py)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_disconnect, receive, nursery.cancel_scope)
            status, headers, body = await self._answer(actor, values, accept, version, token, scope)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            nursery.cancel_scope.cancel()

    def _eligible(self, scope, match) -> tuple[Actor, dict[str, str], str] | None:
        headers = _headers(scope)
        if headers is None or headers.get(b"ocs-apirequest", b"").lower() != b"true":
            return None
        if not headers.get(b"host", b"").isascii():
            return None
        cookie = headers.get(b"cookie")
        cookies = {}
        if cookie is not None:
            if LOGIN_COOKIE.encode() in cookie:   # resolve_login_cookie (a before_request hook) may act
                return None
            cookies = parse_cookie(cookie.decode("latin1"))
        values = _query(scope["query_string"])
        if values is None:
            return None
        ctx: Ctx = self.app.parley_ctx  # type: ignore[attr-defined]
        client = (scope.get("client") or ["<local>"])[0] or ""
        authorization = headers.get(b"authorization")
        user_id = None
        if authorization is not None:
            scheme, _, encoded = authorization.decode("latin1").partition(" ")
            if scheme.lower() != "basic" or not encoded:
                return None
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except ValueError:   # binascii.Error, UnicodeDecodeError, non-ASCII: Quart decides
                return None
            user, sep, password = decoded.partition(":")
            if not sep:
                return None
            cached = ctx.passwords.cached_user(user, password)
            if cached is None:
                return None
            user_id = cached.id
        # auth._cookie: a fresh value when the request has none (this route never hands it out).
        session = cookies.get(COOKIE_NAME)
        if not (session and 20 <= len(session) <= 128):
            session = secrets.token_urlsafe(32)
        actor = Actor(user_id=user_id, cookie_hash=cookie_hash(session), client=client)
        return actor, values, headers.get(b"accept", b"").decode("latin1")

    async def _answer(self, actor: Actor, values: dict[str, str], accept: str, version: int, token: str,
                      scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        fmt = values.get("format")
        as_json = ocs.json_wanted(fmt if fmt in ("json", "xml") else None, accept)
        values["token"] = token   # Params.load: path parameters override the query
        try:
            result = await receive_page(self.app.parley_ctx, actor, Params(values), token)  # type: ignore[attr-defined]
            page = result.messages
            if not page and not result.changed:
                return 304, [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"0")], b""
            status, body, content_type = ocs.encode(page, 200, version, as_json, memo=getattr(page, "memo", None))
            # The headers of routes/chat.py's `_headers`, in the same order.
            extra = [(b"x-chat-last-given", str(page[-1]["id"]).encode())] if page else []
            extra.append((b"x-chat-last-common-read", str(result.common_read).encode()))
        except ParleyError as exc:
            if exc.status == 304:
                return 304, [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"0")], b""
            status, body, content_type = ocs.encode(None, exc.status, version, as_json, message=exc.message)
            extra = []
        except DatabaseUnavailable as exc:
            # As server/app.py's handler: overload or PostgreSQL away is a 503 the client retries.
            log.warning("%s %s: %s", scope["method"], scope["path"], exc)
            status, body, content_type = ocs.encode(None, 503, version, as_json,
                                                    message="the database is unavailable; try again shortly")
            extra = [(b"retry-after", b"2")]
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            status, body, content_type = ocs.encode(None, 500, version, as_json, message=ocs.SERVER_ERROR_MESSAGE,
                                                    v1_code=ocs.SERVER_ERROR_V1_CODE)
            extra = []
        return status, extra + [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(body)).encode())], body


async def _watch_disconnect(receive, scope: trio.CancelScope) -> None:
    """Cancel the request when its client goes away (the body, if any, is never read here)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def register_chat_fast_path(app: Quart) -> ChatPollMiddleware:
    middleware = ChatPollMiddleware(app, app.asgi_app)
    app.asgi_app = middleware  # type: ignore[method-assign]
    return middleware
