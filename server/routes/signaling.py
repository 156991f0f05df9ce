"""Signaling endpoints (talk-api-v1.md §9) and the WebSocket endpoint `/spreed` (signaling.md §3)."""
from __future__ import annotations

import logging

from quart import Quart, Response, current_app, request, websocket

from signaling.websocket import Connection, WebSocketSettings

from ..domain import signaling
from ..domain.context import Ctx
from ..ocs import render
from ._endpoint import SPREED, endpoint

SIGNALING = SPREED + "/signaling"
log = logging.getLogger("parley.signaling")


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
    return WebSocketSettings(secret=ctx.secret, hello_timeout=ctx.config.hello_timeout,
                             active_window=ctx.config.active_window, clock=ctx.clock)


async def spreed_socket() -> Response | None:
    ctx: Ctx = current_app.parley_ctx  # type: ignore[attr-defined]
    if not ctx.config.websocket:
        return Response("WebSocket signaling is disabled ([signaling] websocket = false)", status=404,
                        content_type="text/plain; charset=utf-8")
    await websocket.accept()
    connection = Connection(ctx.hub, signaling.SignalingBackend(ctx), websocket_settings(ctx),
                            send=websocket.send, receive=websocket.receive, close=websocket.close)
    await connection.serve()
    return None


def register_websocket(app: Quart) -> None:
    app.add_websocket("/spreed", "spreed", spreed_socket)
