"""Transient room data (the standalone protocol's `transient` messages): a key/value map per room
that lives only while WebSocket sessions are in the room. No trio, no I/O.

Semantics follow the protocol document: setting a key to the value it already has and removing a
key that is not there are ignored (no event); every other change is announced to every WebSocket
session of the room, the changer included, with the previous value as `oldvalue` when there was
one; a session joining the room is sent the whole map as `initial`. When the last WebSocket
session leaves the room, its data is forgotten.

In a cluster (`relay` set) every node keeps the map of every room and the set of every node's
sessions in it: joins and leaves are told to the other nodes, and so are changes
(signaling/ws_messages.py), which each node applies and announces to its own sessions. The data is
forgotten when the last session of the whole cluster leaves. Two nodes changing one key at the
same moment may each end with the other's value (no total order); the next change agrees again.
"""
from __future__ import annotations

from typing import Any, Callable

_MISSING = object()


class TransientData:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}
        self._sessions: dict[str, set[str]] = {}
        self.relay: Callable[[dict[str, Any]], None] | None = None   # the cluster bus

    def joined(self, token: str, session_id: str) -> None:
        self._sessions.setdefault(token, set()).add(session_id)
        if self.relay is not None:
            self.relay({"k": "tjoin", "t": token, "s": session_id})

    def left(self, token: str, session_id: str) -> None:
        self.left_elsewhere(token, session_id)
        if self.relay is not None:
            self.relay({"k": "tleft", "t": token, "s": session_id})

    def joined_elsewhere(self, token: str, session_id: str) -> None:
        self._sessions.setdefault(token, set()).add(session_id)

    def left_elsewhere(self, token: str, session_id: str) -> None:
        sessions = self._sessions.get(token)
        if sessions is None:
            return
        sessions.discard(session_id)
        if not sessions:
            del self._sessions[token]
            self._data.pop(token, None)

    def sessions(self, token: str) -> tuple[str, ...]:
        return tuple(self._sessions.get(token, ()))

    def snapshot(self, token: str) -> dict[str, Any]:
        return dict(self._data.get(token, {}))

    def set(self, token: str, key: str, value: Any) -> dict[str, Any] | None:
        """Store `value`; the event body to announce, or None when nothing changed."""
        data = self._data.setdefault(token, {})
        old = data.get(key, _MISSING)
        if old is not _MISSING and old == value:
            return None
        data[key] = value
        event: dict[str, Any] = {"type": "set", "key": key, "value": value}
        if old is not _MISSING:
            event["oldvalue"] = old
        return event

    def remove(self, token: str, key: str) -> dict[str, Any] | None:
        data = self._data.get(token)
        if data is None or key not in data:
            return None
        old = data.pop(key)
        return {"type": "remove", "key": key, "oldvalue": old}
