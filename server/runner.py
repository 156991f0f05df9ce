"""Serving the app with hypercorn's trio worker, with the fixes stack.md found necessary."""
from __future__ import annotations

import gc
import logging
import os
import signal
from functools import partial
from typing import Callable

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

from . import sd_notify, ws_fast
from .config import Config

log = logging.getLogger("parley")
_patched = False


def patch_hypercorn_close() -> None:
    """quart-trio cancels the request nursery from inside hypercorn's final send, which interrupts
    TCPServer._close() before the socket is closed: `Connection: close` clients never see EOF
    (stack.md §3, hypercorn#106). Shield the close so it completes (and the idle restart, below)."""
    global _patched
    if _patched:
        return
    import hypercorn.trio.tcp_server as tcp_server
    original = tcp_server.TCPServer._close

    async def shielded_close(self) -> None:  # type: ignore[no-untyped-def]
        with trio.CancelScope(shield=True):
            await original(self)
    tcp_server.TCPServer._close = shielded_close

    # The same cancellation also hits the `Updated(idle=True)` event that follows a response: the
    # connection's idle task (which closes a keep-alive connection after keep_alive_timeout, or
    # at once when the server stops) is never restarted. Idle keep-alive connections then stayed
    # open until hypercorn's graceful_timeout ran out, so every stop took 3 s. Shield it too.
    from hypercorn.events import Updated
    original_send = tcp_server.TCPServer.protocol_send

    async def shielded_send(self, event) -> None:  # type: ignore[no-untyped-def]
        if isinstance(event, Updated):
            with trio.CancelScope(shield=True):
                await original_send(self, event)
        else:
            await original_send(self, event)
    tcp_server.TCPServer.protocol_send = shielded_send
    _patched = True


def tune_gc() -> None:
    """Keep collector pauses short with thousands of parked requests (docs/PERFORMANCE.md).

    A collection's pause grows with the number of objects in the generations it walks, and a
    young generation under churn holds far more objects than its threshold (deallocations of old
    objects lower the count). With 5,000 parked chat polls, (100000, 50, 1000) gave young-
    generation pauses of 70-170 ms and (10000, 5, 1000) generation-1 pauses of 65-90 ms;
    (5000, 2, 1000) keeps both generations small (pauses of about 6 and 20-25 ms while polls are
    held). A full collection waits for 1000 generation-1 runs (about 10 million net allocations)
    and a 25% growth of the long-lived heap. Objects alive after start-up (modules, routes) are
    frozen out of every collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_thresholds())


def _thresholds() -> tuple[int, int, int]:
    """(5000, 2, 1000), or PARLEY_GC_THRESHOLDS="a,b,c" (for measuring other settings)."""
    given = os.environ.get("PARLEY_GC_THRESHOLDS", "")
    try:
        a, b, c = (int(part) for part in given.split(","))
        return a, b, c
    except ValueError:
        return 5_000, 2, 1000


def hypercorn_config(bind: str, tls: tuple[str, str] | None = None, redirect_bind: str = "") -> HyperConfig:
    hc = HyperConfig()
    hc.bind = [bind]
    if tls is not None:   # HTTPS and WSS on `bind`; files checked beforehand by server/tls.py
        hc.certfile, hc.keyfile = tls
        # HTTP/1.1 only: the chat fast path and the WebSocket path are written and tested against
        # HTTP/1.1 scopes (h2's pseudo-headers and extended CONNECT are another code path).
        hc.alpn_protocols = ["http/1.1"]
        if redirect_bind:
            hc.insecure_bind = [redirect_bind]   # plain HTTP; server/tls.HttpsRedirect answers it
    hc.backlog = 4096
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.keep_alive_timeout = 75  # browsers keep idle connections longer than hypercorn's default 5 s
    # How long a stop waits for requests still running. Released long-polls answer at once, but
    # thousands of answers take a few seconds of CPU on a loaded machine (docs/PERFORMANCE.md,
    # "Graceful shutdown"); hypercorn's 3 s would cut the slowest. A hung request is cut after 10 s.
    hc.graceful_timeout = 10
    hc.websocket_max_message_size = 64 * 1024  # signaling frames (strukturag's cap); larger closes with 1009
    return hc


def release_waiters(app) -> None:
    """The first step of a graceful stop, before hypercorn stops accepting: every parked chat
    poll and signaling pull answers now and every WebSocket closes with 1001 (`Hub.shut_down`).
    hypercorn then waits (up to its graceful_timeout) for those answers to be written, closes idle
    keep-alive connections, and runs the app's shutdown: pings stored, database closed."""
    ctx = getattr(app, "parley_ctx", None)
    if ctx is None or ctx.hub.stopping:
        return
    pulls = ctx.hub.mailboxes.pulls_waiting()
    live = ctx.hub.shut_down()
    log.info("shutting down: answering %d parked chat poll(s) and %d signaling pull(s), "
             "closing %d WebSocket(s)", live.chat_waiters, pulls, live.websocket_connections)


def listen_options(config: Config) -> dict:
    """serve_app's TLS and WebSocket arguments from the configuration."""
    tls = (config.tls_cert, config.tls_key) if config.tls_cert else None
    return {"tls": tls, "redirect_bind": config.http_redirect_bind,
            "fast_websocket": config.fast_websocket, "websocket_ping_interval": config.websocket_ping_interval}


async def serve_app(app, bind: str, *, task_status=trio.TASK_STATUS_IGNORED,
                    shutdown_trigger: Callable | None = None, tls: tuple[str, str] | None = None,
                    redirect_bind: str = "", fast_websocket: bool = True,
                    websocket_ping_interval: float = 30.0) -> None:
    """Serve until `shutdown_trigger` returns (or SIGINT/SIGTERM). Reports the bound addresses
    (with TLS: the https one first, then the redirect listener's). Either way the stop is
    graceful: see `release_waiters`."""
    patch_hypercorn_close()
    hc = hypercorn_config(bind, tls, redirect_bind)
    # `/spreed` served below ASGI (server/ws_fast.py), unless `[signaling] fast_websocket = false`.
    ws_fast.mark(hc, fast_websocket, websocket_ping_interval)
    stop = trio.Event()

    async def watch_signals() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s", signal.Signals(signum).name)
                stop.set()
                return

    async with trio.open_nursery() as nursery:
        if shutdown_trigger is None:
            nursery.start_soon(watch_signals)
            shutdown_trigger = stop.wait
        until = shutdown_trigger

        async def graceful_trigger() -> None:
            await until()
            sd_notify.notify("STOPPING=1")
            release_waiters(app)
        binds = await nursery.start(partial(serve, app, hc, shutdown_trigger=graceful_trigger))
        redirect = getattr(app, "https_redirect", None)
        if redirect is not None and binds:   # the HTTPS port, once bound (bind may say port 0)
            redirect.https_port = int(binds[0].rsplit(":", 1)[1])
        task_status.started(binds)
    log.info("stopped")


def setup_url(base: str, token: str, public_url: str = "") -> str:
    """The first-run link. The token sits in the fragment, which browsers never send to a server
    (nor to a proxy's access log); the web client reads it from there."""
    return f"{(public_url or base).rstrip('/')}/setup#{token}"


async def _print_login_hint(app, url: str, config: Config) -> None:
    token = app.first_run.token
    if token is not None:
        print("\nNo accounts yet. Open this one-time link (valid for 1 hour, until used) to create the first\n"
              f"administrator in the browser:\n  {setup_url(url, token, config.public_url)}\n"
              "or create one from the command line:\n"
              f"  parley user add admin --password 'choose-a-password' --admin --data-dir {config.data_dir}",
              flush=True)
    print("Log in with those credentials in the web client, or use Basic auth with the API:\n"
          f"  curl -u admin:PASSWORD -H 'OCS-APIRequest: true' -H 'Accept: application/json' "
          f"{url}/ocs/v2.php/apps/spreed/api/v1/room", flush=True)


def run(config: Config) -> None:
    from . import gc_log
    from .app import create_app
    from .datadir_lock import DataDirLock
    from .tls import check as check_tls
    check_tls(config)   # before anything binds: one line naming the bad file (server/cli.py)
    # Held until the process exits: `parley restore` refuses while it is held (server/datadir_lock.py).
    lock = DataDirLock(config.data_dir).acquire()
    tune_gc()
    app = create_app(config)
    if gc_log.enabled():
        gc_log.install(app)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve_app, app, config.bind, **listen_options(config)))
            # The socket is bound and the app's start-up (database open, migrated) has run.
            sd_notify.notify("READY=1\nSTATUS=serving on " + ", ".join(binds))
            url = binds[0] if binds else f"http://{config.bind}"
            print(f"Parley is serving on {url}  (data in {config.data_dir})", flush=True)
            print(f"  web client: {url}/", flush=True)
            print(f"  API:        {url}/ocs/v2.php/apps/spreed/api/v1/room", flush=True)
            if config.http_redirect_bind:   # hypercorn lists the plain-HTTP sockets after the TLS ones
                for plain in (b for b in binds if b.startswith("http://")):
                    print(f"  redirect:   {plain} -> {url}", flush=True)
            await _print_login_hint(app, url, config)
    try:
        trio.run(main)
    finally:
        lock.release()
