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

import sqlite3
from dataclasses import dataclass
from typing import Any

import trio

from storage import chat_state
from storage import messages as messages_db
from storage.messages import StoredMessage
from storage.records import Room

from . import access
from .chat_post import Outbox, author_of
from .chat_post import post_message as post_message_in
from .chat_render import REPLYABLE_ACTORS, SYSTEM_ACTOR, USERS, render_messages
from .context import Actor, Ctx
from .errors import BadParameter, BadReplyTo, MessageTooLong
from .guests import TRIMMED, Renamed, publish_rename, store_guest_name, valid_guest_name
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


MAX_REFERENCE_ID = 64


def reply_target(conn: sqlite3.Connection, room: Room, reply_to: int | None) -> StoredMessage | None:
    """§2.1: the replied-to message must be a replyable message of the same room (400 otherwise)."""
    if not reply_to:
        return None
    parent = messages_db.in_room(conn, room.id, reply_to) if reply_to > 0 else None
    if parent is None or parent.verb != "comment" or parent.actor_type not in REPLYABLE_ACTORS \
            or (parent.actor_type, parent.actor_id) == SYSTEM_ACTOR:
        raise BadReplyTo()
    return parent


async def post_message(ctx: Ctx, actor: Actor, token: str, message: str | None,
                       actor_display_name: str | None = None, *, reply_to: int | None = None,
                       reference_id: str | None = None, silent: bool = False) -> ChatResult:
    """POST /chat/{token}. Users post as ('users', user id), guests as ('guests', sha1(session)).

    Raises BadParameter (no `message`, guest name over 64 characters), MessageTooLong (413),
    BadReplyTo (400), RoomNotFound (L4 fails). A guest's non-empty `actorDisplayName` becomes its
    name first. Returns the stored message (with `parent` for a reply) once it is committed; by
    then every parked waiter of the room has been woken (from the after-commit hook, in commit order).
    """
    if message is None:
        raise BadParameter("message is required")
    text = message.strip(TRIMMED)
    if len(text) > MAX_MESSAGE:
        raise MessageTooLong()
    guest_name = None
    if actor.user_id is None and actor_display_name:
        guest_name = valid_guest_name(actor_display_name, "actorDisplayName") or None
    reference = (reference_id or "").strip(TRIMMED)[:MAX_REFERENCE_ID].strip(TRIMMED)
    body, parameters = render_mentions(text)
    now = ctx.now()
    out = Outbox(ctx.hub)

    def unit(conn: sqlite3.Connection) -> tuple[ChatResult, Renamed | None]:
        room, me = access.chat_room(conn, actor, token)
        renamed = None
        if actor.user_id is None and guest_name is not None:
            renamed = store_guest_name(conn, room, me.session_id, guest_name)   # type: ignore[arg-type]
        author = author_of(actor, me)
        parent = reply_target(conn, room, reply_to)
        mentioned = [p["id"] for p in parameters.values()]
        if parent is not None and parent.actor_type == USERS:
            mentioned.append(parent.actor_id)   # a reply is a direct mention of the parent's author
        rendered = post_message_in(conn, out, room, author, body, now=now, parameters=parameters,
                                   parent_id=parent.id if parent else None, reference_id=reference,
                                   silent=silent, mentioned=mentioned)
        return ChatResult([rendered], _common_read(conn, room)), renamed

    def published(result: tuple[ChatResult, Renamed | None]) -> None:
        # The message first: it already carries the new name, and nothing else may delay it.
        out.publish()
        publish_rename(ctx.hub, result[1])
    published.discard = out.discard  # type: ignore[attr-defined]   # see Outbox.hook
    result, _ = await ctx.db.run(unit, after_commit=published)
    return result


def _common_read(conn: sqlite3.Connection, room: Room) -> int:
    return chat_state.common_read(conn, room.id)


@dataclass(slots=True)
class ChatResult:
    """A page of messages (a hub `Batch` for woken polls) and the room's common read marker
    (§3.2, sent as X-Chat-Last-Common-Read). `changed`: the page is empty but the common-read
    value moved since the client's `lastCommonReadId`, so the answer is 200 `[]`, not 304."""
    messages: Page
    common_read: int
    changed: bool = False


async def receive_messages(ctx: Ctx, actor: Actor, token: str, *, look_into_future: bool, limit: int | None,
                           last_known: int | None, timeout: int | None, last_common_read: int | None = None,
                           set_read_marker: bool = True, include_last_known: bool = False) -> ChatResult:
    """GET /chat/{token}. History (newest first, ids < lastKnownMessageId, or the newest when 0) or
    future (oldest first, ids > lastKnownMessageId, parking up to `timeout` s when there are none).
    An empty page means 304. Raises RoomNotFound (L4), also for a waiter whose access ended.

    Read marker: a logged-in user's future read (with setReadMarker, the default) moves it, before
    any wait, to the newest message this request returns at once, or else to the cursor (the
    client says it has seen that far). Messages handed out after a wake-up are marked by the
    client's next poll, which carries their id as its cursor; this keeps wake-ups free of writes.
    The common-read value of a woken poll is the one read before it parked (no query on wake-up).
    """
    limit = page_limit(limit)
    timeout = wait_timeout(timeout)
    cursor = max(last_known or 0, 0)
    mark = ctx.hub.chat.access_mark()   # before the access check: see signaling/chat_feed.py

    def unit(conn: sqlite3.Connection) -> tuple[Room, Page, int]:
        room, me = access.chat_room(conn, actor, token)
        rows: list[StoredMessage]
        if not look_into_future:
            before = cursor + 1 if include_last_known and cursor else cursor
            rows = messages_db.newest_before(conn, room.id, before or None, limit)
        else:
            after = cursor - 1 if include_last_known and cursor else cursor
            rows = messages_db.oldest_after(conn, room.id, after, limit) if after < room.last_message_id else []
            if actor.user_id is not None and set_read_marker:
                given = rows[-1].id if rows else min(cursor, room.last_message_id)
                if given > 0:
                    messages_db.mark_read(conn, actor.user_id, room.id, given)
        viewer = author_of(actor, me).viewer
        return room, render_messages(conn, room.token, rows, viewer), _common_read(conn, room)

    room, page, common = await ctx.db.run(unit)
    if page or not look_into_future or timeout == 0:
        return ChatResult(page, common)
    if last_common_read is not None and last_common_read != common:
        return ChatResult([], common, changed=True)
    if not await ctx.hub.wait_for_chat(room.token, cursor, room.last_message_id, timeout):
        return ChatResult([], common)
    # Let the tasks resumed together with us run first. An action that committed before the
    # message that woke us (say, removing this guest) publishes its event as soon as its task
    # resumes; after this checkpoint that has happened, and the access mark below sees it.
    await trio.lowlevel.checkpoint()
    # In a cluster that action may have committed on another node, its event still on its way
    # over Redis (each node's answers wait for their events to reach Redis, so it is there by
    # now): the barrier waits until this node has applied it. If it cannot tell, re-read.
    settled = ctx.hub.barrier is None or await ctx.hub.barrier()
    if settled and not ctx.hub.chat.access_changed_since(room.token, mark):
        recent = ctx.hub.chat.recent_after(room.token, cursor, limit)
        if recent is not None:
            return ChatResult(recent, common)

    def again(conn: sqlite3.Connection) -> ChatResult:
        room, me = access.chat_room(conn, actor, token)
        rows = messages_db.oldest_after(conn, room.id, cursor, limit)
        return ChatResult(render_messages(conn, room.token, rows, author_of(actor, me).viewer),
                          _common_read(conn, room))
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
