"""Who may signal whom: one table, no I/O, no trio.

Both transports ask the same question: given the sender's session and room, which sessions receive
a message addressed to (recipient type, target)? The answer never crosses a room: a session can
only reach sessions of the room it is in (Talk never checked this; decisions.md "Do better").

`room_of(session)` and `members(room)` are lookups into live state passed in by the caller, so
the rules stay pure and testable with plain dicts.
"""
from __future__ import annotations

from typing import Callable, Iterable

from .roster import Member

RoomOf = Callable[[str], "str | None"]
Members = Callable[[str], Iterable[str]]

# The largest message payload relayed, in bytes of JSON: the WebSocket frame cap, applied to the
# polling transport too so one sender cannot fill another session's mailbox with megabytes.
MAX_PAYLOAD_BYTES = 64 * 1024


class UnsupportedRecipient(ValueError):
    """Raised for a recipient type this server does not route."""


def may_signal(sender_room: str | None, recipient_room: str | None) -> bool:
    """A message may pass only between two sessions of the same room."""
    return sender_room is not None and sender_room == recipient_room


def _to_session(sender: str, room: str, target: str | None, room_of: RoomOf, members: Members) -> list[str]:
    if not target or not may_signal(room, room_of(target)):
        return []
    return [target]


def _to_room(sender: str, room: str, target: str | None, room_of: RoomOf, members: Members) -> list[str]:
    return [session for session in members(room) if session != sender]


RECIPIENTS: dict[str, Callable[[str, str, "str | None", RoomOf, Members], list[str]]] = {
    "session": _to_session,   # one peer: offers, answers, candidates
    "room": _to_room,         # everyone else in the room
}

# Recipient types answered from the room's roster (the database's list of the room's sessions
# with their user ids and call flags) rather than from the live index: the caller reads it first.
ROSTER_RECIPIENTS = ("user", "call")


def roster_recipients(kind: str, sender: str, target: str | None, people: Iterable[Member]) -> list[str]:
    """`user`: every session of user `target` in the room (the sender's own other sessions too);
    `call`: every other session that is in the call; `room` (asked this way by a cluster node,
    whose live index knows only its own sessions): every other session. `people` are the room's
    members."""
    if kind == "room":
        return [m.session_id for m in people if m.session_id != sender]
    if kind == "user":
        return [m.session_id for m in people if target and m.user_id == target and m.session_id != sender]
    return [m.session_id for m in people if m.in_call and m.session_id != sender]


def recipients(kind: object, sender: str, room: str | None, target: str | None,
               room_of: RoomOf, members: Members) -> list[str]:
    """The sessions a message from `sender` (in `room`) addressed to (`kind`, `target`) reaches.

    Raises UnsupportedRecipient for an unknown `kind`; an unknown or foreign target, or a sender
    outside any room, reaches nobody (dropped silently, like Talk drops unroutable messages).
    """
    route = RECIPIENTS.get(kind) if isinstance(kind, str) else None
    if route is None:
        kinds = ", ".join([*RECIPIENTS, *ROSTER_RECIPIENTS])
        raise UnsupportedRecipient(f"recipient type must be one of {kinds}, not {kind!r}")
    if room is None:
        return []
    return route(sender, room, target, room_of, members)
