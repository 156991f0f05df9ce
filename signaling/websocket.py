"""The standalone signaling API v1 subset (signaling.md §3, (a)) over one WebSocket.

Transport-neutral: a `Connection` is given `send(text)`, `receive() -> text` and `close(code)`
coroutines, the hub's registries and a `Backend` (the server's database checks as callables; this
package never imports `server/`).

Per connection: the reader task decodes frames and answers `hello`, `room`, `message` and `bye`;
once in a room a pump task drains the session's mailbox (relayed messages, participant changes
turned into `room` join/leave and `participants` update events, chat and room-property hints).
The transport writes each frame whole (so both tasks may send); an optional `send_many(texts)`
writes a batch of the pump's frames at once, all or nothing.

Ids: `hello` answers a fresh `sessionid`; once the client joins a room with its Talk session id
(from POST participants/active), that Talk session id is its signaling id everywhere (events,
`sender.sessionid`, recipient addressing), the same id polling clients see in `usersInRoom`. The
`room` answer repeats it as `room.sessionid`.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

import trio

from . import ws_messages
from .mailbox import Mailbox, Signal
from .roster import Roster, diff, join_entry, participant_entry
from .ticket import InvalidTicket, verify_ticket
from .ws_messages import ProtocolError
from .ws_sessions import SignalingSession, SignalingSessions

log = logging.getLogger("parley.signaling")

MAX_FRAME_BYTES = 64 * 1024
# Advertised in the hello answer. "mcu" (and "simulcast") only when an SFU is configured: Talk
# clients then publish once and subscribe per peer; without them they stay in mesh mode.
FEATURES: list[str] = ["audio-video-permissions", "transient-data"]


@dataclass(frozen=True, slots=True)
class RoomJoin:
    properties: dict[str, Any]


class Backend(Protocol):
    """What the WebSocket transport needs from the server's database."""

    async def join(self, user_id: str, token: str, session_id: str) -> RoomJoin | None:
        """The room's properties if `session_id` is `user_id`'s ('' = guest) live session in `token`."""

    async def roster(self, token: str, session_id: str) -> Roster | None:
        """Every session of the room, or None if `session_id` is no longer in it."""

    async def session_room(self, session_id: str) -> str | None:
        """The token of the room `session_id` is in, if any."""

    async def leave(self, token: str, session_id: str) -> None:
        """End the Talk session (the client left the signaling room or went away for good)."""


@dataclass
class WebSocketSettings:
    secret: bytes
    hello_timeout: float = 2.0
    active_window: int = 30
    keepalive: float = 10.0       # presence refresh while in a room (the backend "ping" of Talk)
    clock: Callable[[], float] = field(default=time.time)
    features: list[str] = field(default_factory=lambda: list(FEATURES))


class Hub(Protocol):   # the parts of signaling.hub.Hub used here
    mailboxes: Any
    presence: Any
    websockets: SignalingSessions
    sfu: Any


class ConnectionClosed(Exception):
    """Raised by the transport's `receive` when the client has gone away."""


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def error_frame(code: str, message: str, request_id: Any = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "error": {"code": code, "message": message}}
    if request_id is not None:
        frame["id"] = request_id
    return frame


def render_signal(signal: Signal) -> dict[str, Any]:
    if signal.kind == "transient":
        return {"type": "transient", "transient": signal.data}
    sender: dict[str, Any] = {"type": "session", "sessionid": signal.sender}
    if signal.sender_user:
        sender["userid"] = signal.sender_user
    return {"type": signal.kind, signal.kind: {"sender": sender, "data": signal.data}}


def _event(target: str, kind: str, body: Any) -> dict[str, Any]:
    return {"type": "event", "event": {"target": target, "type": kind, kind: body}}


class Connection:
    def __init__(self, hub: Hub, backend: Backend, settings: WebSocketSettings,
                 send: Callable[[str], Awaitable[None]], receive: Callable[[], Awaitable[str | bytes]],
                 close: Callable[[int], Awaitable[None]],
                 send_many: Callable[[list[str]], Awaitable[None]] | None = None) -> None:
        self.hub, self.backend, self.settings = hub, backend, settings
        self._send_raw, self._receive, self._close = send, receive, close
        # Optional: several frames in one write, all or nothing (raises if the transport is gone).
        self._send_many = send_many
        self.session: SignalingSession | None = None
        self._pump_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None
        self._going_away = False

    # -- plumbing ------------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        # No lock of our own: the reader and the pump may send at once, and the transport's
        # `send` writes each frame whole (hypercorn encodes a frame synchronously, then writes it
        # under its per-connection send lock, in arrival order). Measured: a lock here was ~4 %
        # of the server's CPU per relayed message.
        await self._send_raw(_encode(frame))

    def now(self) -> float:
        return self.settings.clock()

    async def _next_frame(self) -> dict[str, Any]:
        raw = await self._receive()
        # A str of n characters is at most 4n bytes of UTF-8: only long frames need encoding.
        if len(raw) > MAX_FRAME_BYTES or (isinstance(raw, str) and 4 * len(raw) > MAX_FRAME_BYTES
                                          and len(raw.encode()) > MAX_FRAME_BYTES):
            raise ProtocolError("message_too_large", f"frames are limited to {MAX_FRAME_BYTES} bytes", close=True)
        try:
            frame = json.loads(raw)
        except ValueError:
            raise ProtocolError("invalid_format", "the frame is not valid JSON") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ProtocolError("invalid_format", "a frame is a JSON object with a string \"type\"")
        return frame

    # -- the connection's life -------------------------------------------------------------------

    async def serve(self) -> None:
        """Run until the client says bye, goes away, breaks the protocol, or the server shuts
        down (then the connection closes with 1001 and the session waits for a resume)."""
        registry = self.hub.websockets
        if registry.closing:
            await self._close(1001)
            return
        registry.connections.add(self)
        try:
            with trio.CancelScope() as self._scope:
                await self._serve(registry)
        finally:
            registry.connections.discard(self)
        if self._going_away:
            # Shielded and bounded: the close frame must go out although the request is being
            # torn down, and a client that stopped reading must not hold the shutdown up.
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                try:
                    await self._close(1001)
                except Exception:   # the transport is already gone: nothing left to tell
                    pass

    def going_away(self) -> None:
        """Shutdown: stop serving now; `serve` then closes the connection with 1001."""
        self._going_away = True
        if self._scope is not None:
            self._scope.cancel()

    async def _serve(self, registry: SignalingSessions) -> None:
        try:
            if not await self._handshake():
                return
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.session is not None and self.session.box is not None:
                    self._start_pump(self.session.box)
                nursery.start_soon(self._keepalive)
                try:
                    await self._read_loop()
                except ConnectionClosed:
                    pass      # gone without bye: the session waits for a resume (see finally)
                nursery.cancel_scope.cancel()
        except ConnectionClosed:
            pass              # gone during the handshake
        finally:
            session = self.session
            if session is not None and session.connection is self:
                registry.detach(session, self.now())

    async def _handshake(self) -> bool:
        """Wait for a successful hello. A failed resume may be followed by a full hello on the
        same connection (Talk clients do exactly that); anything else fails and closes."""
        request_id = None
        try:
            with trio.fail_after(self.settings.hello_timeout):
                while True:
                    frame = await self._next_frame()
                    request_id = frame.get("id")
                    if frame["type"] == "bye":      # answered even before a hello
                        await self._bye(frame)
                        await self._close(1000)
                        return False
                    if frame["type"] != "hello":
                        raise ProtocolError("hello_expected", "the first message must be a hello", close=True)
                    try:
                        await self._hello(frame)
                        return True
                    except ProtocolError as exc:
                        if exc.close:
                            raise
                        await self.send(error_frame(exc.code, exc.message, request_id))
        except trio.TooSlowError:
            await self._fail(ProtocolError("hello_timeout", f"no hello within {self.settings.hello_timeout} s"))
        except ProtocolError as exc:
            await self._fail(exc, request_id)
        return False

    async def _fail(self, exc: ProtocolError, request_id: Any = None) -> None:
        await self.send(error_frame(exc.code, exc.message, request_id))
        await self._close(1008)

    async def _read_loop(self) -> None:
        while True:
            request_id = None
            try:
                frame = await self._next_frame()
                request_id = frame.get("id")
                kind = frame["type"]
                if kind == "message" or kind == "control":
                    await self._message(frame, kind)
                elif kind == "transient":
                    self._transient(frame)
                elif kind == "room":
                    await self._room(frame)
                elif kind == "bye":
                    await self._bye(frame)
                    return
                elif kind == "hello":
                    raise ProtocolError("invalid_format", "hello was already received")
                else:
                    raise ProtocolError("invalid_format", f"unknown message type {kind!r}")
            except ProtocolError as exc:
                if exc.close:
                    await self._fail(exc, request_id)
                    return
                await self.send(error_frame(exc.code, exc.message, request_id))

    def kick(self) -> None:
        """Another connection resumed this session: stop serving it here."""
        self.session = None
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # -- hello / bye -----------------------------------------------------------------------------

    async def _hello(self, frame: dict[str, Any]) -> None:
        hello = frame.get("hello")
        if not isinstance(hello, dict):
            raise ProtocolError("invalid_format", "hello needs a \"hello\" object", close=True)
        if hello.get("version") != "1.0":
            raise ProtocolError("invalid_hello_version", "only hello version 1.0 is supported", close=True)
        registry = self.hub.websockets
        if hello.get("resumeid"):   # an empty resumeid means no resume (the HPB and Talk agree)
            session = registry.resume(hello.get("resumeid"))
            if session is None:   # in a cluster it may be held by another node
                session = await registry.claim(hello.get("resumeid"), self.now())
            if session is None:
                raise ProtocolError("no_such_session", "the session expired; send a hello with auth")
            previous = session.connection
            if isinstance(previous, Connection) and previous is not self:
                previous.kick()
        else:
            auth = hello.get("auth")
            params = auth.get("params") if isinstance(auth, dict) else None
            if not isinstance(params, dict):
                raise ProtocolError("invalid_format", "hello needs auth.params {userid, ticket}", close=True)
            try:
                user_id = verify_ticket(self.settings.secret, params.get("ticket"), int(self.now()))
            except InvalidTicket as exc:
                raise ProtocolError("invalid_ticket", str(exc), close=True) from None
            if (params.get("userid") or "") != user_id:
                raise ProtocolError("invalid_ticket", "the ticket was issued to another user", close=True)
            session = registry.create(user_id)
        session.connection = self
        self.session = session
        reply = {"type": "hello", "hello": {"sessionid": session.public_id, "resumeid": session.resume_id,
                                            "userid": session.user_id, "version": "1.0",
                                            "server": {"features": self.settings.features}}}
        if frame.get("id") is not None:
            reply["id"] = frame["id"]
        await self.send(reply)

    async def _bye(self, frame: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"type": "bye", "bye": {}}
        if frame.get("id") is not None:
            reply["id"] = frame["id"]
        session = self.session
        self.session = None
        if session is not None:
            self._stop_pump()
            where = self.hub.websockets.end(session)
            if where is not None:
                with trio.CancelScope(shield=True):
                    await self.backend.leave(*where)
        await self.send(reply)

    # -- rooms -----------------------------------------------------------------------------------

    async def _room(self, frame: dict[str, Any]) -> None:
        session = self._require_session()
        room = frame.get("room")
        if not isinstance(room, dict) or not isinstance(room.get("roomid", ""), str):
            raise ProtocolError("invalid_format", "room needs {\"roomid\": token, \"sessionid\": Talk session id}")
        token = room.get("roomid") or ""
        reply: dict[str, Any] = {"type": "room", "room": {"roomid": token}}
        if frame.get("id") is not None:
            reply["id"] = frame["id"]
        if not token:
            await self._leave_room(session)
            await self.send(reply)
            return
        talk_session = room.get("sessionid")
        if not isinstance(talk_session, str) or not talk_session:
            raise ProtocolError("invalid_format", "room.sessionid must be the Talk session id of the room")
        if session.room == token and session.talk_session == talk_session:
            raise ProtocolError("already_joined", "this session is already in that room")
        joined = await self.backend.join(session.user_id, token, talk_session)
        if joined is None:
            raise ProtocolError("no_such_room", "no such room, or that Talk session is not yours in it")
        if self.session is not session:      # kicked or said bye while we were checking
            return
        await self._leave_room(session)
        registry = self.hub.websockets
        box = self.hub.mailboxes.register(talk_session, token, self.now())
        previous = registry.joined(session, token, talk_session, box)
        if previous is not None:             # the same Talk session joined from another socket
            registry.left(previous)
            if isinstance(previous.connection, Connection):
                previous.connection._stop_pump()
        self.hub.presence.touch(talk_session, int(self.now()))
        reply["room"] = {"roomid": token, "sessionid": talk_session, "properties": joined.properties}
        await self.send(reply)
        initial = registry.transient.snapshot(token)
        if initial:
            await self.send({"type": "transient", "transient": {"type": "initial", "data": initial}})
        self._start_pump(box)

    async def _leave_room(self, session: SignalingSession) -> None:
        self._stop_pump()
        where = self.hub.websockets.left(session)
        if where is not None:
            await self.backend.leave(*where)

    # -- messages --------------------------------------------------------------------------------

    async def _message(self, frame: dict[str, Any], kind: str = "message") -> None:
        await ws_messages.relay(self.hub, self.backend, self._require_session(), frame, kind, self.now())

    def _transient(self, frame: dict[str, Any]) -> None:
        ws_messages.transient(self.hub, self._require_session(), frame, self.now())

    def _require_session(self) -> SignalingSession:
        if self.session is None:
            raise ProtocolError("hello_expected", "say hello first", close=True)
        return self.session

    # -- the pump: mailbox → client --------------------------------------------------------------

    def _start_pump(self, box: Mailbox) -> None:
        self._stop_pump()
        if self._nursery is None:
            return      # still in the handshake: serve() starts it
        scope = trio.CancelScope()
        self._pump_scope = scope
        self._nursery.start_soon(self._pump, box, scope)

    def _stop_pump(self) -> None:
        if self._pump_scope is not None:
            self._pump_scope.cancel()
            self._pump_scope = None

    async def _pump(self, box: Mailbox, scope: trio.CancelScope) -> None:
        with scope:
            try:
                await self._pump_loop(box)
            except ConnectionClosed:
                # The transport refused a write (the client is gone): unsent messages went back
                # into the mailbox, and the reader ends the connection, which keeps the session
                # for a resume. Ending here keeps the nursery from reporting an error.
                pass

    async def _pump_loop(self, box: Mailbox) -> None:
        session = self.session
        while session is not None and session.box is box:
            await box.wait()
            if box.closing and not box.pending():
                return      # shutdown: the connection closes with 1001 (going_away)
            if box.gone:
                await self._removed(session, box)
                return
            frames: list[tuple[dict[str, Any], Signal | None]] = []
            if box.list_stale:
                if not await self._refresh_roster(session, box, frames):
                    await self._removed(session, box)
                    return
            frames.extend((render_signal(s), s) for s in box.take(self.now()))
            if box.room_changed:
                box.room_changed = False
                frames.append((_event("roomlist", "update", {"roomid": box.token, "properties": {}}), None))
            if box.chat:
                box.chat = False
                frames.append((_event("room", "message", {"roomid": box.token, "data": {
                    "type": "chat", "chat": {"refresh": True}}}), None))
            sent = 0
            try:
                if self._send_many is not None and len(frames) > 1:
                    await self._send_many([_encode(frame) for frame, _ in frames])
                else:
                    for frame, _ in frames:
                        await self.send(frame)
                        sent += 1
            except BaseException:
                # The connection broke mid-way: give unsent messages back, a resume gets them.
                box.queue.extendleft(reversed([s for _, s in frames[sent:]
                                               if s is not None and s.kind != "control"]))
                raise

    async def _refresh_roster(self, session: SignalingSession, box: Mailbox,
                              frames: list[tuple[dict[str, Any], Signal | None]]) -> bool:
        generation = self.hub.mailboxes.generation(box.token)
        roster = await self.backend.roster(box.token, box.session_id)
        if roster is None or session.box is not box:
            return False
        self.hub.mailboxes.sync_room(roster.token, roster.sessions())
        now = int(self.now())
        active = roster.active(now, self.settings.active_window, self.hub.presence.effective)
        after = {m.session_id: m for m, _ in active}
        pings = {m.session_id: ping for m, ping in active}
        change = diff(session.known, after)
        if change.joined:
            frames.append((_event("room", "join", [join_entry(m) for m in change.joined]), None))
        if change.left:
            frames.append((_event("room", "leave", list(change.left)), None))
        if change.changed or change.left:
            frames.append((_event("participants", "update", {
                "roomid": box.token,
                "changed": [participant_entry(m, pings[m.session_id]) for m in change.changed],
                "users": [participant_entry(m, pings[m.session_id]) for m in after.values()]}), None))
        session.known = after
        box.seen = max(box.seen, generation)
        return True

    async def _removed(self, session: SignalingSession, box: Mailbox) -> None:
        """The Talk session left the room on the server side (kicked, expired, replaced, room
        deleted): tell the client it is out of the room, as Talk's `room` message with no id."""
        if session.box is box:
            self.hub.websockets.left(session)
        self._pump_scope = None
        await self.send({"type": "room", "room": {"roomid": ""}})

    async def _keepalive(self) -> None:
        """While in a room the connection itself is the proof of life: ping the Talk session."""
        while True:
            session = self.session
            if session is not None and session.talk_session is not None:
                self.hub.presence.touch(session.talk_session, int(self.now()))
            await trio.sleep(self.settings.keepalive)   # ok: presence refresh, Talk's backend ping
