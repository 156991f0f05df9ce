"""Last-ping times of live sessions, kept in memory so a ping costs no write.

The database holds a last_ping that is at most one housekeeping interval old; readers combine the
two with `effective()`. `drain()` hands the pings gathered since the previous drain to the
housekeeping timer, which stores them in one transaction. After a restart the in-memory part is
gone, so sessions look older, never younger: a restart cannot resurrect a stale session.
"""
from __future__ import annotations


class Presence:
    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._dirty: dict[str, int] = {}

    def touch(self, session_id: str, now: int) -> None:
        if self._last.get(session_id, -1) < now:
            self._last[session_id] = now
            self._dirty[session_id] = now

    def effective(self, session_id: str | None, stored: int) -> int:
        """The newer of the stored last_ping and the in-memory one."""
        if session_id is None:
            return stored
        return max(stored, self._last.get(session_id, 0))

    def forget(self, session_id: str) -> None:
        self._last.pop(session_id, None)
        self._dirty.pop(session_id, None)

    def drain(self) -> dict[str, int]:
        dirty, self._dirty = self._dirty, {}
        return dirty

    def __len__(self) -> int:
        return len(self._last)
