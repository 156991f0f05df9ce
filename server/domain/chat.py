"""Chat actions (talk-api-v1.md §6): send, receive (history and long-poll), mention autocomplete.

Ordering: message ids are SQLite row ids, so a room's messages are totally ordered by id, and the
cursor `lastKnownMessageId` means "strictly older" (history) or "strictly newer" (future) than
that id, whether or not it names a message of this room.

Long-poll: a future read that finds nothing parks on the hub (no query while parked). A post
publishes the rendered message from the after-commit hook of its transaction (in commit order), and
woken waiters take it from the hub's ring: no query unless the ring does not reach back to their
cursor or the room's participants changed since they checked access (then one query, which also
re-checks access: a removed guest gets 404, not the message).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

import trio

from storage import messages as messages_db
from storage.messages import StoredMessage
from storage.records import Room

from . import access
from .chat_render import GUESTS, USERS, render_messages
from .context import Actor, Ctx
from .errors import BadParameter, MessageTooLong
from .guests import TRIMMED, Renamed, publish_rename, store_guest_name, valid_guest_name
from .ids import guest_actor_id
from .mentions import rank_candidates, render_mentions

MAX_MESSAGE = 1000          # code points, after trimming
DEFAULT_LIMIT, MAX_LIMIT = 100, 200
DEFAULT_TIMEOUT, MAX_TIMEOUT = 30, 60
DEFAULT_MENTIONS_LIMIT, MAX_MENTIONS_LIMIT = 20, 200

Page = list[dict[str, Any]]


def page_limit(limit: int | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """Clamped to 1..maximum. The reference read `limit <= 0` as "no limit"; Parley gives the
    largest page it serves instead, the closest a bounded server can come."""
    if limit is None:
        return default
    return maximum if limit <= 0 else min(limit, maximum)


def wait_timeout(timeout: int | None) -> int:
    """Seconds to park: default 30, at most 60; zero or less means answer at once."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    return max(0, min(timeout, MAX_TIMEOUT))


async def post_message(ctx: Ctx, actor: Actor, token: str, message: str | None,
                       actor_display_name: str | None = None) -> None:
    """POST /chat/{token}. Users post as ('users', user id), guests as ('guests', sha1(session)).

    Raises BadParameter (no `message`, guest name over 64 characters), MessageTooLong (413),
    RoomNotFound (L4 fails). A guest's non-empty `actorDisplayName` becomes its name first.
    Returns once the message is committed; by then every parked waiter of the room has been woken
    (from the after-commit hook, in commit order).
    """
    if message is None:
        raise BadParameter("message is required")
    text = message.strip(TRIMMED)
    if len(text) > MAX_MESSAGE:
        raise MessageTooLong()
    guest_name = None
    if actor.user_id is None and actor_display_name:
        guest_name = valid_guest_name(actor_display_name, "actorDisplayName") or None
    body, parameters = render_mentions(text)
    stored_parameters = json.dumps(parameters, separators=(",", ":")) if parameters else "[]"
    now = ctx.now()

    def unit(conn: sqlite3.Connection) -> tuple[Room, dict[str, Any], Renamed | None]:
        room, me = access.chat_room(conn, actor, token)
        renamed = None
        if actor.user_id is None:
            actor_type, actor_id = GUESTS, guest_actor_id(me.session_id)   # type: ignore[arg-type]
            if guest_name is not None:
                renamed = store_guest_name(conn, room, me.session_id, guest_name)   # type: ignore[arg-type]
        else:
            actor_type, actor_id = USERS, actor.user_id
        message_id = messages_db.insert(conn, room.id, room.last_message_id, actor_type, actor_id, body,
                                        stored_parameters, now)
        stored = messages_db.by_id(conn, message_id)
        return room, render_messages(conn, room.token, [stored])[0], renamed

    def published(result: tuple[Room, dict[str, Any], Renamed | None]) -> None:
        room, rendered, renamed = result
        # The message first: it already carries the new name, and nothing else may delay it.
        ctx.hub.chat_posted(room.token, rendered["id"], rendered, room.last_message_id)
        publish_rename(ctx.hub, renamed)
    await ctx.db.run(unit, after_commit=published)


async def receive_messages(ctx: Ctx, actor: Actor, token: str, *, look_into_future: bool, limit: int | None,
                           last_known: int | None, timeout: int | None) -> Page:
    """GET /chat/{token}. History (newest first, ids < lastKnownMessageId, or the newest when 0) or
    future (oldest first, ids > lastKnownMessageId, parking up to `timeout` s when there are none).
    An empty page means 304. Raises RoomNotFound (L4), also for a waiter whose access ended.

    Read marker: a logged-in user's future read moves it, before any wait, to the newest message
    this request returns at once, or else to the cursor (the client says it has seen that far).
    Messages handed out after a wake-up are marked by the client's next poll, which carries their
    id as its cursor; this keeps wake-ups free of writes.
    """
    limit = page_limit(limit)
    timeout = wait_timeout(timeout)
    cursor = max(last_known or 0, 0)
    mark = ctx.hub.chat.access_mark()   # before the access check: see signaling/chat_feed.py

    def unit(conn: sqlite3.Connection) -> tuple[Room, Page]:
        room, _ = access.chat_room(conn, actor, token)
        rows: list[StoredMessage]
        if not look_into_future:
            rows = messages_db.newest_before(conn, room.id, cursor or None, limit)
        else:
            rows = messages_db.oldest_after(conn, room.id, cursor, limit) if cursor < room.last_message_id else []
            if actor.user_id is not None:
                given = rows[-1].id if rows else min(cursor, room.last_message_id)
                if given > 0:
                    messages_db.mark_read(conn, actor.user_id, room.id, given)
        return room, render_messages(conn, room.token, rows)

    room, page = await ctx.db.run(unit)
    if page or not look_into_future or timeout == 0:
        return page
    if not await ctx.hub.wait_for_chat(room.token, cursor, room.last_message_id, timeout):
        return []
    # Let the tasks resumed together with us run first. An action that committed before the
    # message that woke us (say, removing this guest) publishes its event as soon as its task
    # resumes; after this checkpoint that has happened, and the access mark below sees it.
    await trio.lowlevel.checkpoint()
    if not ctx.hub.chat.access_changed_since(room.token, mark):
        recent = ctx.hub.chat.recent_after(room.token, cursor, limit)
        if recent is not None:
            return recent

    def again(conn: sqlite3.Connection) -> Page:
        room, _ = access.chat_room(conn, actor, token)
        return render_messages(conn, room.token, messages_db.oldest_after(conn, room.id, cursor, limit))
    return await ctx.db.run(again)


async def mention_suggestions(ctx: Ctx, actor: Actor, token: str, search: str, limit: int | None
                              ) -> list[dict[str, Any]]:
    """GET /chat/{token}/mentions: the room's users except the caller (guests are never
    candidates), exact matches first. Raises RoomNotFound (L4)."""
    limit = page_limit(limit, DEFAULT_MENTIONS_LIMIT, MAX_MENTIONS_LIMIT)

    def unit(conn: sqlite3.Connection) -> list[tuple[str, str]]:
        room, _ = access.chat_room(conn, actor, token)
        return [c for c in messages_db.mention_candidates(conn, room.id) if c[0] != actor.user_id]
    return rank_candidates(await ctx.db.run(unit), search, limit)
