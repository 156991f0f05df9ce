"""Room actions (talk-api-v1.md §4.1-4.7): one async function per user action.

Each runs access → permission → validation → write in one unit of work, then publishes."""
from __future__ import annotations

import sqlite3
from typing import Any

from signaling.events import ParticipantsChanged, RoomChanged, RoomDeleted
from storage import accounts as accounts_db
from storage import rooms as rooms_db
from storage.records import ParticipantType, RoomType

from . import access, ids
from . import system_messages as system
from .chat_post import Author, Outbox, author_of
from .context import Actor, Ctx
from .errors import BadParameter, Forbidden, GroupNotFound, NotAllowedHere, UserNotFound
from .room_view import RoomFacts, gather, reduced_room_object, room_object

MAX_ROOM_NAME = 200


def valid_room_name(name: str | None) -> str:
    name = (name or "").strip()
    if len(name) > MAX_ROOM_NAME:
        raise BadParameter(f"roomName must be at most {MAX_ROOM_NAME} characters")
    return name


def _view(ctx: Ctx, room, me, actor: Actor, facts: RoomFacts) -> dict[str, Any]:
    return room_object(room, me, actor, ctx.hub.presence, ctx.now(), ctx.config.active_window,
                       ctx.config.session_timeout, facts)


async def create_room(ctx: Ctx, actor: Actor, room_type: int | None, invite: str, name: str | None
                      ) -> tuple[int, dict[str, Any]]:
    """Returns (status, data): 201 with token/name/displayName, or 200 {token} for an existing one-to-one."""
    me = access.require_user(actor)
    room_name = valid_room_name(name)
    out = Outbox(ctx.hub)
    creator = Author("users", me)

    def created(conn: sqlite3.Connection, token: str) -> None:
        """conversation_created in the same transaction as the room."""
        system.conversation_created(conn, out, rooms_db.room_by_token(conn, token), creator, ctx.now())

    def unit(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        if room_type == RoomType.ONE_TO_ONE:
            target = accounts_db.get_user(conn, invite) if invite else None
            if target is None:
                raise UserNotFound("the invited user does not exist")
            if target.id == me:
                raise Forbidden("you cannot start a one-to-one conversation with yourself")
            existing = rooms_db.one_to_one_between(conn, me, target.id)
            if existing is not None:
                return 200, {"token": existing.token}
            token = ids.new_room_token(conn)
            room_id = rooms_db.insert_room(conn, token, RoomType.ONE_TO_ONE, "")
            rooms_db.insert_participant(conn, room_id, me, ParticipantType.OWNER)
            rooms_db.insert_participant(conn, room_id, target.id, ParticipantType.OWNER)
            created(conn, token)
            return 201, {"token": token, "name": "", "displayName": target.display_name}
        if room_type == RoomType.GROUP:
            members: list[str] = []
            final_name = room_name
            if invite:
                if not accounts_db.group_exists(conn, invite):
                    raise GroupNotFound(f"group {invite} does not exist")
                final_name = invite
                members = [u for u in accounts_db.group_members(conn, invite) if u != me]
            token = ids.new_room_token(conn)
            room_id = rooms_db.insert_room(conn, token, RoomType.GROUP, final_name)
            rooms_db.insert_participant(conn, room_id, me, ParticipantType.OWNER)
            for user_id in members:
                rooms_db.insert_participant(conn, room_id, user_id, ParticipantType.USER)
            created(conn, token)
            return 201, {"token": token, "name": final_name, "displayName": final_name}
        if room_type == RoomType.PUBLIC:
            token = ids.new_room_token(conn)
            room_id = rooms_db.insert_room(conn, token, RoomType.PUBLIC, room_name)
            rooms_db.insert_participant(conn, room_id, me, ParticipantType.OWNER)
            created(conn, token)
            return 201, {"token": token, "name": room_name, "displayName": room_name}
        raise BadParameter("roomType must be 1 (one-to-one), 2 (group) or 3 (public)")
    return await ctx.db.run(unit, after_commit=out.hook())


async def list_rooms(ctx: Ctx, actor: Actor) -> list[dict[str, Any]]:
    me = access.require_user(actor)

    def unit(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rooms = rooms_db.rooms_of_user(conn, me)
        facts = gather(conn, rooms, me)
        return [_view(ctx, room, next(p for p in facts.participants[room.id] if p.user_id == me), actor, facts)
                for room in rooms]
    return await ctx.db.run(unit)


async def get_room(ctx: Ctx, actor: Actor, token: str) -> dict[str, Any]:
    def unit(conn: sqlite3.Connection) -> dict[str, Any]:
        room = access.visible_room(conn, actor, token)
        me = access.participant_or_view(conn, actor, room)
        if me is None:
            return reduced_room_object(room)
        return _view(ctx, room, me, actor, gather(conn, [room], actor.user_id))
    return await ctx.db.run(unit)


async def rename_room(ctx: Ctx, actor: Actor, token: str, name: str | None) -> None:
    """404 → 403 → 400 (missing or over-long name) → 405 (one-to-one), in Talk's order."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = access.moderated_room(conn, actor, token)
        if name is None:
            raise BadParameter("roomName is required")
        new_name = valid_room_name(name)
        if room.type == RoomType.ONE_TO_ONE:
            if new_name == room.name:
                return None
            raise NotAllowedHere("one-to-one conversations cannot be renamed")
        rooms_db.set_room_name(conn, room.id, new_name)
        system.conversation_renamed(conn, out, room, author_of(actor, me), room.name, new_name, ctx.now())
        out.event(RoomChanged(room.token, room.id))
        return room
    await ctx.db.run(unit, after_commit=out.hook())


async def delete_room(ctx: Ctx, actor: Actor, token: str) -> None:
    """Deletes the room with its participants and chat history."""
    def unit(conn: sqlite3.Connection):
        room, _ = access.moderated_room(conn, actor, token)
        rooms_db.delete_room(conn, room.id)
        return room
    room = await ctx.db.run(unit)
    ctx.hub.publish(RoomDeleted(room.token, room.id))


async def set_public(ctx: Ctx, actor: Actor, token: str, public: bool) -> None:
    """Making a room private removes its guests and self-joined users."""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        room, me = access.moderated_room(conn, actor, token)
        author = author_of(actor, me)
        if public and room.type != RoomType.PUBLIC:
            rooms_db.set_room_type(conn, room.id, RoomType.PUBLIC)
            system.post_system(conn, out, room, author, "guests_allowed", now=ctx.now())
            out.event(RoomChanged(room.token, room.id))
        elif not public and room.type == RoomType.PUBLIC:
            rooms_db.set_room_type(conn, room.id, RoomType.GROUP)
            rooms_db.delete_participants_of_types(
                conn, room.id, (ParticipantType.GUEST, ParticipantType.USER_SELF_JOINED))
            from .calls import end_call_if_empty
            system.post_system(conn, out, room, author, "guests_disallowed", now=ctx.now())
            end_call_if_empty(conn, room.id, out, author, ctx.now())
            out.event(RoomChanged(room.token, room.id))
            out.event(ParticipantsChanged(room.token, room.id))
    await ctx.db.run(unit, after_commit=out.hook())


async def set_password(ctx: Ctx, actor: Actor, token: str, password: str | None) -> None:
    password = password or ""
    if len(password) > 1024:
        raise BadParameter("password must be at most 1024 characters")

    def check(conn: sqlite3.Connection) -> None:
        room, _ = access.moderated_room(conn, actor, token)
        if room.type != RoomType.PUBLIC:
            raise Forbidden("only public rooms can have a password")
    await ctx.db.run(check)
    password_hash = await ctx.passwords.hash(password) if password else ""
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection):
        check(conn)   # again: the room may have changed while hashing
        room, me = access.moderated_room(conn, actor, token)
        rooms_db.set_room_password(conn, room.id, password_hash)
        if password_hash or room.has_password:
            system.post_system(conn, out, room, author_of(actor, me),
                               "password_set" if password_hash else "password_removed", now=ctx.now())
        out.event(RoomChanged(room.token, room.id))
    await ctx.db.run(unit, after_commit=out.hook())
