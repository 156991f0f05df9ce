"""The hub: the only owner of live, in-memory state (presence, parked chat waiters, mailboxes).

Operations come in pairs: synchronous publishing that never blocks, and async `wait_*` methods
that park and always clean up when cancelled. Domain actions publish only after their transaction
committed, so a waiter never sees an event for a write that was rolled back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .chat_feed import ChatFeeds
from .events import Event, RoomDeleted
from .mailbox import Mailboxes
from .presence import Presence
from .ws_sessions import SignalingSessions


@dataclass(frozen=True, slots=True)
class HubStatistics:
    live_sessions: int
    chat_rooms: int
    chat_waiters: int
    mailboxes: int
    events_published: int
    signaling_waiters: int = 0
    websocket_sessions: int = 0
    signals_delivered: int = 0


class Hub:
    def __init__(self) -> None:
        self.presence = Presence()
        self.chat = ChatFeeds()
        self.mailboxes = Mailboxes()
        self.websockets = SignalingSessions(self.mailboxes)
        self._published = 0

    def publish(self, event: Event) -> None:
        """Deliver an event to everything waiting on its room. Never blocks."""
        self._published += 1
        if isinstance(event, RoomDeleted):
            self.chat.forget(event.token)
        self.mailboxes.on_event(event)

    def chat_posted(self, token: str, message_id: int, rendered: Any) -> None:
        """A chat message was committed: wake the room's chat waiters (and later, signaling)."""
        self._published += 1
        self.chat.posted(token, message_id, rendered)
        self.mailboxes.on_chat(token)   # WebSocket clients are told to fetch chat

    def statistics(self) -> HubStatistics:
        return HubStatistics(live_sessions=len(self.presence), chat_rooms=len(self.chat),
                             chat_waiters=self.chat.waiting(), mailboxes=len(self.mailboxes),
                             events_published=self._published,
                             signaling_waiters=self.mailboxes.waiting(), websocket_sessions=len(self.websockets),
                             signals_delivered=self.mailboxes.delivered)
