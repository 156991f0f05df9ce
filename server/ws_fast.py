"""`/spreed` below ASGI: hypercorn parses the upgrade request, then Parley owns the connection.

Why: a relayed signaling message crosses the server twice, and on hypercorn's WebSocket path each
crossing went through h11's pass-through buffer, wsproto, `WSStream`, an ASGI message dict, a
memory channel into the app's task, and on the way out a per-connection lock and a shielded cancel
scope around one `send()` per frame, plus a `fail_after` per read. py-spy put that, and the task
switches it causes, at about 80 % of the server's CPU per relayed message
(docs/PERFORMANCE.md#signaling). Here the connection's own task reads, parses and dispatches
(`server/fast_socket.py`), and writes are one syscall per batch.

The hook is `H11Protocol._create_stream`, the one place that sees a complete HTTP/1.1 request
before hypercorn builds a stream for it. For a WebSocket upgrade to `/spreed`, when the hypercorn
config says `parley_fast_websocket` (`[signaling] fast_websocket`, on by default), it takes the
connection's trio stream from its `TCPServer` (plain or TLS: the same `Stream` interface) and
serves it to the end inside hypercorn's reading task, which is otherwise idle for a WebSocket.
Anything else, or a hypercorn whose internals do not look as expected, takes the normal path.

The ASGI app still gets the upgrade: it is called with the scope hypercorn would have built (so
the HTTPS-redirect and trusted-proxy layers see and rewrite it as before) and with ASGI `receive` /
`send` callables; the scope also carries the `FastWebSocket` under `FAST_SOCKET`, which
`SpreedSocketMiddleware` uses for frames instead of ASGI messages. A `websocket.close` before
accept is answered HTTP 403, as hypercorn does.
"""
from __future__ import annotations

import logging
from time import time
from typing import Any
from urllib.parse import unquote

import h11
import trio

from signaling.websocket import ConnectionClosed

from .fast_socket import FastWebSocket

log = logging.getLogger("parley")

FAST_SOCKET = "parley.fast_websocket"   # scope key: the FastWebSocket serving this upgrade
PATH = b"/spreed"
_installed = False


class _Finished:
    """Stands in for the h11 connection once the socket is ours: hypercorn's event loop for this
    connection reads "closed" and stops; its reader then finds the stream closed and exits."""
    our_state = their_state = None
    they_are_waiting_for_100_continue = False
    trailing_data = (b"", True)

    def receive_data(self, data: bytes) -> None:
        pass

    def next_event(self) -> h11.ConnectionClosed:
        return h11.ConnectionClosed()


def install() -> None:
    """Patch hypercorn once (idempotent). Without the expected internals, do nothing."""
    global _installed
    if _installed:
        return
    try:
        from hypercorn.protocol.h11 import H11Protocol
        from hypercorn.protocol.ws_stream import Handshake
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError:   # pragma: no cover - another hypercorn layout: keep the ASGI path
        return
    original = getattr(H11Protocol, "_create_stream", None)
    if original is None:   # pragma: no cover
        return

    async def create_stream(self, request: h11.Request) -> None:  # type: ignore[no-untyped-def]
        server = getattr(self.send, "__self__", None)
        if (getattr(self.config, "parley_fast_websocket", False) and not self.config.server_names
                and _is_spreed_upgrade(request)
                and isinstance(server, TCPServer) and isinstance(self.connection, h11.Connection)):
            await _serve(self, server, request, Handshake)
        else:
            await original(self, request)

    H11Protocol._create_stream = create_stream
    _installed = True


def _is_spreed_upgrade(request: h11.Request) -> bool:
    if request.method != b"GET" or request.target.partition(b"?")[0] != PATH:
        return False
    upgrade = connection = b""
    for name, value in request.headers:   # h11 lower-cases header names
        if name == b"upgrade":
            upgrade = value.strip().lower()
        elif name == b"connection":
            connection = value.lower()
    return upgrade == b"websocket" and any(t.strip() == b"upgrade" for t in connection.split(b","))


def _scope(protocol: Any, request: h11.Request, handshake: Any, socket: FastWebSocket) -> dict[str, Any]:
    """The scope hypercorn's WSStream builds for this request, plus our socket."""
    path, _, query = request.target.partition(b"?")
    headers = request.headers.raw_items() if protocol.config.h11_pass_raw_headers else list(request.headers)
    return {
        "type": "websocket",
        "asgi": {"spec_version": "2.3", "version": "3.0"},
        "scheme": "wss" if protocol.ssl else "ws",
        "http_version": request.http_version.decode(),
        "path": unquote(path.decode("ascii")),
        "raw_path": path,
        "query_string": query,
        "root_path": protocol.config.root_path,
        "headers": headers,
        "client": protocol.client,
        "server": protocol.server,
        "state": protocol.connection_state.copy(),
        "subprotocols": handshake.subprotocols or [],
        "extensions": {},
        FAST_SOCKET: socket,
    }


async def _serve(protocol: Any, server: Any, request: h11.Request, handshake_class: Any) -> None:
    config = protocol.config
    h11_connection: h11.Connection = protocol.connection
    protocol.connection = _Finished()
    protocol.keep_alive_requests += 1
    await protocol.context.mark_request()
    headers = request.headers.raw_items() if config.h11_pass_raw_headers else list(request.headers)
    handshake = handshake_class(headers, request.http_version.decode())
    socket = FastWebSocket(server.stream, h11_connection, handshake, config.response_headers("h11"),
                           max_message=config.websocket_max_message_size,
                           ping_interval=getattr(config, "parley_ping_interval", 0.0))
    scope = _scope(protocol, request, handshake, socket)
    started = time()
    try:
        if not handshake.is_valid():
            await socket.reject(400)
        else:
            await _run_app(protocol.app, config, scope, socket)
    finally:
        await socket.finish()
        await config.log.access(scope, {"status": socket.status, "headers": []}, time() - started)


async def _run_app(app: Any, config: Any, scope: dict[str, Any], socket: FastWebSocket) -> None:
    adapter = _Asgi(socket)
    try:
        async with trio.open_nursery() as nursery:
            if socket.ping_interval > 0:
                nursery.start_soon(socket.keepalive)
            await app(scope, adapter.receive, adapter.send, trio.to_thread.run_sync, trio.from_thread.run)
            nursery.cancel_scope.cancel()
    except Exception:
        log.exception("error in the /spreed WebSocket")
    if not socket.responded:   # the app neither accepted nor refused: hypercorn answers 500 too
        await socket.reject(500)


class _Asgi:
    """ASGI `receive` / `send` over the FastWebSocket, for every layer of the app that speaks
    ASGI (the handshake, refusals, and any frame not sent through the socket directly)."""

    def __init__(self, socket: FastWebSocket) -> None:
        self.socket = socket
        self.connected = False

    async def receive(self) -> dict[str, Any]:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        try:
            message = await self.socket.receive()
        except ConnectionClosed:
            return {"type": "websocket.disconnect", "code": 1005}
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message, "bytes": None}
        return {"type": "websocket.receive", "bytes": message, "text": None}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        socket = self.socket
        if kind == "websocket.accept" and not socket.responded:
            await socket.accept(message.get("subprotocol"), message.get("headers", []))
        elif kind == "websocket.close" and not socket.accepted:
            await socket.reject(403)
        elif kind == "websocket.close":
            await socket.close(int(message.get("code", 1000)), message.get("reason"))
        elif kind == "websocket.send" and socket.accepted:
            try:
                if message.get("bytes") is not None:
                    await socket.send_bytes(bytes(message["bytes"]))
                else:
                    await socket.send_text(message["text"])
            except ConnectionClosed:
                pass   # ASGI has no failed send: the app learns from its next receive
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on /spreed")


def mark(hyper_config: Any, enabled: bool, ping_interval: float) -> None:
    """Switch the fast path on or off for servers built from `hyper_config`."""
    install()
    hyper_config.parley_fast_websocket = enabled
    hyper_config.parley_ping_interval = ping_interval
