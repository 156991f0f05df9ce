"""Per-session signaling mailboxes (internal polling and WebSocket transports).

Placeholder owned by the signaling work: `on_event` is called by the hub for every event."""
from __future__ import annotations

from .events import Event


class Mailboxes:
    def on_event(self, event: Event) -> None:
        """Flag every session of the event's room. Never blocks."""

    def __len__(self) -> int:
        return 0
