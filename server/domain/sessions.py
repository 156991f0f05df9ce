"""Joining and leaving a room: the Talk session (talk-api-v1.md §4.13-4.14)."""
from __future__ import annotations

import sqlite3

from signaling.events import ParticipantsChanged
from storage import rooms as rooms_db
from storage.records import ParticipantType

from . import access, ids
from .calls import end_call_if_empty
from .chat_post import Outbox, participant_author
from .context import Actor, Ctx
from .errors import BadParameter, WrongPassword


async def join_room(ctx: Ctx, actor: Actor, token: str, password: str | None) -> str:
    """Start a session; returns the new 255-character session id.

    Invited users never need the room password; everyone else (self-joining users, guests) does.
    A user has one session per room (a re-join replaces it); a guest gets a new row every time.
    Requires `actor.cookie_hash`: the session is remembered in the caller's cookie session.
    """
    if actor.cookie_hash is None:
        raise BadParameter("a cookie session is required to join a room")

    def check(conn: sqlite3.Connection) -> tuple[str, bool]:
        room = access.visible_room(conn, actor, token)
        me = rooms_db.participant_of_user(conn, room.id, actor.user_id) if actor.user_id else None
        return room.password_hash, me is None and room.has_password

    password_hash, needs_password = await ctx.db.run(check)
    if needs_password:
        throttle_key = (actor.client, "room:" + token)
        await ctx.passwords.throttle_check(throttle_key)
        if not password or not await ctx.passwords.verify(password_hash, password):
            await ctx.passwords.throttle_failed(throttle_key)
            raise WrongPassword()
        await ctx.passwords.throttle_succeeded(throttle_key)

    def unit(conn: sqlite3.Connection):
        room = access.visible_room(conn, actor, token)
        now = ctx.now()
        session = ids.new_session_id(conn)
        old_session = None
        me = rooms_db.participant_of_user(conn, room.id, actor.user_id) if actor.user_id else None
        if me is None and room.password_hash != password_hash:
            raise WrongPassword("the room password changed; try again")
        if me is not None:
            old_session = me.session_id
            rooms_db.set_session(conn, me.id, session, now)
        elif actor.user_id is not None:
            rooms_db.insert_participant(conn, room.id, actor.user_id, ParticipantType.USER_SELF_JOINED, session, now)
        else:
            rooms_db.insert_participant(conn, room.id, None, ParticipantType.GUEST, session, now)
        rooms_db.set_cookie_session(conn, actor.cookie_hash, room.token, session)
        return room, session, old_session, now
    room, session, old_session, now = await ctx.db.run(unit)
    if old_session:
        ctx.hub.presence.forget(old_session)
    ctx.hub.presence.touch(session, now)
    ctx.hub.publish(ParticipantsChanged(room.token, room.id))
    return session


async def leave_room(ctx: Ctx, actor: Actor, token: str) -> None:
    """End the session. Always succeeds (Talk swallows not-found here). Guests and self-joined
    users lose their row; invited users keep it with no session and out of the call."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        session = access.cookie_session(conn, actor, token)
        if actor.cookie_hash is not None:
            rooms_db.drop_cookie_session(conn, actor.cookie_hash, token)
        room = rooms_db.room_by_token(conn, token)
        if room is None:
            return None, session
        if actor.user_id is None:
            row = rooms_db.participant_by_session(conn, session) if session else None
            if row is None or row.room_id != room.id or not row.is_guest:
                return None, session
            rooms_db.delete_participant(conn, row.id)
        else:
            row = rooms_db.participant_of_user(conn, room.id, actor.user_id)
            if row is None:
                return None, session
            if row.type == ParticipantType.USER_SELF_JOINED:
                rooms_db.delete_participant(conn, row.id)
            else:
                rooms_db.end_session(conn, row.id)
            session = row.session_id
        end_call_if_empty(conn, room.id, out, participant_author(row), ctx.now())
        out.event(ParticipantsChanged(room.token, room.id))
        return room, session
    room, session = await ctx.db.run(unit, after_commit=out.hook())
    if session:
        ctx.hub.presence.forget(session)
