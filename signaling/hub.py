"""The hub: the only owner of live, in-memory state (presence, parked chat waiters, mailboxes).

Operations come in pairs: synchronous publishing that never blocks, and async `wait_*` methods
that park and always clean up when cancelled. Domain actions publish only after their transaction
committed, so a waiter never sees an event for a write that was rolled back.

Contract for publishers:
- `publish(event)` for room and participant events (`signaling/events.py`), after the commit.
  It never blocks and never raises for a well-formed event; it is safe to call from an
  after-commit hook (`Database.run(unit, after_commit=...)`).
- `chat_posted(...)` for a committed chat message, from the after-commit hook of the write, so
  messages reach the feeds in commit order (a waiter must never see message 7 before message 6).

Contract for waiters:
- `wait_for_chat(...)` parks with no database query and returns when the room has something newer
  than the cursor, the room is deleted, or the timeout passes. A cancelled waiter (its client went
  away) leaves nothing behind.
- `shut_down()` releases every waiter at once and keeps new ones from parking (graceful stop).
- A waiter that checked access before parking takes `chat.access_mark()` first and, once woken,
  asks `chat.access_changed_since(token, mark)`: only then does it need to check access again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from . import ws_messages
from .chat_feed import ChatFeeds
from .events import Event, ParticipantsChanged, RoomChanged, RoomDeleted
from .mailbox import Mailboxes
from .presence import Presence
from .ws_sessions import SignalingSessions

if TYPE_CHECKING:
    from .sfu.controller import SfuController


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
    websocket_connections: int = 0
    chat_messages: int = 0


_EVENT_KINDS = {ParticipantsChanged: "participants", RoomChanged: "room", RoomDeleted: "deleted"}
_EVENT_TYPES = {kind: cls for cls, kind in _EVENT_KINDS.items()}


class Hub:
    def __init__(self) -> None:
        self.presence = Presence()
        self.chat = ChatFeeds()
        self.mailboxes = Mailboxes()
        self.websockets = SignalingSessions(self.mailboxes)
        # The SFU controller (signaling/sfu/controller.py) when Janus is configured, else None:
        # then clients are told `mcu` and their offers, answers and candidates go to it.
        self.sfu: SfuController | None = None
        self._published = 0
        self.chat_messages = 0      # chat messages posted since start (a metric)
        self.stopping = False
        # Set when the node is part of a cluster (signaling/bus.py): every event published here
        # is also handed to `relay` as a small JSON-able dict, for the hubs of the other nodes.
        self.relay: Callable[[dict[str, Any]], None] | None = None
        # Also set in a cluster: waits until this node has heard every event Redis had when it was
        # called (signaling/bus.py `Bus.barrier`); False if it cannot tell.
        self.barrier: Callable[[], Awaitable[bool]] | None = None

    def publish(self, event: Event) -> None:
        """Deliver a committed event to everything waiting on its room. Never blocks.

        Participant and room events make parked chat waiters of the room re-check their access
        when they next wake (a removed guest gets no further messages); a deleted room wakes its
        chat waiters at once. Chat messages go through `chat_posted` instead.
        """
        self._published += 1
        if isinstance(event, RoomDeleted):
            self.chat.forget(event.token)
        elif isinstance(event, (ParticipantsChanged, RoomChanged)):
            self.chat.room_changed(event.token)
        self.mailboxes.on_event(event)
        if self.sfu is not None:
            self.sfu.on_event(event)
        if self.relay is not None:
            self.relay({"k": _EVENT_KINDS[type(event)], "t": event.token, "r": event.room_id})

    def chat_posted(self, token: str, message_id: int, rendered: Any, personal: bool = False,
                    previous_id: int | None = None) -> None:
        """A chat message was committed: put `rendered` (the API message object, shared read-only
        by every woken waiter) in the room's ring, wake the room's chat waiters, and have the
        mailboxes tell WebSocket clients to fetch chat. Call in commit order; never blocks.
        `personal`: the message differs per reader (see `ChatFeeds.recent_after`).
        `previous_id` is the room's newest id before this message (read in its transaction): with
        it the ring knows whether it missed a message committed elsewhere (another node)."""
        self._published += 1
        self.chat_messages += 1
        self.chat.posted(token, message_id, rendered, personal, previous_id)
        self.mailboxes.on_chat(token)   # WebSocket clients are told to fetch chat
        if self.relay is not None:
            self.relay({"k": "chat", "t": token, "i": message_id, "p": previous_id, "m": rendered,
                        "v": personal})

    def chat_rewritten(self, token: str | None) -> None:
        """Ringed messages of `token`'s room (of every room if None) were patched here after an
        edit, a deletion, a reaction or a rename: the other nodes' rings still hold the old
        renderings, so they drop them (their next waiters read the database)."""
        if self.relay is not None:
            self.relay({"k": "stale", "t": token})

    def chat_cleared(self, token: str) -> None:
        """The room's history was deleted (committed): no ring, here or on another node, may
        serve it again."""
        self.chat.cleared(token)
        if self.relay is not None:
            self.relay({"k": "cleared", "t": token})

    # -- the cluster bus (signaling/bus.py) -------------------------------------------------------

    def apply_remote(self, message: dict[str, Any]) -> None:
        """An event another node published: apply it here as if published locally, without
        relaying it again. Never blocks. Unknown kinds are ignored (a newer node's event)."""
        kind = message.get("k")
        if kind == "chat":
            self._published += 1
            self.chat.posted(message["t"], int(message["i"]), message["m"], bool(message.get("v")),
                             message.get("p"))
            self.mailboxes.on_chat(message["t"])
        elif kind == "stale":
            token = message.get("t")
            for room in [str(token)] if token is not None else self.chat.tokens():
                self.chat.invalidate(room)
        elif kind == "cleared":
            self.chat.cleared(str(message["t"]))
        elif kind in _EVENT_TYPES:
            event = _EVENT_TYPES[kind](str(message["t"]), int(message["r"]))
            relay, self.relay = self.relay, None
            try:
                self.publish(event)
            finally:
                self.relay = relay
            if not isinstance(event, RoomDeleted):
                # A guest rename on another node rewrote that node's ring only (chat_render.py):
                # ours may hold the old name, so the room's next waiters read the database.
                self.chat.invalidate(event.token)
        elif kind == "signal":
            if message.get("kind") == "control" and not self.websockets.connected(str(message["to"])):
                return   # control is for a client connected right now; not here, so not kept
            self.mailboxes.deliver_remote(message)
        elif kind == "transient":
            ws_messages.apply_remote_transient(self, message)
        elif kind == "tjoin":
            self.websockets.transient.joined_elsewhere(str(message["t"]), str(message["s"]))
        elif kind == "tleft":
            self.websockets.transient.left_elsewhere(str(message["t"]), str(message["s"]))
        elif kind == "taken":
            self.mailboxes.drop_taken(str(message["s"]), message["ids"])
        elif kind == "ping":
            self.presence.touched_elsewhere(str(message["s"]), int(message["at"]))
        elif kind == "unping":
            self.presence.forgotten_elsewhere(str(message["s"]))
        elif kind == "ws-claim":
            self.websockets.on_claim(str(message["rid"]))
        elif kind == "ws-handover":
            self.websockets.on_handover(str(message["rid"]), message["s"])

    def resync(self) -> None:
        """The bus lost messages (Redis went away): every parked chat poll and signaling pull
        re-checks the database now, so no wake-up is lost."""
        self.chat.resync()
        self.mailboxes.resync()

    async def wait_for_chat(self, token: str, cursor: int, known_last_id: int, timeout: float) -> bool:
        """Park until `token`'s room has a message with id > `cursor`, is deleted, or `timeout`
        seconds pass (False). `known_last_id` is the room's newest id as read by the query that
        found nothing new. Costs no query while parked; see `ChatFeeds.wait_after`."""
        return await self.chat.wait_after(token, cursor, known_last_id, timeout)

    def shut_down(self) -> HubStatistics:
        """The server is stopping: answer every parked chat poll (nothing new: 304) and signaling
        pull (its messages and roster) now, close every WebSocket with 1001, and let nothing park
        from here on. Waiters are released, not cancelled: each writes a normal answer, so its
        client sees a clean end rather than a dropped connection. Returns what was live."""
        before = self.statistics()
        self.stopping = True
        self.chat.close_all()
        self.mailboxes.close_all()
        self.websockets.close_all()
        return before

    def statistics(self) -> HubStatistics:
        return HubStatistics(live_sessions=len(self.presence), chat_rooms=len(self.chat),
                             chat_waiters=self.chat.waiting(), mailboxes=len(self.mailboxes),
                             events_published=self._published,
                             signaling_waiters=self.mailboxes.waiting(), websocket_sessions=len(self.websockets),
                             signals_delivered=self.mailboxes.delivered,
                             websocket_connections=len(self.websockets.connections),
                             chat_messages=self.chat_messages)
