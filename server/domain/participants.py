"""Participant actions (talk-api-v1.md §4.8-4.12, §4.15)."""
from __future__ import annotations

import sqlite3
from typing import Any

from signaling.events import ParticipantsChanged, RoomChanged, RoomDeleted
from storage import accounts as accounts_db
from storage import rooms as rooms_db
from storage.records import NO_SESSION, ParticipantType, RoomType

from . import access
from . import system_messages as system
from .calls import end_call_if_empty
from .chat_post import Outbox, author_of
from .context import Actor, Ctx
from .errors import BadParameter, Forbidden, ParticipantNotFound, PreconditionFailed, UserNotFound


async def list_participants(ctx: Ctx, actor: Actor, token: str) -> list[dict[str, Any]]:
    """Users first, then guests. Talk lets any logged-in user list a public room; Parley does too,
    but shows session ids only to participants (a session id addresses signaling messages)."""
    access.require_user(actor)

    def unit(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        room = access.visible_room(conn, actor, token)
        is_member = access.own_participant(conn, actor, room) is not None
        rows = rooms_db.participants(conn, room.id)
        users = [p for p in rows if not p.is_guest]
        guests = [p for p in rows if p.is_guest]
        names = accounts_db.display_names(conn, [p.user_id for p in users])  # type: ignore[misc]
        from .ids import guest_actor_id
        guest_names = rooms_db.guest_names(conn, [guest_actor_id(p.session_id) for p in guests if p.session_id])
        presence = ctx.hub.presence
        result = []
        for p in users:
            if p.user_id not in names:
                continue
            result.append({"inCall": p.in_call, "lastPing": presence.effective(p.session_id, p.last_ping),
                           "sessionId": p.api_session_id if is_member else NO_SESSION,
                           "participantType": int(p.type), "userId": p.user_id,
                           "displayName": names[p.user_id]})
        for p in guests:
            name = guest_names.get(guest_actor_id(p.session_id), "") if p.session_id else ""
            result.append({"inCall": p.in_call, "lastPing": presence.effective(p.session_id, p.last_ping),
                           "sessionId": p.api_session_id if is_member else NO_SESSION,
                           "participantType": int(ParticipantType.GUEST), "userId": "", "displayName": name})
        return result
    return await ctx.db.run(unit)


async def add_participant(ctx: Ctx, actor: Actor, token: str, user_id: str | None) -> dict[str, Any] | None:
    """Adding a third user turns a one-to-one room into a group room (answered with {"type": 2})."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = access.moderated_room(conn, actor, token)
        if not user_id:
            raise BadParameter("newParticipant is required")
        if rooms_db.participant_of_user(conn, room.id, user_id):
            out.event(ParticipantsChanged(room.token, room.id))
            return room, None
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        data = None
        if room.type == RoomType.ONE_TO_ONE:
            rooms_db.set_room_type(conn, room.id, RoomType.GROUP)
            data = {"type": int(RoomType.GROUP)}
        rooms_db.insert_participant(conn, room.id, user_id, ParticipantType.USER)
        system.user_change(conn, out, room, author_of(actor, me), "user_added", user_id, ctx.now())
        out.event(ParticipantsChanged(room.token, room.id))
        if data is not None:
            out.event(RoomChanged(room.token, room.id))
        return room, data
    _, data = await ctx.db.run(unit, after_commit=out.hook())
    return data


async def remove_participant(ctx: Ctx, actor: Actor, token: str, user_id: str | None) -> None:
    """Any removal from a one-to-one room deletes it. Owners cannot be removed."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = access.moderated_room(conn, actor, token)
        if room.type == RoomType.ONE_TO_ONE:
            rooms_db.delete_room(conn, room.id)
            return room, True
        if not user_id:
            raise BadParameter("participant is required")
        target = rooms_db.participant_of_user(conn, room.id, user_id)
        if target is None:
            raise ParticipantNotFound(f"{user_id} is not a participant of this room")
        if target.type == ParticipantType.OWNER:
            raise Forbidden("owners cannot be removed")
        rooms_db.delete_participant(conn, target.id)
        author = author_of(actor, me)
        if target.user_id is not None and target.type != ParticipantType.USER_SELF_JOINED:
            system.user_change(conn, out, room, author, "user_removed", target.user_id, ctx.now())
        end_call_if_empty(conn, room.id, out, author, ctx.now())
        out.event(ParticipantsChanged(room.token, room.id))
        return room, False
    room, deleted = await ctx.db.run(unit, after_commit=out.hook())
    if deleted:
        ctx.hub.publish(RoomDeleted(room.token, room.id))


async def remove_self(ctx: Ctx, actor: Actor, token: str) -> None:
    """Leave for good. The room is deleted if it is one-to-one or the caller is its last invited
    member (type 1-3). Unlike Talk, a self-joined (type 5) user leaving never deletes the room:
    Talk counted only invited rows, so a link follower could delete the owner's public room."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = access.member_room(conn, actor, token)
        invited = sum(1 for p in rooms_db.participants(conn, room.id) if p.type.is_invited_user)
        last_invited = me.type.is_invited_user and invited == 1
        if room.type == RoomType.ONE_TO_ONE or last_invited:
            rooms_db.delete_room(conn, room.id)
            return room, True
        rooms_db.delete_participant(conn, me.id)
        author = author_of(actor, me)
        if me.type != ParticipantType.USER_SELF_JOINED:
            system.user_change(conn, out, room, author, "user_removed", me.user_id, ctx.now())  # type: ignore[arg-type]
        end_call_if_empty(conn, room.id, out, author, ctx.now())
        out.event(ParticipantsChanged(room.token, room.id))
        return room, False
    room, deleted = await ctx.db.run(unit, after_commit=out.hook())
    if deleted:
        ctx.hub.publish(RoomDeleted(room.token, room.id))


async def remove_guest(ctx: Ctx, actor: Actor, token: str, session_id: str | None) -> None:
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = access.moderated_room(conn, actor, token)
        if not session_id:
            raise BadParameter("participant (the guest's session id) is required")
        target = rooms_db.participant_by_session(conn, session_id)
        if target is None or target.room_id != room.id:
            raise ParticipantNotFound("no guest with that session in this room")
        if target.type != ParticipantType.GUEST:
            raise Forbidden("that session is not a guest")
        rooms_db.delete_participant(conn, target.id)
        end_call_if_empty(conn, room.id, out, author_of(actor, me), ctx.now())
        out.event(ParticipantsChanged(room.token, room.id))
        return room
    await ctx.db.run(unit, after_commit=out.hook())
    if session_id:
        ctx.hub.presence.forget(session_id)


async def set_moderator(ctx: Ctx, actor: Actor, token: str, user_id: str | None, promote: bool) -> None:
    """Promote type 3 → 2, or demote 2 → 3; anything else is 412. Demoting yourself is 403."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        if not promote:
            access.require_user(actor)
            room = access.visible_room(conn, actor, token)
            if access.own_participant(conn, actor, room) is None:
                from .errors import RoomNotFound
                raise RoomNotFound()
            if user_id == actor.user_id:
                raise Forbidden("you cannot demote yourself")
        room, me = access.moderated_room(conn, actor, token)
        if not user_id:
            raise BadParameter("participant is required")
        target = rooms_db.participant_of_user(conn, room.id, user_id)
        if target is None:
            raise ParticipantNotFound(f"{user_id} is not a participant of this room")
        wanted_from = ParticipantType.USER if promote else ParticipantType.MODERATOR
        if target.type != wanted_from:
            raise PreconditionFailed(
                f"{user_id} is not a {'plain invited user' if promote else 'moderator'} (type {int(target.type)})")
        rooms_db.set_participant_type(conn, target.id,
                                      ParticipantType.MODERATOR if promote else ParticipantType.USER)
        system.user_change(conn, out, room, author_of(actor, me),
                           "moderator_promoted" if promote else "moderator_demoted", user_id, ctx.now())
        out.event(ParticipantsChanged(room.token, room.id))
        return room
    await ctx.db.run(unit, after_commit=out.hook())
