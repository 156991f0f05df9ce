"""Changing the chat after the fact (talk-chat-later.md §4, §5, §9.1) and reading around a message
(§9.2). Each change rewrites the stored row in place and posts a system message whose `parent` is
the changed message, in the same transaction: a parked long-poll learns of the change as a new
entry (§12), and the hub's ringed copies are patched so a woken poll never gets the old text.
"""
from __future__ import annotations

import sqlite3

from storage import chat_state
from storage import messages as messages_db
from storage.messages import StoredMessage
from storage.records import Participant, Room, RoomType

from . import access
from .chat import MAX_MESSAGE, ChatResult, page_limit
from .chat_post import Author, Outbox, author_of
from .chat_render import USERS, actor_reference, render_messages, render_one, stored_parameters
from .context import Actor, Ctx
from .errors import BadParameter, Forbidden, MessageNotFound, MessageTooLong, NotAllowedToChange, NotEditable, \
    TooOld
from .guests import TRIMMED
from .mentions import render_mentions
from .system_messages import post_system

EDIT_WINDOW = 24 * 3600            # §5: 24 h after the original timestamp
DEFAULT_CONTEXT, MAX_CONTEXT = 50, 100
MAX_ID = 2 ** 62                   # larger ids cannot exist; SQLite integers stop at 2**63


def _own_message(conn: sqlite3.Connection, actor: Actor, token: str, message_id: int
                 ) -> tuple[Room, Participant, StoredMessage, Author]:
    """Participant (404) → logged in (guests: 404, as Talk) → the message of this room (404) →
    the author, or a moderator outside one-to-one rooms (403)."""
    room, me = access.chat_room(conn, actor, token)
    if actor.user_id is None:
        raise MessageNotFound("guests cannot change messages")
    message = messages_db.in_room(conn, room.id, message_id) if 0 < message_id < MAX_ID else None
    if message is None:
        raise MessageNotFound()
    author = author_of(actor, me)
    own = (message.actor_type, message.actor_id) == (author.actor_type, author.actor_id)
    if not own and (not me.type.is_moderator or room.type == RoomType.ONE_TO_ONE):
        raise NotAllowedToChange()
    return room, me, message, author


def _is_share(message: StoredMessage) -> bool:
    """File and object shares ({file}, {object}): their text is a placeholder, not editable here."""
    return message.message in ("{file}", "{object}") and message.parameters != "[]"


async def delete_message(ctx: Ctx, actor: Actor, token: str, message_id: int) -> ChatResult:
    """DELETE /chat/{token}/{messageId}. 404 → 403 → 405 (not a normal message). No age limit
    (Talk 19, `delete-messages-unlimited`). Answers the `message_deleted` system message."""
    out = Outbox(ctx.hub)
    now = ctx.now()

    def unit(conn: sqlite3.Connection) -> ChatResult:
        room, _, message, author = _own_message(conn, actor, token, message_id)
        if message.verb != "comment":
            raise NotEditable("only normal messages can be deleted")
        own = (message.actor_type, message.actor_id) == (author.actor_type, author.actor_id)
        text = "Message deleted by author" if own else "Message deleted by {actor}"
        messages_db.set_deleted(conn, message.id, text,
                                stored_parameters({"actor": actor_reference(author.actor_type, author.actor_id)}))
        chat_state.drop_reactions(conn, message.id)
        out.changed(room.token, render_one(conn, room.token, message.id))
        rendered = post_system(conn, out, room, author, "message_deleted", now=now,
                               parent_id=message.id)
        return ChatResult([rendered], chat_state.common_read(conn, room.id))
    return await ctx.db.run(unit, after_commit=out.hook())


async def edit_message(ctx: Ctx, actor: Actor, token: str, message_id: int, new_text: str | None) -> ChatResult:
    """PUT /chat/{token}/{messageId}. 400 (no text) → 404 → 403 → 405 (not a comment) → 400
    (older than 24 h) → 400 (empty) → 413. Answers the `message_edited` system message."""
    if new_text is None:
        raise BadParameter("message is required")
    text = new_text.strip(TRIMMED)
    out = Outbox(ctx.hub)
    now = ctx.now()

    def unit(conn: sqlite3.Connection) -> ChatResult:
        room, _, message, author = _own_message(conn, actor, token, message_id)
        if message.verb != "comment" or _is_share(message):
            raise NotEditable("only normal messages can be edited")
        if now - message.created_at > EDIT_WINDOW:
            raise TooOld()
        if not text:
            raise BadParameter("message must not be empty")
        if len(text) > MAX_MESSAGE:
            raise MessageTooLong()
        body, parameters = render_mentions(text)
        messages_db.set_edited(conn, message.id, body, stored_parameters(parameters), author.actor_type,
                               author.actor_id, now)
        mentioned = [p["id"] for p in parameters.values()]
        if message.parent_id is not None:
            parent = messages_db.by_ids(conn, [message.parent_id]).get(message.parent_id)
            if parent is not None and parent.actor_type == USERS:
                mentioned.append(parent.actor_id)
        if not message.silent:
            chat_state.replace_mentions(conn, room.id, message.id,
                                        sorted({u for u in mentioned if u != message.actor_id}))
        out.changed(room.token, render_one(conn, room.token, message.id))
        rendered = post_system(conn, out, room, author, "message_edited", now=now,
                               parent_id=message.id)
        return ChatResult([rendered], chat_state.common_read(conn, room.id))
    return await ctx.db.run(unit, after_commit=out.hook())


async def clear_history(ctx: Ctx, actor: Actor, token: str) -> ChatResult:
    """DELETE /chat/{token}: a logged-in moderator of a group or public room deletes every entry
    (and the read markers); `history_cleared` becomes the only one. 404 → 403."""
    out = Outbox(ctx.hub)
    now = ctx.now()

    def unit(conn: sqlite3.Connection) -> ChatResult:
        room, me = access.chat_room(conn, actor, token)
        if actor.user_id is None or not me.type.is_moderator:
            raise Forbidden("only logged-in owners and moderators may clear the history")
        if room.type == RoomType.ONE_TO_ONE:
            raise Forbidden("the history of one-to-one conversations cannot be cleared")
        messages_db.clear_room(conn, room.id)
        out.cleared(room.token)
        rendered = post_system(conn, out, room, author_of(actor, me), "history_cleared", now=now)
        return ChatResult([rendered], chat_state.common_read(conn, room.id))
    return await ctx.db.run(unit, after_commit=out.hook())


async def context(ctx: Ctx, actor: Actor, token: str, message_id: int, limit: int | None) -> ChatResult:
    """GET /chat/{token}/{messageId}/context: up to `limit` (default 50, at most 100) older
    entries, the message, up to `limit` newer ones, oldest first. Empty (304) for id 0."""
    limit = page_limit(limit, DEFAULT_CONTEXT, MAX_CONTEXT)

    def unit(conn: sqlite3.Connection) -> ChatResult:
        room, me = access.chat_room(conn, actor, token)
        if not 0 < message_id < MAX_ID:
            return ChatResult([], 0)
        rows = messages_db.around(conn, room.id, message_id, limit)
        return ChatResult(render_messages(conn, room.token, rows, author_of(actor, me).viewer),
                          chat_state.common_read(conn, room.id))
    return await ctx.db.run(unit)
