"""A room's sessions as the signaling transports show them. Pure: no trio, no I/O.

The server reads a `Roster` from the database (one query) and hands it in; presence (the in-memory
last ping) is applied at render time through `ping_of`, so a roster read a few seconds ago still
renders current `lastPing` values without another query.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

PingOf = Callable[[str, int], int]   # (session id, stored last ping) -> effective last ping


@dataclass(frozen=True, slots=True)
class Member:
    session_id: str
    user_id: str              # '' for guests, as Talk spells it
    last_ping: int            # as stored; see PingOf
    in_call: bool
    participant_type: int


@dataclass(frozen=True, slots=True)
class Roster:
    """Every session of one room (users first, then guests, as Talk orders them)."""
    token: str
    room_id: int
    members: tuple[Member, ...]

    def sessions(self) -> frozenset[str]:
        return frozenset(m.session_id for m in self.members)

    def member(self, session_id: str) -> Member | None:
        for m in self.members:
            if m.session_id == session_id:
                return m
        return None

    def active(self, now: int, window: int, ping_of: PingOf) -> list[tuple[Member, int]]:
        """Members whose effective last ping is within the activity window, with that ping."""
        result = []
        for m in self.members:
            ping = ping_of(m.session_id, m.last_ping)
            if ping > now - window:
                result.append((m, ping))
        return result


def users_in_room(roster: Roster, now: int, window: int, ping_of: PingOf) -> list[dict[str, Any]]:
    """The `usersInRoom` entries of a pull (talk-api-v1.md §9.3): active sessions, in call or not."""
    return [{"userId": m.user_id, "roomId": roster.room_id, "lastPing": ping, "sessionId": m.session_id,
             "inCall": m.in_call} for m, ping in roster.active(now, window, ping_of)]


def participant_entry(member: Member, ping: int) -> dict[str, Any]:
    """One user of a WebSocket `participants` `update` event (the backend's participant row)."""
    return {"inCall": member.in_call, "lastPing": ping, "sessionId": member.session_id,
            "participantType": member.participant_type, "userId": member.user_id}


def join_entry(member: Member) -> dict[str, Any]:
    """One session of a WebSocket `room` `join` event."""
    entry: dict[str, Any] = {"sessionid": member.session_id, "roomsessionid": member.session_id}
    if member.user_id:
        entry["userid"] = member.user_id
    return entry


@dataclass(frozen=True, slots=True)
class RosterChange:
    joined: tuple[Member, ...]
    left: tuple[str, ...]
    changed: tuple[Member, ...]   # joined members and members whose call state or type changed

    @property
    def empty(self) -> bool:
        return not (self.joined or self.left or self.changed)


def diff(before: dict[str, Member], after: dict[str, Member]) -> RosterChange:
    """What a client that saw `before` must be told to see `after` (both keyed by session id)."""
    joined = tuple(m for sid, m in after.items() if sid not in before)
    left = tuple(sid for sid in before if sid not in after)
    changed = tuple(m for sid, m in after.items()
                    if sid not in before or (before[sid].in_call, before[sid].participant_type)
                    != (m.in_call, m.participant_type))
    return RosterChange(joined, left, changed)
