"""Last-ping times of live sessions, kept in memory so a ping costs no write.

The database holds a last_ping that is at most one housekeeping interval old; readers combine the
two with `effective()`. `drain()` hands the pings gathered since the previous drain to the
housekeeping timer, which stores them in one transaction. After a restart the in-memory part is
gone, so sessions look older, never younger: a restart cannot resurrect a stale session.

In a cluster (`relay` set) every ping that moves a session's time forward (at most one a second
per session: times are whole seconds) is also told to the other nodes, which keep it for
`effective()` but do not store it: each node stores the pings it received itself. So every node
answers `count`, `lastPing` and the call peers alike, and the node that runs expiry sees pings
that reached the other nodes before their next round stored them.
"""
from __future__ import annotations

from typing import Any, Callable


class Presence:
    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._dirty: dict[str, int] = {}
        self.relay: Callable[[dict[str, Any]], None] | None = None   # the cluster bus

    def touch(self, session_id: str, now: int) -> None:
        if self._last.get(session_id, -1) < now:
            self._last[session_id] = now
            self._dirty[session_id] = now
            if self.relay is not None:
                self.relay({"k": "ping", "s": session_id, "at": now})

    def touched_elsewhere(self, session_id: str, at: int) -> None:
        """Another node's ping (that node stores it)."""
        if self._last.get(session_id, -1) < at:
            self._last[session_id] = at

    def effective(self, session_id: str | None, stored: int) -> int:
        """The newer of the stored last_ping and the in-memory one."""
        if session_id is None:
            return stored
        return max(stored, self._last.get(session_id, 0))

    def forget(self, session_id: str) -> None:
        self._last.pop(session_id, None)
        self._dirty.pop(session_id, None)
        if self.relay is not None:
            self.relay({"k": "unping", "s": session_id})

    def forgotten_elsewhere(self, session_id: str) -> None:
        self._last.pop(session_id, None)
        self._dirty.pop(session_id, None)

    def drain(self) -> dict[str, int]:
        dirty, self._dirty = self._dirty, {}
        return dirty

    def __len__(self) -> int:
        return len(self._last)
