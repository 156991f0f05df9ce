"""Read markers set by clients (talk-chat-later.md §7.1, §7.2) and the unread fields of the room
object (§7.3). Counting never scans the history: unread messages are a difference of per-room
sequence numbers and the mention flags one index probe (storage/chat_state.py `read_states`,
gathered for a whole room list by room_view.py).
"""
from __future__ import annotations

import sqlite3

from storage import chat_state
from storage.records import Room

from . import access
from .context import Actor, Ctx
from .errors import BadParameter, RoomNotFound

BEFORE_FIRST = -2     # "everything unread" (Talk 21 stores 0 as -2)
NEVER_SET = -1


def _logged_in_member(conn: sqlite3.Connection, actor: Actor, token: str) -> tuple[Room, str]:
    """Participant (404), and logged in: guests get 404 here, as in Talk."""
    room, _ = access.chat_room(conn, actor, token)
    if actor.user_id is None:
        raise RoomNotFound("guests have no read marker")
    return room, actor.user_id


async def set_marker(ctx: Ctx, actor: Actor, token: str, last_read: int | None) -> int:
    """POST /chat/{token}/read: store `lastReadMessage` as given (0 → -2; absent → the room's
    newest entry). Values below -2 are 400. Returns the common read marker."""
    if last_read is not None and last_read < BEFORE_FIRST:
        raise BadParameter("lastReadMessage must be -2 or more")

    def unit(conn: sqlite3.Connection) -> int:
        room, user_id = _logged_in_member(conn, actor, token)
        value = room.last_message_id if last_read is None else (BEFORE_FIRST if last_read == 0 else last_read)
        chat_state.set_marker(conn, user_id, room.id, value)
        return chat_state.common_read(conn, room.id)
    return await ctx.db.run(unit)


async def mark_unread(ctx: Ctx, actor: Actor, token: str) -> int:
    """DELETE /chat/{token}/read: the newest normal message becomes unread (the marker goes to the
    entry before it, or -2)."""
    def unit(conn: sqlite3.Connection) -> int:
        room, user_id = _logged_in_member(conn, actor, token)
        last_comment, before = chat_state.last_comment_ids(conn, room.id)
        value = before if before is not None else BEFORE_FIRST
        chat_state.set_marker(conn, user_id, room.id, value)
        return chat_state.common_read(conn, room.id)
    return await ctx.db.run(unit)
