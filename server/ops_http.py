"""Operations over HTTP, straight from ASGI: `/healthz`, `/readyz`, `/metrics`, and the per-request
metrics and access log for everything else.

Why ASGI and not Quart routes: the probes must answer even when the request machinery is busy or
broken, and measuring a request has to wrap every path, including the two that bypass Quart
(the chat fast path and the `/spreed` WebSocket). This middleware sits outside both.

- `GET /healthz`: 200 while the process serves (liveness).
- `GET /readyz`: 200 when a trivial database unit answers within `readiness_timeout`, else 503
  with a JSON body saying why (also 503 once a graceful shutdown began: take it out of rotation).
- `GET /metrics`: Prometheus text, only for peers in `[server] metrics_allow`, else 403. The peer
  is the ASGI scope's `client`, which a trusted-proxy middleware (outside this one) may rewrite.

Requests are counted under their *route template* (Quart's `url_rule.rule`, recorded in the scope
by an after-request hook, or set by the chat fast path), never the raw path: tokens stay out of
the labels and their number stays bounded. WebSocket connections are not wrapped (a relayed frame
must cost nothing extra); they appear as the `parley_websocket_connections` gauge.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import time
from typing import Any, Callable

import trio

from .logs import ACCESS_LOGGER
from .metrics import CONTENT_TYPE, UNMATCHED, Metrics

ROUTE_KEY = "parley.route"     # scope key holding the route template of the request
access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("parley")

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def allowed(client: Any, networks: Networks) -> bool:
    """Whether the scope's `client` ((host, port) or None) is inside one of `networks`."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class Readiness:
    """At most one database probe in flight; concurrent `/readyz` requests share its answer, so a
    stuck database does not collect one queued unit per probe."""

    def __init__(self, ctx: Callable[[], Any], timeout: float) -> None:
        self._ctx, self.timeout = ctx, timeout
        self._done: trio.Event | None = None
        self._error: str | None = None

    async def _probe(self, db: Any, done: trio.Event) -> None:
        try:
            await db.run(lambda conn: conn.execute("SELECT 1").fetchone())
            self._error = None
        except Exception as exc:   # closed, locked, broken file: all mean "not ready"
            self._error = f"database error: {exc}"
        finally:
            self._done = None
            done.set()

    async def check(self, nursery: trio.Nursery) -> str | None:
        """None when ready, else the reason."""
        ctx = self._ctx()
        if ctx is None:
            return "starting"
        if ctx.hub.stopping:
            return "shutting down"
        done = self._done
        if done is None:
            done = self._done = trio.Event()
            nursery.start_soon(self._probe, ctx.db, done)
        with trio.move_on_after(self.timeout):
            await done.wait()
            return self._error
        return f"the database did not answer within {self.timeout:g} s"


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class OpsMiddleware:
    def __init__(self, app: Any, inner: Any, metrics: Metrics, metrics_allow: tuple[str, ...],
                 readiness_timeout: float, access_log_enabled: bool) -> None:
        self.app, self.inner, self.metrics = app, inner, metrics
        self.networks: Networks = tuple(ipaddress.ip_network(n, strict=False) for n in metrics_allow)
        self.readiness = Readiness(lambda: getattr(app, "parley_ctx", None), readiness_timeout)
        self.access = access_log_enabled
        self._ops = {"/healthz": self._healthz, "/readyz": self._readyz, "/metrics": self._metrics}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0    # stays 0 when the client went away before any answer
        handler = self._ops.get(scope["path"])

        async def send_and_watch(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            if handler is not None and scope["method"] == "GET":
                scope[ROUTE_KEY] = scope["path"]
                await handler(scope, send_and_watch)
            else:
                await self.inner(scope, receive, send_and_watch)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get(ROUTE_KEY) or UNMATCHED
            self.metrics.observe_request(route, scope["method"], status, seconds)
            if self.access:
                client = scope.get("client")
                access_log.info("%s %s %s", scope["method"], route, status, extra={
                    "method": scope["method"], "route": route, "status": status,
                    "duration": round(seconds, 6), "client": client[0] if client else "-"})

    async def _healthz(self, scope, send) -> None:
        await _respond(send, 200, _json({"status": "ok"}), "application/json")

    async def _readyz(self, scope, send) -> None:
        reason = await self.readiness.check(self.app.nursery)
        if reason is None:
            await _respond(send, 200, _json({"status": "ready"}), "application/json")
        else:
            await _respond(send, 503, _json({"status": "unavailable", "reason": reason}), "application/json")

    async def _metrics(self, scope, send) -> None:
        if not allowed(scope.get("client"), self.networks):
            await _respond(send, 403, b"metrics are not available to this address\n", "text/plain; charset=utf-8")
            return
        await _respond(send, 200, self.metrics.render(), CONTENT_TYPE)


def install(app: Any, config: Any) -> Metrics:
    """Wrap `app.asgi_app`. Call after every other ASGI layer of the app itself, so this one sees
    each request first and last (a trusted-proxy layer, which rewrites `client`, goes outside)."""
    metrics = Metrics(lambda: getattr(app, "parley_ctx", None))
    app.asgi_app = OpsMiddleware(app, app.asgi_app, metrics, config.metrics_allow,
                                 config.readiness_timeout, bool(config.access_log))
    return metrics
