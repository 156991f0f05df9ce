"""The SFU controller: turns the standalone protocol's MCU flow into Janus videoroom requests.

What clients send (signaling/websocket.py and the polling transport hand these over when an SFU
is configured; hpb-interop.md §3):
  * `offer` to its **own** session id (`roomType` "video" or "screen"): publish. Parley attaches a
    publisher handle, `joinandconfigure`s it in the call's videoroom with the offer, and sends the
    answer back from the client's own id.
  * `requestoffer` to peer P: subscribe to P's stream. Parley attaches a subscriber handle for the
    (subscriber, P, roomType) triple, joins it to P's feed and sends the subscriber Janus's offer
    from P's id. If P has not published yet, the request waits and is served when P publishes
    (Talk clients re-send it every 10 s; Parley does not make them wait that long).
  * `sendoffer` to viewer V (screen sharing): the same, with the roles swapped.
  * `answer` to P: `start` on the (me, P) subscriber handle.
  * `candidate` / `endOfCandidates` to the own id (publisher) or to P (subscriber): `trickle`.
  * `unshareScreen` to the own id: the screen publisher and its subscribers are detached (the HPB
    does the same; the sharer sends `unshareScreen` to each viewer too, relayed as usual).
Only sessions in the call may publish or subscribe, and only within their own room.

Janus state per call: one videoroom (created on the first publish, destroyed when nobody of the
call is left), one publisher handle per published stream, one subscriber handle per
(subscriber, publisher, roomType). A session that leaves the call, its room or the server loses
all of its handles, and so do the subscribers of its streams; a deleted room loses everything.
The hub calls `on_event` for every committed participant or room change; the controller then
re-reads that room's roster once and tears down whatever is no longer in the call.

Messages from one session are handled in order by that session's worker task (a candidate must
not overtake its offer); different sessions proceed in parallel. A full queue refuses the message
(`submit` returns False) instead of growing without bound.

After a Janus restart every handle and room is gone: the controller forgets them and sends each
session that published or subscribed `{"type": "sfuRestarted"}` from its own id, so clients
republish and re-subscribe (Parley's own choice; Talk clients also recover through ICE failure).
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import trio

from ..events import Event, ParticipantsChanged, RoomDeleted
from ..mailbox import Mailboxes, Signal
from ..roster import Roster
from .janus import JanusClient, JanusError, JanusGone

log = logging.getLogger("parley.sfu")

# The payload types an SFU intercepts (a mesh relays them peer to peer).
MCU_TYPES = frozenset({"offer", "answer", "candidate", "endOfCandidates", "requestoffer", "sendoffer",
                       "selectStream"})
ROOM_TYPES = ("video", "screen")
QUEUE_LIMIT = 256            # messages waiting per session before `submit` refuses
MAX_PUBLISHERS = 100         # per videoroom (Janus's per-room limit; a call's streams)

RosterOf = Callable[[str], Awaitable["Roster | None"]]   # token -> every session of the room, or None


@dataclass
class Publisher:
    session: str
    room_type: str
    handle: int
    feed: int
    up: bool = False      # Janus said `webrtcup`: only then does it accept subscribers to the feed


@dataclass
class Subscriber:
    session: str
    publisher: str
    room_type: str
    handle: int


@dataclass
class CallRoom:
    token: str
    janus_room: int | None = None
    in_call: dict[str, str] = field(default_factory=dict)              # session -> user id
    publishers: dict[tuple[str, str], Publisher] = field(default_factory=dict)
    subscribers: dict[tuple[str, str, str], Subscriber] = field(default_factory=dict)
    waiting: dict[tuple[str, str], dict[str, str | None]] = field(default_factory=dict)  # (pub, rt) -> {sub: sid}
    lock: trio.Lock = field(default_factory=trio.Lock)

    def sessions(self) -> set[str]:
        return {p.session for p in self.publishers.values()} | {s.session for s in self.subscribers.values()}


@dataclass(frozen=True, slots=True)
class Request:
    token: str
    sender: str
    to: str
    data: dict[str, Any]


class SfuController:
    features = ("mcu",)

    def __init__(self, janus: JanusClient, mailboxes: Mailboxes, roster_of: RosterOf,
                 clock: Callable[[], float]) -> None:
        self.janus = janus
        self.mailboxes = mailboxes
        self.roster_of = roster_of
        self.clock = clock
        self.rooms: dict[str, CallRoom] = {}
        self._queues: dict[str, trio.MemorySendChannel[Request]] = {}
        self._queue_room: dict[str, str] = {}     # sender -> the room its queue serves
        self._dirty: set[str] = set()
        self._dirty_event = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._admin_handle: int | None = None
        self._admin_lock = trio.Lock()
        self.handled = 0          # MCU messages processed (benchmarks read it)
        janus.on_session = self._new_session
        janus.on_event = self._janus_event

    # -- entry points (sync, never block) ------------------------------------------------------------

    @staticmethod
    def intercepts(data: dict[str, Any], sender: str | None = None, to: str | None = None) -> bool:
        # `unshareScreen` is a peer message except when addressed to oneself: then it ends the
        # SFU screen stream (nothing else would free its Janus handles while the call goes on).
        if data.get("type") == "unshareScreen":
            return sender is not None and sender == to
        return data.get("type") in MCU_TYPES

    def submit(self, token: str, sender: str, to: str, data: dict[str, Any]) -> bool:
        """Queue an MCU message from `sender` (verified to be in room `token`) addressed to `to`.
        False if that session's queue is full or the controller is not running."""
        if self._nursery is None:
            return False
        queue = self._queues.get(sender)
        if queue is None:
            send, receive = trio.open_memory_channel[Request](QUEUE_LIMIT)
            self._queues[sender] = queue = send
            self._nursery.start_soon(self._worker, sender, receive)
        self._queue_room[sender] = token
        # Known rooms are reconciled on every change, which also ends the workers of senders
        # that are not (or no longer) in the call.
        self.rooms.setdefault(token, CallRoom(token))
        try:
            queue.send_nowait(Request(token, sender, to, data))
        except trio.WouldBlock:
            return False
        return True

    def on_event(self, event: Event) -> None:
        """A committed participant or room change (from Hub.publish): re-check that room's call."""
        if isinstance(event, (ParticipantsChanged, RoomDeleted)) and event.token in self.rooms:
            self._dirty.add(event.token)
            self._dirty_event.set()

    # -- the controller's life -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.janus.run)
            nursery.start_soon(self._reconciler)
            task_status.started()

    async def _worker(self, sender: str, receive: trio.MemoryReceiveChannel[Request]) -> None:
        async with receive:
            async for request in receive:
                try:
                    await self._handle(request)
                except (JanusError, JanusGone, trio.TooSlowError) as exc:
                    log.warning("sfu: %s from %.12s… failed: %r", request.data.get("type"), sender, exc)
                except Exception:
                    log.exception("sfu: handling %s failed", request.data.get("type"))
                self.handled += 1
                if sender not in self._queues:
                    return

    async def _reconciler(self) -> None:
        while True:
            await self._dirty_event.wait()
            self._dirty_event = trio.Event()
            dirty, self._dirty = self._dirty, set()
            for token in dirty:
                try:
                    await self.reconcile(token)
                except Exception:
                    log.exception("sfu: reconciling room %s failed", token)

    # -- message handling ---------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> None:
        data = request.data
        kind = data.get("type")
        room_type = data.get("roomType") if data.get("roomType") in ROOM_TYPES else "video"
        room = self.rooms.get(request.token)
        if kind in ("offer", "requestoffer", "sendoffer"):
            room = await self._call_room(request.token, request.sender, request.to)
            if room is None:
                return
        elif room is None:
            return
        me, to = request.sender, request.to
        if kind == "offer" and to == me:
            sdp = _sdp(data, "offer")
            if sdp is not None:
                await self._publish(room, me, room_type, sdp, data.get("sid"))
        elif kind == "unshareScreen" and to == me:
            await self._unpublish(room, me, "screen")
        elif kind == "requestoffer" and to != me:
            await self._subscribe(room, me, to, room_type, data.get("sid"))
        elif kind == "sendoffer" and to != me:
            await self._subscribe(room, to, me, room_type, data.get("sid"))
        elif kind == "answer" and to != me:
            sdp = _sdp(data, "answer")
            subscriber = room.subscribers.get((me, to, room_type))
            if sdp is not None and subscriber is not None:
                await self.janus.message(subscriber.handle, {"request": "start"},
                                         {"type": "answer", "sdp": sdp}, wants_event=True)
        elif kind in ("candidate", "endOfCandidates"):
            handle = self._handle_of(room, me, to, room_type)
            if handle is None:
                return
            if kind == "endOfCandidates":
                await self.janus.trickle(handle, None)
                return
            candidate = (data.get("payload") or {}).get("candidate") if isinstance(data.get("payload"), dict) else None
            if isinstance(candidate, dict) and isinstance(candidate.get("candidate"), str):
                if candidate["candidate"]:
                    await self.janus.trickle(handle, {k: candidate[k] for k in ("candidate", "sdpMid", "sdpMLineIndex")
                                                      if k in candidate})
                else:
                    await self.janus.trickle(handle, None)
        # selectStream (simulcast layer choice) is not supported: ignored, like an unknown type.

    def _handle_of(self, room: CallRoom, me: str, to: str, room_type: str) -> int | None:
        if to == me:
            publisher = room.publishers.get((me, room_type))
            return publisher.handle if publisher is not None else None
        subscriber = room.subscribers.get((me, to, room_type))
        return subscriber.handle if subscriber is not None else None

    async def _call_room(self, token: str, *sessions: str) -> CallRoom | None:
        """The call's state if every one of `sessions` is in the call (re-reading the roster once
        if the cached view does not say so: a join may have just been committed)."""
        room = self.rooms.get(token)
        if room is None or not all(s in room.in_call for s in sessions):
            roster = await self.roster_of(token)
            if roster is None:
                return None
            room = self.rooms.setdefault(token, CallRoom(token))
            room.in_call = {m.session_id: m.user_id for m in roster.members if m.in_call}
        return room if all(s in room.in_call for s in sessions) else None

    async def _ensure_janus_room(self, room: CallRoom) -> int:
        async with room.lock:
            if room.janus_room is None:
                room_id = 1 + secrets.randbelow(2**52)
                await self._admin({"request": "create", "room": room_id, "publishers": MAX_PUBLISHERS,
                                   "description": f"parley {room.token}", "audiolevel_event": False,
                                   "notify_joining": False})
                room.janus_room = room_id
            return room.janus_room

    async def _admin(self, body: dict[str, Any]) -> dict[str, Any]:
        """A room-level videoroom request on the controller's own handle."""
        async with self._admin_lock:
            if self._admin_handle is None:
                self._admin_handle = await self.janus.attach()
            handle = self._admin_handle
        return (await self.janus.message(handle, body)).data

    async def _publish(self, room: CallRoom, me: str, room_type: str, sdp: str, sid: Any) -> None:
        janus_room = await self._ensure_janus_room(room)
        old = room.publishers.pop((me, room_type), None)
        resubscribe: dict[str, str | None] = {}
        if old is not None:      # a republish: its subscribers get offers for the new stream
            for key, sub in list(room.subscribers.items()):
                if sub.publisher == me and sub.room_type == room_type:
                    resubscribe[sub.session] = None
                    await self._drop_subscriber(room, key)
            await self._detach(old.handle)
        handle = await self.janus.attach()
        feed = 1 + secrets.randbelow(2**52)
        try:
            reply = await self.janus.message(handle, {
                "request": "joinandconfigure", "ptype": "publisher", "room": janus_room, "id": feed,
                "display": f"{me[:16]} {room_type}", "audio": True, "video": True},
                {"type": "offer", "sdp": sdp}, wants_event=True)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._detach(handle)
            raise
        if reply.jsep is None or me not in room.in_call:
            await self._detach(handle)
            return
        room.publishers[(me, room_type)] = Publisher(me, room_type, handle, feed)
        answer: dict[str, Any] = {"to": me, "from": me, "type": "answer", "roomType": room_type,
                                  "payload": {"type": "answer", "sdp": reply.jsep.get("sdp", "")}}
        if sid is not None:
            answer["sid"] = sid
        self._send(me, me, room, answer)
        for subscriber in resubscribe:
            room.waiting.setdefault((me, room_type), {}).setdefault(subscriber, None)

    def _nursery_subscribe(self, room: CallRoom, subscriber: str, publisher: str, room_type: str, sid: Any) -> None:
        """Serve a waiting subscription through the subscriber's own queue (keeps its order)."""
        self.submit(room.token, subscriber, publisher,
                    {"type": "requestoffer", "roomType": room_type, **({"sid": sid} if sid else {})})

    async def _subscribe(self, room: CallRoom, subscriber: str, publisher: str, room_type: str, sid: Any) -> None:
        source = room.publishers.get((publisher, room_type))
        if source is None or not source.up:     # served when its media is up (see _janus_event)
            room.waiting.setdefault((publisher, room_type), {})[subscriber] = sid
            return
        janus_room = await self._ensure_janus_room(room)
        key = (subscriber, publisher, room_type)
        if key in room.subscribers:
            await self._drop_subscriber(room, key)
        handle = await self.janus.attach()
        try:
            reply = await self.janus.message(handle, {
                "request": "join", "ptype": "subscriber", "room": janus_room,
                "streams": [{"feed": source.feed}]}, wants_event=True)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._detach(handle)
            raise
        if reply.jsep is None or subscriber not in room.in_call or room.publishers.get((publisher, room_type)) is not source:
            await self._detach(handle)
            return
        room.subscribers[key] = Subscriber(subscriber, publisher, room_type, handle)
        offer: dict[str, Any] = {"to": subscriber, "from": publisher, "type": "offer", "roomType": room_type,
                                 "sid": sid if sid is not None else secrets.token_hex(8),
                                 "payload": {"type": "offer", "sdp": reply.jsep.get("sdp", "")}}
        self._send(subscriber, publisher, room, offer)

    def _send(self, recipient: str, sender: str, room: CallRoom, data: dict[str, Any]) -> None:
        user = room.in_call.get(sender) or None
        self.mailboxes.deliver(recipient, Signal(sender, user, data, self.clock()))

    # -- teardown -------------------------------------------------------------------------------------

    async def _detach(self, handle: int) -> None:
        try:
            await self.janus.detach(handle)
        except (JanusError, JanusGone, trio.TooSlowError):
            pass        # gone already (or Janus is): nothing left to free

    async def _drop_subscriber(self, room: CallRoom, key: tuple[str, str, str]) -> None:
        subscriber = room.subscribers.pop(key, None)
        if subscriber is not None:
            await self._detach(subscriber.handle)

    async def _unpublish(self, room: CallRoom, session: str, room_type: str) -> None:
        """One stream of `session` ends: its publisher, its subscribers and requests waiting for it."""
        for key, sub in list(room.subscribers.items()):
            if sub.publisher == session and sub.room_type == room_type:
                await self._drop_subscriber(room, key)
        room.waiting.pop((session, room_type), None)
        publisher = room.publishers.pop((session, room_type), None)
        if publisher is not None:
            await self._detach(publisher.handle)

    async def drop_session(self, room: CallRoom, session: str) -> None:
        """Everything `session` holds, and every subscription to its streams."""
        self._close_queue(session)
        for key, sub in list(room.subscribers.items()):
            if sub.session == session or sub.publisher == session:
                await self._drop_subscriber(room, key)
        for key in [k for k in room.publishers if k[0] == session]:
            await self._detach(room.publishers.pop(key).handle)
        for key in [k for k in room.waiting if k[0] == session]:
            del room.waiting[key]
        for waiting in room.waiting.values():
            waiting.pop(session, None)

    def _close_queue(self, session: str) -> None:
        queue = self._queues.pop(session, None)
        self._queue_room.pop(session, None)
        if queue is not None:
            queue.close()

    async def reconcile(self, token: str) -> None:
        """Bring the call's Janus state in line with the database: who left the call loses its
        handles; a call nobody is in any more (or a deleted room) loses its videoroom."""
        room = self.rooms.get(token)
        if room is None:
            return
        roster = await self.roster_of(token)
        room.in_call = {m.session_id: m.user_id for m in roster.members if m.in_call} if roster else {}
        for session in room.sessions() | {s for w in room.waiting.values() for s in w} | \
                {k[0] for k in room.waiting}:
            if session not in room.in_call:
                await self.drop_session(room, session)
        for sender in [s for s, t in self._queue_room.items() if t == token and s not in room.in_call]:
            self._close_queue(sender)
        if not room.in_call and not room.publishers and not room.subscribers:
            self.rooms.pop(token, None)
            if room.janus_room is not None:
                try:
                    await self._admin({"request": "destroy", "room": room.janus_room})
                except (JanusError, JanusGone, trio.TooSlowError) as exc:
                    log.warning("sfu: destroying the videoroom of %s failed: %r", token, exc)

    # -- Janus session changes and events ----------------------------------------------------------------

    async def _new_session(self, generation: int) -> None:
        """A new Janus session (first connect, or after a restart): handles of the old one are
        gone. Old videorooms may survive a mere connection loss: destroy them (no leaks)."""
        self._admin_handle = None
        rooms, self.rooms = self.rooms, {}
        for room in rooms.values():
            if room.janus_room is not None:
                try:
                    await self._admin({"request": "destroy", "room": room.janus_room})
                except (JanusError, JanusGone, trio.TooSlowError):
                    pass      # gone with the restart
            for session in room.sessions():
                self.mailboxes.deliver(session, Signal(session, room.in_call.get(session) or None,
                                                       {"type": "sfuRestarted", "to": session, "from": session},
                                                       self.clock()))

    def _janus_event(self, message: dict[str, Any]) -> None:
        """`webrtcup` on a publisher handle: its feed now takes subscribers, so the requests that
        waited for it are served (through each subscriber's own queue, keeping its order)."""
        kind = message.get("janus")
        if kind != "webrtcup":
            if kind in ("hangup", "detached"):
                log.debug("sfu: janus %s on handle %s", kind, message.get("sender"))
            return
        handle = message.get("sender")
        for room in self.rooms.values():
            for key, publisher in room.publishers.items():
                if publisher.handle == handle and not publisher.up:
                    publisher.up = True
                    for subscriber, sid in room.waiting.pop(key, {}).items():
                        if subscriber in room.in_call:
                            self._nursery_subscribe(room, subscriber, publisher.session, publisher.room_type, sid)
                    return

    # -- auditing (tests, benchmarks) -----------------------------------------------------------------------

    async def list_participants(self, token: str) -> list[dict[str, Any]] | None:
        """Janus's `listparticipants` for the call's videoroom (publishers only), or None."""
        room = self.rooms.get(token)
        if room is None or room.janus_room is None:
            return None
        return (await self._admin({"request": "listparticipants", "room": room.janus_room})).get("participants", [])

    def handle_count(self) -> int:
        return sum(len(r.publishers) + len(r.subscribers) for r in self.rooms.values())


def _sdp(data: dict[str, Any], kind: str) -> str | None:
    payload = data.get("payload")
    if isinstance(payload, dict) and payload.get("type", kind) == kind and isinstance(payload.get("sdp"), str):
        return payload["sdp"]
    return None
