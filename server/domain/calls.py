"""Call actions (talk-api-v1.md §5) and the hasCall lifecycle.

Parley ends a call (hasCall false) whenever the last in-call session leaves the call, leaves the
room, is removed or expires; the reference only checked on some of these paths (decisions.md).
"""
from __future__ import annotations

import sqlite3
from typing import Any

from signaling.events import ParticipantsChanged, RoomChanged
from storage import rooms as rooms_db
from storage.records import Participant, Room, RoomType

from storage import chat_state

from . import access
from . import system_messages as system
from .chat_post import Author, Outbox, participant_author
from .context import Actor, Ctx
from .errors import RoomNotFound, SessionNotFound


def end_call_if_empty(conn: sqlite3.Connection, room_id: int, out: Outbox, author: Author, now: int) -> bool:
    """Clear active_since when no session is in the call any more, and post the call summary
    (`call_ended`, by `author`: the last one to leave, or the server) in the same transaction.
    True if the call ended."""
    room = rooms_db.room_by_id(conn, room_id)
    if room is None or room.active_since is None or rooms_db.any_in_call(conn, room_id):
        return False
    rooms_db.end_call(conn, room_id)
    system.call_ended(conn, out, room, author, room.active_since, now)
    return True


async def peers(ctx: Ctx, actor: Actor, token: str) -> list[dict[str, Any]]:
    def unit(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        room, _ = access.chat_room(conn, actor, token)
        now, window = ctx.now(), ctx.config.active_window
        result_users, result_guests = [], []
        for p in rooms_db.participants(conn, room.id):
            last_ping = ctx.hub.presence.effective(p.session_id, p.last_ping)
            if not p.in_call or p.session_id is None or last_ping <= now - window:
                continue
            entry = {"userId": p.user_id or "", "token": room.token, "lastPing": last_ping, "sessionId": p.session_id}
            (result_guests if p.is_guest else result_users).append(entry)
        return result_users + result_guests
    return await ctx.db.run(unit)


def _call_participant(conn: sqlite3.Connection, actor: Actor, token: str, *, leaving: bool
                      ) -> tuple[Room, Participant] | None:
    """The participant whose call state changes. None means "nothing to do" (a guest without a
    session leaving the call, which Talk answers with 200)."""
    room = access.visible_room(conn, actor, token)
    if actor.user_id is None:
        session = access.cookie_session(conn, actor, token)
        if session is None:
            if leaving:
                return None
            raise SessionNotFound()
        row = rooms_db.participant_by_session(conn, session)
        if row is None or row.room_id != room.id:
            raise SessionNotFound()
    else:
        row = rooms_db.participant_of_user(conn, room.id, actor.user_id)
        if row is None:
            raise RoomNotFound()
    if row.session_id is None:
        raise SessionNotFound()
    return room, row


async def join_call(ctx: Ctx, actor: Actor, token: str) -> None:
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = _call_participant(conn, actor, token, leaving=False)  # type: ignore[misc]
        author = participant_author(me)
        already = me.in_call
        rooms_db.set_in_call(conn, me.id, True)
        started = room.active_since is None
        if started:
            chat_state.take_call_members(conn, room.id)   # leftovers of a call that ended uncleanly
        rooms_db.start_call(conn, room.id, ctx.now(), guest=me.is_guest and room.type == RoomType.PUBLIC)
        chat_state.add_call_member(conn, room.id, author.actor_type, author.actor_id)
        if started:
            system.post_system(conn, out, room, author, "call_started", now=ctx.now())
        elif not already:
            system.post_system(conn, out, room, author, "call_joined", now=ctx.now())
        return room, started
    room, started = await ctx.db.run(unit, after_commit=out.hook())
    ctx.hub.publish(ParticipantsChanged(room.token, room.id))
    if started:
        ctx.hub.publish(RoomChanged(room.token, room.id))


async def leave_call(ctx: Ctx, actor: Actor, token: str) -> None:
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        found = _call_participant(conn, actor, token, leaving=True)
        if found is None:
            return None, False
        room, me = found
        rooms_db.set_in_call(conn, me.id, False)
        author = participant_author(me)
        if me.in_call and rooms_db.any_in_call(conn, room.id):
            system.post_system(conn, out, room, author, "call_left", now=ctx.now())
        return room, end_call_if_empty(conn, room.id, out, author, ctx.now())
    room, ended = await ctx.db.run(unit, after_commit=out.hook())
    if room is not None:
        ctx.hub.publish(ParticipantsChanged(room.token, room.id))
        if ended:
            ctx.hub.publish(RoomChanged(room.token, room.id))


async def ping(ctx: Ctx, actor: Actor, token: str) -> None:
    """Keep the session alive. Costs one read and no write: the ping is kept in memory and
    stored in batches by the housekeeping timer."""
    def unit(conn: sqlite3.Connection) -> str | None:
        session = access.cookie_session(conn, actor, token)
        if session is None:
            raise SessionNotFound()
        room = access.visible_room(conn, actor, token)
        row = rooms_db.participant_by_session(conn, session)
        if row is None or row.room_id != room.id or row.user_id != actor.user_id:
            return None
        return session
    session = await ctx.db.run(unit)
    if session is not None:
        ctx.hub.presence.touch(session, ctx.now())
