"""Helpers for the signaling tests: Talk's wire forms for send and pull, and a WebSocket client."""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any

import trio
from trio_websocket import open_websocket_url

from .support import Actor, Reply, RunningServer


def envelope(session_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"ev": "message", "fn": json.dumps(payload), "sessionId": session_id}


async def send(actor: Actor, token: str, *envelopes: dict[str, Any]) -> Reply:
    """POST /signaling/{token} the way the Talk web client does: a form field holding JSON."""
    return await actor.post(f"/signaling/{token}", messages=json.dumps(list(envelopes)))


async def offer(actor: Actor, token: str, own: str, to: str, **extra: Any) -> Reply:
    return await send(actor, token, envelope(own, {"to": to, "type": "offer", "roomType": "video",
                                                   "payload": {"type": "offer", "sdp": "v=0"}, **extra}))


async def pull(actor: Actor, token: str) -> Reply:
    return await actor.get(f"/signaling/{token}")


async def pulled(actor: Actor, token: str) -> None:
    """The first pull after joining, which answers at once with the participant list, on every
    node: in a cluster each node's mailbox owes it once (PARLEY_TEST_DB=cluster sends the
    actor's requests to the nodes in turn), so only then does the next pull park."""
    for _ in actor.server.nodes or [actor.server]:
        await pull(actor, token)


def messages(reply: Reply) -> list[dict[str, Any]]:
    """The decoded payloads of a pull's message entries."""
    return [json.loads(e["data"]) for e in reply.data if e["type"] == "message"]


def users_in_room(reply: Reply) -> list[dict[str, Any]]:
    assert reply.data[-1]["type"] == "usersInRoom", reply.data
    assert sum(1 for e in reply.data if e["type"] == "usersInRoom") == 1
    return reply.data[-1]["data"]


async def joined(actor: Actor, token: str) -> str:
    r = await actor.join(token)
    assert r.status == 200, r.text
    return r.data["sessionId"]


async def settings(actor: Actor) -> dict[str, Any]:
    r = await actor.get("/signaling/settings")
    assert r.status == 200, r.text
    return r.data


class SignalingSocket:
    """A standalone-signaling client over trio-websocket, with a small inbox for assertions."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.next_id = 1
        self.hello_reply: dict[str, Any] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(frame))

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send with an id and return the reply carrying that id (skipping events in between)."""
        frame = {**frame, "id": str(self.next_id)}
        self.next_id += 1
        await self.send(frame)
        while True:
            reply = await self.receive()
            if reply.get("id") == frame["id"]:
                return reply

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        with trio.fail_after(timeout):
            return json.loads(await self.ws.get_message())

    async def receive_until(self, predicate, timeout: float = 5) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                frame = await self.receive(timeout)
                if predicate(frame):
                    return frame

    async def hello(self, user: str | None, ticket: str) -> dict[str, Any]:
        return await self.request({"type": "hello", "hello": {"version": "1.0", "auth": {
            "url": "", "params": {"userid": user, "ticket": ticket}}}})

    async def join_room(self, token: str, session_id: str) -> dict[str, Any]:
        return await self.request({"type": "room", "room": {"roomid": token, "sessionid": session_id}})

    async def message(self, to: str | None, data: dict[str, Any], kind: str = "session") -> None:
        recipient: dict[str, Any] = {"type": kind}
        if to is not None:
            recipient["sessionid"] = to
        await self.send({"type": "message", "message": {"recipient": recipient, "data": data}})


def ws_url(server: RunningServer) -> str:
    return server.next_url().replace("http://", "ws://") + "/spreed"   # alternates in a cluster


def is_event(target: str, kind: str):
    return lambda f: f.get("type") == "event" and f["event"]["target"] == target and f["event"]["type"] == kind


@asynccontextmanager
async def connect(server: RunningServer, actor: Actor | None = None, token: str | None = None,
                  session_id: str | None = None):
    """A SignalingSocket; with `actor` it says hello as that actor (ticket from /signaling/settings)
    and with `token`/`session_id` also joins the room. `sock.hello_reply` keeps the hello answer."""
    async with open_websocket_url(ws_url(server)) as ws:
        sock = SignalingSocket(ws)
        if actor is not None:
            ticket = (await settings(actor))["ticket"]
            sock.hello_reply = await sock.hello(actor.user, ticket)
            assert sock.hello_reply["type"] == "hello", sock.hello_reply
            if token is not None:
                reply = await sock.join_room(token, session_id)
                assert reply["type"] == "room", reply
        yield sock

@asynccontextmanager
async def custom_server(tmp_path, **overrides: Any):
    """A running Parley with config overrides and the usual participant1-3."""
    from server.domain import accounts

    from .support import PASSWORD, serving, test_config

    async with serving(test_config(str(tmp_path), **overrides)) as running:
        for n in (1, 2, 3):
            await accounts.add_user(running.ctx, f"participant{n}", PASSWORD, f"participant{n}-displayname")
        yield running
