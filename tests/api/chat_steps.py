"""Chat steps shared by the chat tests: the Behat steps of talk-api-v1.md §12 and long-poll helpers."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import trio

from .. import cluster_mode
from ..support import Actor, Reply, RunningServer


async def send(actor: Actor, token: str, message: str, expect: int = 201, **form: Any) -> Reply:
    """`user "U" sends message "M" to room "R" with N`."""
    r = await actor.post(f"/chat/{token}", message=message, **form)
    assert r.status == expect, r.text
    return r


async def read(actor: Actor, token: str, **params: Any) -> Reply:
    params.setdefault("lookIntoFuture", 0)
    return await actor.get(f"/chat/{token}", params=params)


def guest_id(session_id: str) -> str:
    return hashlib.sha1(session_id.encode()).hexdigest()


async def sees(actor: Actor, token: str, guests: dict[str, str] | None = None) -> list[tuple]:
    """`user "U" sees the following messages in room "R" with 200`: per message (newest first) the
    room, actorType, actorId (a guest's sha1 mapped back to its name), actorDisplayName, message
    and json_encode(messageParameters)."""
    r = await read(actor, token)
    assert r.status == 200, r.text
    # As Talk's own Behat step does, system messages are left out (they have their own step).
    names = {guest_id(session): name for name, session in (guests or {}).items()}
    return [(m["token"], m["actorType"], names.get(m["actorId"], m["actorId"]), m["actorDisplayName"],
             m["message"], json.dumps(m["messageParameters"], separators=(",", ":")))
            for m in r.data if m["systemMessage"] == ""]


def comments(reply: Reply) -> list[dict[str, Any]]:
    """The messages of a chat reply without system messages (what a Talk 3.2 client shows)."""
    return [m for m in reply.data if m["systemMessage"] == ""]


async def newest(actor: Actor, token: str) -> int:
    """The id of the room's newest entry (system messages included), 0 when there is none:
    a starting cursor for future reads that should see only what comes next."""
    r = await read(actor, token, limit=1)
    return r.data[0]["id"] if r.status == 200 else 0


def user_row(token: str, n: int, message: str, parameters: str = "[]") -> tuple:
    return (token, "users", f"participant{n}", f"participant{n}-displayname", message, parameters)


def guest_row(token: str, message: str, name: str = "guest", display: str = "") -> tuple:
    return (token, "guests", name, display, message, "[]")


async def joined(actor: Actor, token: str, password: str | None = None) -> str:
    """Join the room (200 expected); returns the Talk session id."""
    r = await actor.join(token, password)
    assert r.status == 200, r.text
    return r.data["sessionId"]


async def wait_parked(server: RunningServer, count: int, timeout: float = 5.0) -> None:
    """Until `count` chat long-polls are parked on the hub."""
    with trio.fail_after(timeout):
        while cluster_mode.chat_waiters(server) != count:   # on any node
            await trio.sleep(0.002)
