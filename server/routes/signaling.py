"""Signaling endpoints (talk-api-v1.md §9) and the WebSocket endpoint `/spreed` (signaling.md §3),
served on the same port as everything else."""
from __future__ import annotations

from quart import Quart, request

from signaling.websocket import FEATURES, Connection, ConnectionClosed, WebSocketSettings

from ..domain import signaling
from ..domain.context import Ctx
from ..ocs import render
from ..ws_fast import FAST_SOCKET
from ._endpoint import SPREED, endpoint

SIGNALING = SPREED + "/signaling"


@endpoint(SIGNALING + "/settings", "GET")
async def get_settings(ctx, actor, params):
    return render(signaling.settings(ctx, actor, request.host_url))


@endpoint(SIGNALING + "/<token:token>", "POST")
async def send(ctx, actor, params, token):
    await signaling.send_messages(ctx, actor, token, params.raw("messages"))
    return render()


@endpoint(SIGNALING + "/<token:token>", "GET")
async def pull(ctx, actor, params, token):
    status, data = await signaling.pull(ctx, actor, token)
    return render(data, status)


def websocket_settings(ctx: Ctx) -> WebSocketSettings:
    features = list(FEATURES) + (list(ctx.hub.sfu.features) if ctx.hub.sfu is not None else [])
    return WebSocketSettings(secret=ctx.secret, hello_timeout=ctx.config.hello_timeout,
                             active_window=ctx.config.active_window, clock=ctx.clock, features=features)


class SpreedSocketMiddleware:
    """Serves `/spreed` straight from ASGI, ahead of Quart's request machinery.

    Why: a relayed signaling message crosses the socket twice, and Quart's WebSocket wrapper adds a
    memory-channel hop, a `websocket_received`/`websocket_sent` signal and an accept check to each
    crossing; measured, that was about a fifth of the server's CPU per relayed message
    (docs/PERFORMANCE.md#signaling). Same port, same app, same hub: only the wrapper is skipped.
    Everything else still goes to Quart. With the fast path (server/ws_fast.py) hypercorn's ASGI
    WebSocket layer is skipped too: the scope then carries the socket, used directly.
    """

    def __init__(self, app: Quart, inner) -> None:
        self.app, self.inner = app, inner

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket" or scope["path"] != "/spreed":
            await self.inner(scope, receive, send)
            return
        ctx: Ctx = self.app.parley_ctx  # type: ignore[attr-defined]
        if (await receive())["type"] != "websocket.connect":
            return
        if not ctx.config.websocket:
            await send({"type": "websocket.close", "code": 1008})   # HTTP 403 to the upgrade
            return
        fast = scope.get(FAST_SOCKET)
        if fast is not None:   # served below ASGI (server/ws_fast.py): frames go straight to the socket
            try:
                await fast.accept()
            except ConnectionClosed:
                return   # gone before the 101 was written
            connection = Connection(ctx.hub, signaling.SignalingBackend(ctx), websocket_settings(ctx),
                                    send=fast.send_text, receive=fast.receive, close=fast.close,
                                    send_many=fast.send_many)
            await connection.serve()
            return
        await send({"type": "websocket.accept"})

        async def receive_frame() -> str | bytes:
            event = await receive()
            if event["type"] == "websocket.receive":
                text = event.get("text")
                return text if text is not None else event.get("bytes") or b""
            raise ConnectionClosed()

        async def send_frame(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        async def close(code: int) -> None:
            await send({"type": "websocket.close", "code": code})

        connection = Connection(ctx.hub, signaling.SignalingBackend(ctx), websocket_settings(ctx),
                                send=send_frame, receive=receive_frame, close=close)
        await connection.serve()


def register_websocket(app: Quart) -> None:
    app.asgi_app = SpreedSocketMiddleware(app, app.asgi_app)  # type: ignore[method-assign]
