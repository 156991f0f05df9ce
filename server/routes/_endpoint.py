"""How an OCS endpoint is declared: one decorator registers it under both OCS prefixes and does
the HTTP chores (actor, parameters, cookie) so the handler only parses, calls an action, renders."""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps
from typing import Any, Awaitable, Callable

from quart import Quart, current_app, g, request
from quart.wrappers import Response

from ..auth import COOKIE_NAME, current_actor
from ..domain.context import Actor, Ctx
from ..ocs import V1_PREFIX, V2_PREFIX
from ..params import Params

SPREED = "/apps/spreed/api/v1"
Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    rule: str
    methods: tuple[str, ...]
    handler: Handler
    login: bool
    csrf: bool
    body: bool = True   # False: parameters from the query and path only; the route reads the body


ENDPOINTS: list[Endpoint] = []


def endpoint(rule: str, *methods: str, login: bool = False, csrf: bool = True,
             body: bool = True) -> Callable[[Handler], Handler]:
    """Declare `handler(ctx, actor, params, **path) -> Response` for `rule` (after `/ocs/v{1,2}.php`).
    `body=False` leaves the request body unread (streamed uploads, server/routes/upload_stream.py)."""
    def decorate(handler: Handler) -> Handler:
        ENDPOINTS.append(Endpoint(rule, methods, handler, login, csrf, body))
        return handler
    return decorate


def ctx() -> Ctx:
    return current_app.parley_ctx  # type: ignore[attr-defined]


def _view(ep: Endpoint) -> Callable[..., Awaitable[Response]]:
    @wraps(ep.handler)
    async def view(**path: Any) -> Response:
        context = ctx()
        actor: Actor = await current_actor(context, login_required=ep.login, csrf=ep.csrf)
        params = await Params.load(path, body=ep.body)
        response = await ep.handler(context, actor, params, **path)
        if "new_cookie" in g and g.get("session_written") and response.status_code < 400:
            response.set_cookie(COOKIE_NAME, g.new_cookie, httponly=True, samesite="Lax", path="/",
                                secure=request.scheme == "https")
        return response
    return view


def register_endpoints(app: Quart) -> None:
    for ep in ENDPOINTS:
        for prefix in (V1_PREFIX, V2_PREFIX):
            app.add_url_rule(prefix + ep.rule, endpoint=f"{prefix}{ep.rule}:{','.join(ep.methods)}",
                             view_func=_view(ep), methods=list(ep.methods))


def session_written() -> None:
    """Tell the wrapper to hand out the new cookie: the action stored something under it."""
    g.session_written = True
