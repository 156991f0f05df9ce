"""Accounts and groups: one function per user action (CLI and provisioning API share them)."""
from __future__ import annotations

import re
import sqlite3

from signaling.events import ParticipantsChanged, RoomChanged, RoomDeleted
from storage import accounts as accounts_db
from storage import app_passwords as app_passwords_db
from storage import rooms as rooms_db
from storage import web_logins as web_logins_db
from storage.records import RoomType, User

from .calls import end_call_if_empty
from .chat_post import SYSTEM, Outbox
from .context import Actor, Ctx
from .errors import BadParameter, AlreadyExists, Forbidden, GroupNotFound, NotLoggedIn, UserNotFound
from .chat_render import USERS, actor_renamed   # renames must reach chat messages kept in the hub

ID_PATTERN = re.compile(r"[A-Za-z0-9_.@\-]{1,64}")
MAX_DISPLAY_NAME = 64
MAX_PASSWORD = 1024


def valid_id(value: str | None, what: str) -> str:
    if not value or not ID_PATTERN.fullmatch(value):
        raise BadParameter(f"{what} must be 1-64 characters from A-Z a-z 0-9 _ . @ -")
    return value


def valid_password(password: str | None) -> str:
    if not password:
        raise BadParameter("password must not be empty")
    if len(password) > MAX_PASSWORD:
        raise BadParameter(f"password must be at most {MAX_PASSWORD} characters")
    return password


def valid_display_name(name: str | None, default: str) -> str:
    name = (name or "").strip() or default
    if len(name) > MAX_DISPLAY_NAME:
        raise BadParameter(f"display name must be at most {MAX_DISPLAY_NAME} characters")
    return name


async def add_user(ctx: Ctx, user_id: str | None, password: str | None, display_name: str | None = None,
                   admin: bool = False) -> User:
    user_id = valid_id(user_id, "user id")
    password_hash = await ctx.passwords.hash(valid_password(password))
    name = valid_display_name(display_name, user_id)

    def unit(conn: sqlite3.Connection) -> User:
        if accounts_db.get_user(conn, user_id):
            raise AlreadyExists(f"user {user_id} already exists")
        accounts_db.insert_user(conn, user_id, name, password_hash, admin, ctx.now())
        return User(user_id, name, password_hash, admin)  # type: ignore[arg-type]
    user = await ctx.db.run(unit)
    actor_renamed(ctx.hub, USERS, user_id, name)   # recent mentions of this id stop being "Unknown user"
    return user


async def get_user(ctx: Ctx, user_id: str) -> tuple[User, list[str]]:
    def unit(conn: sqlite3.Connection) -> tuple[User, list[str]]:
        user = accounts_db.get_user(conn, user_id)
        if user is None:
            raise UserNotFound(f"user {user_id} does not exist")
        return user, accounts_db.user_groups(conn, user_id)
    return await ctx.db.run(unit)


async def list_users(ctx: Ctx, search: str = "") -> list[User]:
    return await ctx.db.run(lambda conn: accounts_db.list_users(conn, search))


async def set_password(ctx: Ctx, user_id: str, password: str | None, *, revoke_app_passwords: bool = False) -> None:
    """App passwords survive a password change (as in Nextcloud: clients keep working) unless
    `revoke_app_passwords`; browser logins always end."""
    password_hash = await ctx.passwords.hash(valid_password(password))

    def unit(conn: sqlite3.Connection) -> None:
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        accounts_db.set_password_hash(conn, user_id, password_hash)
        web_logins_db.delete_of_user(conn, user_id)   # a new password ends every browser login
        if revoke_app_passwords:
            app_passwords_db.delete_of_user(conn, user_id)
    await ctx.db.run(unit)
    ctx.passwords.forget_user(user_id)


async def set_display_name(ctx: Ctx, user_id: str, display_name: str | None) -> None:
    if display_name is None or not display_name.strip():
        raise BadParameter("display name must not be empty")
    name = valid_display_name(display_name, user_id)

    def unit(conn: sqlite3.Connection) -> None:
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        accounts_db.set_display_name(conn, user_id, name)
    await ctx.db.run(unit)
    actor_renamed(ctx.hub, USERS, user_id, name)   # chat messages already rendered in the hub


async def delete_user(ctx: Ctx, user_id: str) -> None:
    """Talk §8: a one-to-one room, or a room where the user is the only invited (1-3) row or the
    only user row, is deleted; elsewhere only the user's row goes, and a call they were the last
    one in ends."""
    def unit(conn: sqlite3.Connection):
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        deleted, changed, sessions = [], [], []
        for room in rooms_db.rooms_of_user(conn, user_id):
            mine = rooms_db.participant_of_user(conn, room.id, user_id)
            if mine is not None and mine.session_id:
                sessions.append(mine.session_id)
            rows = rooms_db.participants(conn, room.id)
            users = [p for p in rows if not p.is_guest]
            invited = [p for p in users if p.type.is_invited_user]
            if room.type == RoomType.ONE_TO_ONE or len(users) == 1 or (
                    len(invited) == 1 and invited[0].user_id == user_id):
                rooms_db.delete_room(conn, room.id)
                deleted.append((room.token, room.id))
            else:
                changed.append((room.token, room.id))
        accounts_db.delete_user(conn, user_id)   # cascades to the remaining participant rows
        # They may have been the last one in a call.
        ended = {room_id for _, room_id in changed if end_call_if_empty(conn, room_id, out, SYSTEM, ctx.now())}
        rooms_db.drop_dead_cookie_sessions(conn)
        return deleted, changed, sessions, ended
    out = Outbox(ctx.hub)   # call summaries of calls the user was the last one in
    deleted, changed, sessions, ended = await ctx.db.run(unit, after_commit=out.hook())
    ctx.passwords.forget_user(user_id)
    for session in sessions:
        ctx.hub.presence.forget(session)
    for token, room_id in deleted:
        ctx.hub.publish(RoomDeleted(token, room_id))
    actor_renamed(ctx.hub, USERS, user_id, None)   # their messages elsewhere now show no name
    for token, room_id in changed:
        ctx.hub.publish(ParticipantsChanged(token, room_id))
        if room_id in ended:
            ctx.hub.publish(RoomChanged(token, room_id))


async def add_group(ctx: Ctx, group_id: str | None) -> None:
    group_id = valid_id(group_id, "group id")

    def unit(conn: sqlite3.Connection) -> None:
        if accounts_db.group_exists(conn, group_id):
            raise AlreadyExists(f"group {group_id} already exists")
        accounts_db.insert_group(conn, group_id)
    await ctx.db.run(unit)


async def list_groups(ctx: Ctx, search: str = "") -> list[str]:
    return await ctx.db.run(lambda conn: accounts_db.list_groups(conn, search))


async def group_members(ctx: Ctx, group_id: str) -> list[str]:
    def unit(conn: sqlite3.Connection) -> list[str]:
        if not accounts_db.group_exists(conn, group_id):
            raise GroupNotFound(f"group {group_id} does not exist")
        return accounts_db.group_members(conn, group_id)
    return await ctx.db.run(unit)


async def set_membership(ctx: Ctx, group_id: str | None, user_id: str, member: bool) -> None:
    if not group_id:
        raise BadParameter("groupid is required")

    def unit(conn: sqlite3.Connection) -> None:
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        if not accounts_db.group_exists(conn, group_id):
            raise GroupNotFound(f"group {group_id} does not exist")
        if member:
            accounts_db.add_member(conn, group_id, user_id)
        else:
            accounts_db.remove_member(conn, group_id, user_id)
    await ctx.db.run(unit)


async def require_admin(ctx: Ctx, actor: Actor) -> User:
    if actor.user_id is None:
        raise NotLoggedIn()
    user = await ctx.db.run(lambda conn: accounts_db.get_user(conn, actor.user_id))
    if user is None:
        raise NotLoggedIn()
    if not user.is_admin:
        raise Forbidden("only administrators may do this")
    return user
