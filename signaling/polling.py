"""Talk's internal signaling (talk-api-v1.md §9.2-9.3) translated to mailbox calls. No HTTP objects:
the server hands in the raw `messages` value, and a `read` callable that re-checks the caller's
session against the database and returns the room's roster.

Send: `outgoing()` keeps the envelopes Talk would relay (`ev` "message", `fn` a JSON object, the
caller's own `sessionId`, a `to`), stamps `from`, and the server delivers each to its recipient if
`rules.may_signal` allows.

Pull: `pull()` parks on the caller's mailbox for up to `timeout` seconds without any query and
returns as soon as a message or a participant change is waiting. Messages are taken out of the
mailbox only when the response is built, so a pull cancelled while parked loses nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .mailbox import Mailbox, Mailboxes, Signal
from .roster import PingOf, Roster, users_in_room
from .rules import MAX_PAYLOAD_BYTES

PULL_TIMEOUT = 30.0      # Talk's bound; old clients' timers expect a pull to end by then
MAX_REREADS = 3          # participant changes racing a pull; after that, answer with what we have


class MalformedMessages(ValueError):
    """Raised when `messages` is missing, not JSON, or not a JSON list."""


def parse_messages(raw: Any) -> list[Any]:
    """`messages` as a form field (a JSON string) or from a JSON body (a list or a string)."""
    if raw is None:
        raise MalformedMessages("messages is required: a JSON list of signaling envelopes")
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise MalformedMessages("messages is not valid JSON") from None
    if not isinstance(raw, list):
        raise MalformedMessages("messages must be a JSON list of signaling envelopes")
    return raw


@dataclass(frozen=True, slots=True)
class Outgoing:
    to: str
    payload: dict[str, Any]


def outgoing(envelopes: list[Any], own_session: str) -> list[Outgoing]:
    """The relayable messages among `envelopes`, with `from` set to the sender's session.

    Dropped silently, as Talk does: other `ev` values (the client probes with "connect"), an `fn`
    that is not a JSON string of an object or is larger than MAX_PAYLOAD_BYTES, a `sessionId` that
    is not the caller's, and (unlike Talk, which failed with a 500) a missing `to`.
    """
    result = []
    for envelope in envelopes:
        if not isinstance(envelope, dict) or envelope.get("ev") != "message":
            continue
        if envelope.get("sessionId") != own_session:
            continue
        fn = envelope.get("fn")
        if not isinstance(fn, str) or len(fn) > MAX_PAYLOAD_BYTES:
            continue
        try:
            payload = json.loads(fn)
        except ValueError:
            continue
        if not isinstance(payload, dict):
            continue
        to = payload.get("to")
        if not isinstance(to, str) or not to:
            continue
        payload["from"] = own_session    # the server's word, whatever the client wrote
        result.append(Outgoing(to, payload))
    return result


def render_message(signal: Signal) -> dict[str, Any]:
    """Talk's wire form: `data` is a JSON *string* of the payload, including `from`."""
    payload = signal.data if signal.data.get("from") == signal.sender else {**signal.data, "from": signal.sender}
    return {"type": "message", "data": json.dumps(payload, separators=(",", ":"))}


Read = Callable[[], Awaitable["tuple[str, Roster] | None"]]


@dataclass(frozen=True, slots=True)
class PullResult:
    session_id: str
    signals: list[Signal]
    roster: Roster


async def pull(boxes: Mailboxes, token: str, read: Read, *, clock: Callable[[], float],
               timeout: float = PULL_TIMEOUT) -> PullResult | None:
    """Wait for the caller's messages; None when its session is gone (the route answers 404).

    `read()` checks the caller's session against the database and returns (session id, roster)
    or None. It runs once before parking and again only if the participant list changed (or the
    wait timed out), never while parked.
    """
    generation = boxes.generation(token)      # before the read: a change racing it shows up later
    found = await read()
    if found is None:
        return None
    session_id, roster = found
    box = _register(boxes, session_id, roster, clock())
    timed_out = False
    if not (box.queue or box.list_stale or boxes.generation(token) > generation):
        # Released by a shutdown: answer with the roster in hand rather than query again.
        timed_out = not await box.wait(timeout) and not box.closing
    for _ in range(MAX_REREADS):
        # Reuse the roster unless it may be outdated: the list changed since it was read, the
        # session was dropped from the index, or the wait ran out (a cheap periodic re-check).
        if not (box.gone or timed_out or boxes.generation(token) > generation):
            break
        timed_out = False
        generation = boxes.generation(token)
        found = await read()
        if found is None:
            boxes.unregister(session_id)
            return None
        session_id, roster = found
        box = _register(boxes, session_id, roster, clock())
    # Nothing below may checkpoint: from here on the messages belong to this response.
    signals = box.take(clock())
    box.seen = generation
    return PullResult(session_id, signals, roster)


def _register(boxes: Mailboxes, session_id: str, roster: Roster, now: float) -> Mailbox:
    boxes.sync_room(roster.token, roster.sessions())
    return boxes.register(session_id, roster.token, now)


def render_pull(result: PullResult, now: int, window: int, ping_of: PingOf) -> list[dict[str, Any]]:
    """The pull's `data`: the messages, then exactly one `usersInRoom` entry."""
    # Only relayed messages exist in Talk's internal signaling (control and transient data are
    # WebSocket-only and never routed to a polling session; filtered here to be sure).
    entries = [render_message(signal) for signal in result.signals if signal.kind == "message"]
    entries.append({"type": "usersInRoom", "data": users_in_room(result.roster, now, window, ping_of)})
    return entries


GONE = [{"type": "usersInRoom", "data": []}]   # the body of the 404 (§9.3)
