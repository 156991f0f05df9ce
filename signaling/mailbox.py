"""Per-session signaling mailboxes, shared by the polling and the WebSocket transport.

Theory: every live signaling session (keyed by its Talk session id) owns one mailbox holding
  * the messages addressed to it and not yet handed out (bounded, oldest dropped, 5 min TTL),
  * the generation of its room's participant list that its owner last saw; the room's
    generation moves on every change, so many changes while nobody looks fold into one
    "changed since you last looked" (one refresh, not N),
  * flags for room-property changes and chat posts (WebSocket owners only; polling clients have
    their own chat long-poll and read room properties over REST),
  * at most one `trio.Event` that a parked owner waits on. Parking costs no database query;
    a `put` or an event sets it.
Messages leave the box only through `take()`, which the owner calls when its response is being
built, so a pull cancelled while parked (client went away) loses nothing.

`Mailboxes` also indexes sessions by room: `Hub.publish` calls `on_event`, which must wake every
session of the room without asking the database. Sessions register when they prove (against the
database) that they are in a room: on a pull, a WebSocket room join, or as the verified recipient
of a message. After a restart the index starts empty and refills the same way; a new mailbox owes
its owner the participant list, so nothing is missed across a restart.

Generations come from one process-wide counter, so "the room changed after I read generation g"
is answerable even for a room that had no mailbox yet when the change happened: a reader takes
`generation(token)` *before* its database read, and any change it might have missed shows up as a
larger number afterwards.
"""
from __future__ import annotations

from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

import trio

from .events import Event, ParticipantsChanged, RoomChanged, RoomDeleted

_FOREVER = float("inf")
_NO_DEADLINE = nullcontext()
MAILBOX_LIMIT = 1000      # messages kept per session; the oldest is dropped beyond
MESSAGE_TTL = 300.0       # seconds a message waits for its recipient (Talk's 5 min job)


@dataclass(frozen=True, slots=True)
class Signal:
    """One relayed message. `data` is the payload as the sender wrote it; each transport renders
    it for its recipient (polling: JSON string with `from`; WebSocket: `sender` + `data`)."""
    sender: str
    sender_user: str | None
    data: dict[str, Any]
    sent_at: float
    # "message" (relayed, kept for a resume), "control" (relayed to connected WebSocket clients
    # only, never kept) or "transient" (a room-data change, `data` is the frame body).
    kind: str = "message"
    id: str = ""          # cluster-wide id, set when relayed to other nodes (see Mailboxes.deliver)


class RoomState:
    __slots__ = ("token", "generation", "members")

    def __init__(self, token: str) -> None:
        self.token = token
        self.generation = 0            # sequence number of the last participant change
        self.members: set[str] = set()


class Mailbox:
    __slots__ = ("session_id", "room", "limit", "queue", "dropped", "seen", "room_changed",
                 "chat", "gone", "websocket", "touched", "waiters", "closing", "_wakeup", "on_take")

    def __init__(self, session_id: str, room: RoomState, now: float, limit: int = MAILBOX_LIMIT) -> None:
        self.session_id = session_id
        self.room = room
        self.limit = limit
        self.queue: deque[Signal] = deque()
        self.dropped = 0
        self.seen = -1            # a new mailbox owes its owner the participant list
        self.room_changed = False
        self.chat = False
        self.gone = False         # unregistered: the session left, was removed, or the room died
        self.websocket = False    # owned by a WebSocket session (wants room and chat events)
        self.touched = now
        self.waiters = 0
        self.closing = False      # the server is shutting down: `wait` no longer parks
        self._wakeup: trio.Event | None = None
        self.on_take: Callable[[str, list[Signal]], None] | None = None   # the cluster bus

    # -- producers (sync, never block) ---------------------------------------------------------

    def put(self, signal: Signal) -> None:
        if len(self.queue) >= self.limit:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(signal)
        self.wake()

    def wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    # -- the owner -----------------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self.room.token

    @property
    def list_stale(self) -> bool:
        """The owner has not yet been shown the latest participant list."""
        return self.seen < self.room.generation

    def pending(self) -> bool:
        return bool(self.queue) or self.list_stale or self.room_changed or self.chat or self.gone

    def take(self, now: float, ttl: float = MESSAGE_TTL) -> list[Signal]:
        """Hand out every waiting message that is not older than `ttl`, oldest first."""
        self.touched = now
        if not self.queue:
            return []
        cutoff = now - ttl
        taken = [s for s in self.queue if s.sent_at >= cutoff]
        self.queue.clear()
        if self.on_take is not None:
            self.on_take(self.session_id, taken)
        return taken

    async def wait(self, timeout: float = float("inf")) -> bool:
        """Park until something is pending or `timeout` passes; True if something is pending.
        Cancellation just unparks: nothing is taken here. Once `closing` is set (shutdown) it
        returns at once, after a checkpoint so that a loop around it can still be cancelled."""
        if self.pending():
            return True
        if self.closing:
            await trio.lowlevel.checkpoint()
            return False
        # No deadline (a WebSocket pump): skip the cancel scope, one less object per wake-up.
        with trio.move_on_after(timeout) if timeout != _FOREVER else _NO_DEADLINE:
            self.waiters += 1
            try:
                while not self.pending() and not self.closing:
                    if self._wakeup is None:
                        self._wakeup = trio.Event()
                    await self._wakeup.wait()
            finally:
                self.waiters -= 1
        return self.pending()

    def expire(self, now: float, ttl: float = MESSAGE_TTL) -> None:
        cutoff = now - ttl
        while self.queue and self.queue[0].sent_at < cutoff:
            self.queue.popleft()
            self.dropped += 1


class Mailboxes:
    """Every mailbox, indexed by session and by room. Owned by the hub; sync methods never block."""

    def __init__(self, limit: int = MAILBOX_LIMIT, ttl: float = MESSAGE_TTL) -> None:
        self.limit = limit
        self.ttl = ttl
        self._boxes: dict[str, Mailbox] = {}
        self._rooms: dict[str, RoomState] = {}
        self._sequence = 0
        self._sequence_at_sweep = 0
        self.delivered = 0
        self.closing = False      # see close_all()
        # The cluster bus (signaling/bus.py): `relay` carries deliveries and takes to the other
        # nodes, `new_id` names a relayed signal so that a take anywhere removes it everywhere.
        self.relay: Callable[[dict[str, Any]], None] | None = None
        self.new_id: Callable[[], str] | None = None

    def _room(self, token: str) -> RoomState:
        room = self._rooms.get(token)
        if room is None:
            room = self._rooms[token] = RoomState(token)
        return room

    def generation(self, token: str) -> int:
        """The room's participant-list generation; read it *before* reading the list."""
        room = self._rooms.get(token)
        return room.generation if room is not None else 0

    def register(self, session_id: str, token: str, now: float) -> Mailbox:
        """The mailbox of a session proven to be in room `token` (created if missing). A session
        belongs to one room; registering it elsewhere first unregisters it."""
        box = self._boxes.get(session_id)
        if box is not None and box.token == token:
            box.touched = now
            return box
        if box is not None:
            self.unregister(session_id)
        room = self._room(token)
        box = self._boxes[session_id] = Mailbox(session_id, room, now, self.limit)
        box.closing = self.closing
        if self.relay is not None:
            box.on_take = self._taken
        room.members.add(session_id)
        return box

    def unregister(self, session_id: str) -> None:
        """Forget a session; a parked owner wakes and finds `gone` set."""
        box = self._boxes.pop(session_id, None)
        if box is None:
            return
        box.room.members.discard(session_id)   # empty rooms are dropped by sweep(), see there
        box.gone = True
        box.wake()

    def get(self, session_id: str) -> Mailbox | None:
        return self._boxes.get(session_id)

    def room_of(self, session_id: str) -> str | None:
        box = self._boxes.get(session_id)
        return box.token if box is not None else None

    def members(self, token: str) -> Iterable[str]:
        room = self._rooms.get(token)
        return tuple(room.members) if room is not None else ()

    def deliver(self, recipient: str, signal: Signal, *, here: bool = True, relay: bool = True) -> bool:
        """Put `signal` in the recipient's mailbox and, in a cluster, in its copies on the other
        nodes. `here=False`: the other nodes only (a `control` message for a WebSocket client
        connected elsewhere); `relay=False`: this node only (an event every node announces itself)."""
        box = self._boxes.get(recipient)
        if box is None:
            return False
        if relay and self.relay is not None and self.new_id is not None:
            # Polling clients may pull from any node: every node keeps a copy of the signal in
            # the recipient's mailbox, and whichever hands it out tells the others to drop theirs.
            signal = replace(signal, id=self.new_id())
            self.relay({"k": "signal", "to": recipient, "t": box.token, "f": signal.sender,
                        "u": signal.sender_user, "d": signal.data, "at": signal.sent_at, "id": signal.id,
                        "kind": signal.kind})
        if not here:
            return True
        box.put(signal)
        self.delivered += 1
        return True

    def deliver_remote(self, message: dict[str, Any]) -> None:
        """A signal another node delivered (its sender checked the recipient is in room `t`)."""
        recipient, token = str(message["to"]), str(message["t"])
        kind = str(message.get("kind", "message"))
        box = self._boxes.get(recipient)
        if box is not None and box.token != token:
            return   # this node knows the session in another room: trust the newer local view
        if box is None:
            if kind != "message":
                # "control" and "transient" reach only WebSocket clients connected at that moment,
                # and a WebSocket session lives on one node: no mailbox here means not connected here.
                return
            box = self.register(recipient, token, message["at"])
        # Not counted in `delivered`: the sender's node counted this signal once for the cluster.
        box.put(Signal(message["f"], message["u"], message["d"], message["at"], kind=kind, id=str(message["id"])))

    def _taken(self, session_id: str, taken: list[Signal]) -> None:
        ids = [s.id for s in taken if s.id]
        if ids and self.relay is not None:
            self.relay({"k": "taken", "s": session_id, "ids": ids})

    def drop_taken(self, session_id: str, ids: Iterable[str]) -> None:
        """Another node handed these signals out: drop our copies."""
        box = self._boxes.get(session_id)
        if box is None or not box.queue:
            return
        gone = set(ids)
        box.queue = deque(s for s in box.queue if s.id not in gone)

    def resync(self) -> None:
        """Events may have been missed: every room's owners re-read their participant list."""
        for token, room in self._rooms.items():
            self._sequence += 1
            room.generation = self._sequence
            for session_id in room.members:
                self._boxes[session_id].wake()

    def sync_room(self, token: str, sessions: Iterable[str]) -> None:
        """The database says these are all sessions of the room: forget the others."""
        live = set(sessions)
        for session_id in self.members(token):
            if session_id not in live:
                self.unregister(session_id)

    # -- hub events ------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Flag every session of the event's room. Never blocks, never queries."""
        if isinstance(event, RoomDeleted):
            for session_id in self.members(event.token):
                self.unregister(session_id)
            self._rooms.pop(event.token, None)
            return
        if isinstance(event, ParticipantsChanged):
            room = self._room(event.token)
            self._sequence += 1
            room.generation = self._sequence
            for session_id in room.members:
                self._boxes[session_id].wake()
            return
        room = self._rooms.get(event.token)
        for session_id in room.members if room is not None else ():
            box = self._boxes[session_id]
            if isinstance(event, RoomChanged) and box.websocket:
                box.room_changed = True
                box.wake()

    def on_chat(self, token: str) -> None:
        """A chat message was posted: WebSocket owners tell their client to fetch chat (folded)."""
        room = self._rooms.get(token)
        for session_id in room.members if room is not None else ():
            box = self._boxes[session_id]
            if box.websocket and not box.chat:
                box.chat = True
                box.wake()

    def sweep(self, now: float) -> int:
        """Drop expired messages, and mailboxes nobody has looked at for `ttl` seconds (their
        owner stopped pulling without leaving). Returns how many mailboxes were dropped."""
        idle = [sid for sid, box in self._boxes.items()
                if box.waiters == 0 and not box.websocket and box.touched < now - self.ttl]
        for session_id in idle:
            self.unregister(session_id)
        # An empty room's generation still matters to a reader that took it just before a
        # database read; only rooms unchanged for a whole sweep interval are forgotten. A later
        # change gets a larger number from the process-wide counter, so forgetting is safe.
        for token in [t for t, room in self._rooms.items()
                      if not room.members and room.generation <= self._sequence_at_sweep]:
            del self._rooms[token]
        self._sequence_at_sweep = self._sequence
        for box in self._boxes.values():
            box.expire(now, self.ttl)
        return len(idle)

    def close_all(self) -> None:
        """The server is shutting down: every parked owner wakes and answers now (a pull with
        what it has, usually just `usersInRoom`), and no owner parks again."""
        self.closing = True
        for box in self._boxes.values():
            box.closing = True
            box.wake()

    def waiting(self) -> int:
        return sum(box.waiters for box in self._boxes.values())

    def pulls_waiting(self) -> int:
        """Parked signaling pulls (polling owners; WebSocket pumps park here too and are left out)."""
        return sum(box.waiters for box in self._boxes.values() if not box.websocket)

    def __len__(self) -> int:
        return len(self._boxes)
