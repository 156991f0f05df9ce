"""create_app(config): the whole Parley application wired in one readable function."""
from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Callable

import trio
from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from signaling.hub import Hub
from signaling.sfu.controller import SfuController
from signaling.sfu.janus import JanusClient
from storage import accounts as accounts_db
from storage.db import Database, DatabaseUnavailable, UnstorableValue, open_database

from . import ocs, ops_http
from .auth import CsrfFailed
from .config import Config
from .domain import attachments, first_run, housekeeping
from .domain.context import Ctx
from .domain.errors import ParleyError
from .domain.signaling import SignalingBackend
from .forwarded import ForwardedMiddleware, TrustedProxies
from .routes import register_endpoints, register_web
from .routes.chat_fast import register_chat_fast_path
from .routes.setup import register_setup
from .routes.signaling import register_websocket
from .routes.upload_stream import register_upload_stream
from .routing import LazyBuildRule
from .tls import Hsts, HttpsRedirect

log = logging.getLogger("parley")


class TokenConverter(BaseConverter):
    """Room tokens as Talk routes them: 4-30 lower-case letters and digits. Anything else is an
    unknown route (404), as in Talk."""
    regex = "[a-z0-9]{4,30}"


def _load_secret(db: Database) -> Callable:
    def unit(conn) -> bytes:
        accounts_db.put_secret(conn, "server", secrets.token_hex(32))
        return bytes.fromhex(accounts_db.get_secret(conn, "server"))
    return unit


def create_app(config: Config, clock: Callable[[], float] | None = None, *,
               housekeeping_timer: bool = True) -> QuartTrio:
    app = QuartTrio("parley")
    app.url_rule_class = LazyBuildRule   # URL builders compiled on first use (server/routing.py)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.converters["token"] = TokenConverter
    app.url_map.strict_slashes = False
    register_endpoints(app)
    register_websocket(app)
    register_upload_stream(app)   # POST /chat/{token}/attachment reads its body as a stream
    app.chat_fast_path = register_chat_fast_path(app)  # type: ignore[attr-defined]  # GET /chat/{token}
    register_web(app)   # the browser client and its login
    register_setup(app)   # first run: the one-time /setup link that creates the first admin
    # /healthz, /readyz, /metrics and per-request metrics: the outermost of the app's own ASGI layers.
    metrics = ops_http.install(app, config)
    app.parley_metrics = metrics  # type: ignore[attr-defined]
    register_network_layers(app, config)   # keep last: these must see every request first
    timer: housekeeping.Timer | None = None
    sweeper = trio.CancelScope()   # the WebSocket session timer, stopped at shutdown
    bus_scope = trio.CancelScope()   # the cluster bus task, stopped last

    @app.after_request
    async def remember_route(response: Response) -> Response:
        """The route template labels the request's metrics (runs for error responses too)."""
        rule = request.url_rule
        request.scope[ops_http.ROUTE_KEY] = rule.rule if rule is not None else "unmatched"
        return response

    if config.redis_url:
        @app.after_request
        async def events_out_first(response: Response) -> Response:
            """A cluster node answers only once the request's events reached Redis, so that a
            client's next request, on any node, is ordered after them (see Bus.settle)."""
            bus = app.parley_ctx.bus  # type: ignore[attr-defined]
            if bus is not None:
                await bus.settle()
            return response

    async def sweep_websocket_sessions(ctx: Ctx) -> None:
        with sweeper:
            await ctx.hub.websockets.run(SignalingBackend(ctx).leave, ctx.clock)

    @app.before_serving
    async def start() -> None:
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        db = open_database(config.database_url, config.db_path, config.database_pool_size)
        secret = await db.run(_load_secret(db))
        ctx = Ctx(db=db, hub=Hub(), config=config, passwords=config.password_service(),
                  secret=secret)
        if clock is not None:
            ctx.clock = clock
        app.parley_ctx = ctx  # type: ignore[attr-defined]
        await ctx.passwords.dummy_hash()   # unknown users are verified against it from the first request
        if config.redis_url:
            from .cluster import attach   # imports coredis: only for a cluster node
            ctx.bus = attach(config.redis_url, ctx.hub, ctx.passwords)

            async def run_bus(task_status=trio.TASK_STATUS_IGNORED) -> None:
                with bus_scope:
                    await ctx.bus.run(task_status=task_status)
            await app.nursery.start(run_bus)
        await first_run.open_if_no_accounts(ctx, app.first_run)  # type: ignore[attr-defined]
        attachments.install(ctx)   # <data_dir>/files/; reclaims the space of deleted files on a timer
        app.nursery.start_soon(attachments.run_sweeper, ctx, config.file_sweep_interval)
        # Never resurrect sessions that went stale while down (in a cluster: if this node holds the lease).
        await housekeeping.run_once(ctx, ctx.now(), expire=await housekeeping.may_expire(ctx))
        if housekeeping_timer:
            nonlocal timer
            timer = housekeeping.Timer(ctx)
            app.nursery.start_soon(timer.run)
        # Ends WebSocket signaling sessions whose resume window passed; sweeps idle mailboxes.
        app.nursery.start_soon(sweep_websocket_sessions, ctx)
        db.observe = metrics.observe_db_unit
        metrics.start_gc_timing()
        if config.janus_url:   # calls through Janus (signaling/sfu); without it they stay a mesh
            ctx.hub.sfu = SfuController(JanusClient(config.janus_url, timeout=config.janus_timeout),
                                        ctx.hub.mailboxes, SignalingBackend(ctx).room_roster, ctx.clock)
            await app.nursery.start(ctx.hub.sfu.run)

    @app.after_serving
    async def stop() -> None:
        ctx: Ctx = app.parley_ctx  # type: ignore[attr-defined]
        log.info("no request left: storing pings, closing the database")
        metrics.stop_gc_timing()
        # quart-trio would give background tasks 5 s before cancelling them; this one holds no
        # state that needs a goodbye (sessions it would end are gone with the process anyway).
        sweeper.cancel()
        if timer is not None:
            await timer.stop()   # before the database closes (see housekeeping.Timer)
        await housekeeping.run_once(ctx, ctx.now(), expire=ctx.bus is None)   # store the pings gathered in memory
        if ctx.bus is not None:
            await ctx.bus.release("housekeeping")   # a restarted cluster need not wait for it to lapse
            await ctx.bus.flush(2.0)   # let the other nodes hear our last events
            bus_scope.cancel()
        ctx.db.close()
        ctx.passwords.close()   # the hash threads

    @app.errorhandler(ParleyError)
    async def parley_error(exc: ParleyError) -> Response:
        if not ocs.is_ocs_path(request.path):   # the web client's own endpoints (/login…)
            return ocs.plain_error(exc.status, exc.message, exc.headers() or None)
        return ocs.render_error(exc)

    @app.errorhandler(CsrfFailed)
    async def csrf_failed(exc: CsrfFailed) -> Response:
        return ocs.csrf_failed()

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 405:
            return Response(b"", status=405, headers={"Allow": ", ".join(getattr(exc, "valid_methods", None) or [])})
        if not ocs.is_ocs_path(request.path):
            return Response(exc.description or "", status=status, content_type="text/plain; charset=utf-8",
                            headers={"Connection": "close"} if status == 413 else None)
        if status == 404:
            return ocs.unknown_route()
        if status == 413:
            # The rest of the body was never read, so this connection cannot carry another request;
            # say so, or a keep-alive client reuses it and sees it dropped.
            return ocs.render(None, 413, message=f"request body larger than {config.max_body_bytes} bytes",
                              headers={"Connection": "close"})
        return ocs.render(None, status, message=exc.description)

    @app.errorhandler(UnstorableValue)
    async def unstorable_value(exc: UnstorableValue) -> Response:
        if not ocs.is_ocs_path(request.path):
            return ocs.plain_error(400, str(exc))
        return ocs.render(None, 400, message=str(exc))

    @app.errorhandler(DatabaseUnavailable)
    async def database_unavailable(exc: DatabaseUnavailable) -> Response:
        log.warning("%s %s: %s", request.method, request.path, exc)
        headers = {"Retry-After": "2"}
        if not ocs.is_ocs_path(request.path):
            return Response("Service temporarily unavailable", status=503, headers=headers,
                            content_type="text/plain; charset=utf-8")
        return ocs.render(None, 503, message="the database is unavailable; try again shortly", headers=headers)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.path)
        if not ocs.is_ocs_path(request.path):
            return ocs.plain_error(500, "Internal server error; the incident was logged")
        return ocs.server_error()

    return app


def register_network_layers(app: QuartTrio, config: Config) -> None:
    """The outermost ASGI layers, around Quart and both hot paths: the plain-HTTP redirect (it
    reads the connection's own scheme), then the trusted-proxy rewrite of client, scheme and host,
    then HSTS (it reads the rewritten scheme). Each is there only when configured."""
    inner = app.asgi_app
    if config.hsts_max_age > 0:
        inner = Hsts(inner, config.hsts_max_age)
    proxies = TrustedProxies(config.trusted_proxies)
    if proxies:
        inner = ForwardedMiddleware(inner, proxies)
    if config.http_redirect_bind:
        inner = app.https_redirect = HttpsRedirect(inner, config)  # type: ignore[attr-defined]
    app.asgi_app = inner  # type: ignore[method-assign]
