"""Signaling actions (talk-api-v1.md §9): settings, send, pull, and the database checks the
WebSocket transport needs (`SignalingBackend`, handed to `signaling/` as callables).

The wire logic lives in `signaling/polling.py` and `signaling/websocket.py`; this module only
decides who the caller is (rule L3, the cookie session) and reads rosters, one unit of work each.
"""
from __future__ import annotations

import random
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from signaling import polling, rules
from signaling.events import ParticipantsChanged, RoomChanged
from signaling.mailbox import Signal
from signaling.roster import Member, Roster
from signaling.ticket import make_ticket
from signaling.turn import new_credentials
from signaling.websocket import RoomJoin
from storage import rooms as rooms_db
from storage.records import Participant, ParticipantType, Room

from . import access
from .calls import end_call_if_empty
from .chat_post import Outbox, participant_author
from .context import Actor, Ctx
from .errors import BadParameter


# -- settings ------------------------------------------------------------------------------------

def websocket_url(ctx: Ctx, request_base: str) -> str:
    """The base URL Talk clients append `/spreed` to (they turn http(s) into ws(s) themselves, and
    strip a trailing slash). From `public_url` if configured, else from the request's own host."""
    base = ctx.config.public_url or request_base
    parts = urlsplit(base)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme or "ws")
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")


def settings(ctx: Ctx, actor: Actor, request_base: str) -> dict[str, Any]:
    """GET /signaling/settings. One STUN and one TURN server picked at random, as Talk does, each
    entry with both `url` (old clients) and `urls` (browsers). No database access."""
    now = ctx.now()
    stun = []
    if ctx.config.stun_servers:
        server = random.choice(ctx.config.stun_servers)
        stun.append({"url": f"stun:{server}", "urls": f"stun:{server}"})
    turn = []
    if ctx.config.turn_servers:
        server = random.choice(ctx.config.turn_servers)
        username, credential = new_credentials(server.secret, now)
        for protocol in server.protocols:
            url = [f"turn:{server.server}?transport={protocol}"]
            turn.append({"url": url, "urls": url, "username": username, "credential": credential})
    return {"server": websocket_url(ctx, request_base) if ctx.config.websocket else "",
            "ticket": make_ticket(ctx.secret, actor.user_id, now),
            "stunservers": stun, "turnservers": turn,
            # Parley's addition for polling clients, who get no hello: "mcu" when calls go
            # through the SFU (the same list the WebSocket hello's server.features carries).
            "features": ["mcu"] if ctx.hub.sfu is not None else []}


# -- rosters -------------------------------------------------------------------------------------

def _member(p: Participant) -> Member:
    return Member(p.session_id or "", p.user_id or "", p.last_ping, p.in_call, int(p.type))


def read_roster(conn: sqlite3.Connection, room: Room) -> Roster:
    rows = [p for p in rooms_db.participants(conn, room.id) if p.session_id]
    users = [_member(p) for p in rows if not p.is_guest]
    guests = [_member(p) for p in rows if p.is_guest]
    return Roster(room.token, room.id, tuple(users + guests))


# -- send and pull (internal signaling) -------------------------------------------------------------

async def send_messages(ctx: Ctx, actor: Actor, token: str, raw: Any) -> None:
    """POST /signaling/{token}. Malformed `messages` → 400; everything else is 200, and messages
    that may not be relayed (not the caller's session, no `to`, `to` outside the room) are dropped."""
    try:
        envelopes = polling.parse_messages(raw)
    except polling.MalformedMessages as exc:
        raise BadParameter(str(exc)) from None
    if not any(isinstance(e, dict) and e.get("ev") == "message" for e in envelopes):
        return   # e.g. the client's {"ev": "connect"} probe: no query needed

    def unit(conn: sqlite3.Connection) -> tuple[str, Roster] | None:
        found = access.session_room(conn, actor, token)
        return (found.participant.session_id, read_roster(conn, found.room)) if found else None  # type: ignore[return-value]
    found = await ctx.db.run(unit)
    if found is None:
        return
    session_id, roster = found
    members = roster.sessions()
    boxes = ctx.hub.mailboxes
    now = ctx.clock()
    sfu = ctx.hub.sfu
    for message in polling.outgoing(envelopes, session_id):
        if sfu is not None and sfu.intercepts(message.payload, session_id, message.to):
            # The MCU flow for polling clients: the SFU answers through their mailboxes. A full
            # queue drops the message (the client re-sends its requestoffer, or republishes).
            # The sender (verified above to be in this room) gets its mailbox now: a client
            # that publishes before its first pull would otherwise lose Janus's answer, which
            # often comes back before that pull has registered the box.
            if boxes.room_of(session_id) != token:
                boxes.register(session_id, token, now)
            sfu.submit(token, session_id, message.to, message.payload)
            continue
        recipient_room = token if message.to in members else None
        if not rules.may_signal(token, recipient_room):
            continue
        if boxes.get(message.to) is None or boxes.room_of(message.to) != token:
            boxes.register(message.to, token, now)   # verified above: it is in this room
        boxes.deliver(message.to, Signal(session_id, actor.user_id, message.payload, now))


async def pull(ctx: Ctx, actor: Actor, token: str, timeout: float = polling.PULL_TIMEOUT
               ) -> tuple[int, list[dict[str, Any]]]:
    """GET /signaling/{token}: (200, messages + usersInRoom) or (404, empty usersInRoom).

    The pull pings the caller's session (Talk 4's `no-ping` behaviour; see docs/DECISIONS-LOG.md),
    when it starts and again when its answer is built, so the caller is always in its own list.
    """
    def unit(conn: sqlite3.Connection) -> tuple[str, Roster] | None:
        found = access.session_room(conn, actor, token)
        if found is None:
            return None
        return found.participant.session_id, read_roster(conn, found.room)  # type: ignore[return-value]

    async def read() -> tuple[str, Roster] | None:
        found = await ctx.db.run(unit)
        if found is not None:
            ctx.hub.presence.touch(found[0], ctx.now())
        return found

    if ctx.hub.barrier is not None:
        # A cluster node: signals sent through another node before this pull (their sender was
        # answered once they reached Redis) are in this node's mailboxes before it looks.
        await ctx.hub.barrier()
    result = await polling.pull(ctx.hub.mailboxes, token, read, clock=ctx.clock, timeout=timeout)
    if result is None:
        return 404, polling.GONE
    now = ctx.now()
    ctx.hub.presence.touch(result.session_id, now)
    return 200, polling.render_pull(result, now, ctx.config.active_window, ctx.hub.presence.effective)


# -- what the WebSocket transport asks ----------------------------------------------------------------

class SignalingBackend:
    """`signaling.websocket.Backend` on top of the database: one unit of work per question."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    async def join(self, user_id: str, token: str, session_id: str) -> RoomJoin | None:
        def unit(conn: sqlite3.Connection) -> RoomJoin | None:
            found = access.session_in_room(conn, session_id, token, user_id or None)
            if found is None:
                return None
            room = found.room
            return RoomJoin({"name": room.name, "type": int(room.type)})
        return await self.ctx.db.run(unit)

    async def roster(self, token: str, session_id: str) -> Roster | None:
        def unit(conn: sqlite3.Connection) -> Roster | None:
            row = rooms_db.participant_by_session(conn, session_id)
            room = rooms_db.room_by_id(conn, row.room_id) if row is not None else None
            if room is None or room.token != token:
                return None
            return read_roster(conn, room)
        return await self.ctx.db.run(unit)

    async def room_roster(self, token: str) -> Roster | None:
        """Every session of room `token` (the SFU controller's view of who is in the call)."""
        def unit(conn: sqlite3.Connection) -> Roster | None:
            room = rooms_db.room_by_token(conn, token)
            return read_roster(conn, room) if room is not None else None
        return await self.ctx.db.run(unit)

    async def session_room(self, session_id: str) -> str | None:
        def unit(conn: sqlite3.Connection) -> str | None:
            row = rooms_db.participant_by_session(conn, session_id)
            room = rooms_db.room_by_id(conn, row.room_id) if row is not None else None
            return room.token if room is not None else None
        return await self.ctx.db.run(unit)

    async def leave(self, token: str, session_id: str) -> None:
        """End a Talk session the way leaving the room does (§4.14), found by its id: guests and
        self-joined users lose their row, invited users keep it without session and call."""
        def unit(conn: sqlite3.Connection) -> tuple[Room | None, bool]:
            row = rooms_db.participant_by_session(conn, session_id)
            room = rooms_db.room_by_id(conn, row.room_id) if row is not None else None
            if row is None or room is None or room.token != token:
                return None, False
            if row.is_guest or row.type == ParticipantType.USER_SELF_JOINED:
                rooms_db.delete_participant(conn, row.id)
            else:
                rooms_db.end_session(conn, row.id)
            return room, end_call_if_empty(conn, room.id, out, participant_author(row), self.ctx.now())
        out = Outbox(self.ctx.hub)
        room, ended = await self.ctx.db.run(unit, after_commit=out.hook())
        self.ctx.hub.presence.forget(session_id)
        if room is not None:
            self.ctx.hub.publish(ParticipantsChanged(room.token, room.id))
            if ended:
                self.ctx.hub.publish(RoomChanged(room.token, room.id))
