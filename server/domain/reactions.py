"""Reactions (talk-chat-later.md §6): one emoji per actor and message, any number of emojis.

Each change reaches pollers as a new chat entry with the reacted message as its `parent`: adding
posts a `reaction` entry (text = the emoji); removing turns that entry into `reaction_deleted` and
posts a `reaction_revoked` system message. The hub's ringed copies of the message are patched.
"""
from __future__ import annotations

import re
import sqlite3
from typing import Any

from storage import chat_state
from storage import messages as messages_db
from storage.messages import StoredMessage
from storage.records import Room

from . import access
from .chat_post import Author, Outbox, author_of, post_message
from .chat_render import render_one
from .context import Actor, Ctx
from .errors import BadParameter, MessageNotFound
from .system_messages import post_system

MAX_ID = 2 ** 62

# One emoji, as one grapheme cluster: a flag (two regional indicators), a keycap, or a pictograph
# with optional variation selector, skin tone or tag sequence, joined by ZWJ to further ones.
# Built from the Unicode emoji ranges with the stdlib `re` (no grapheme library needed).
_PICTO = ("\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
          "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07"
          "\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001f1e5\U0001f201-\U0001f3fa"
          "\U0001f400-\U0001faff")
_ONE = f"[{_PICTO}][\ufe0e\ufe0f]?[\U0001f3fb-\U0001f3ff]?(?:[\U000e0020-\U000e007e]+\U000e007f)?"
EMOJI = re.compile(
    f"(?:[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3|{_ONE}(?:\u200d{_ONE})*)")


def valid_emoji(reaction: str | None) -> str:
    if not reaction or len(reaction) > 32 or EMOJI.fullmatch(reaction) is None:
        raise BadParameter("reaction must be exactly one emoji")
    return reaction


def _reactable(conn: sqlite3.Connection, room: Room, message_id: int) -> StoredMessage | None:
    message = messages_db.in_room(conn, room.id, message_id) if 0 < message_id < MAX_ID else None
    return message if message is not None and message.verb == "comment" else None


def _listing(conn: sqlite3.Connection, message_id: int, only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for r in chat_state.reactions_of(conn, message_id):
        if only is None or r.emoji == only:
            result.setdefault(r.emoji, []).append({"actorType": r.actor_type, "actorId": r.actor_id,
                                                   "actorDisplayName": r.actor_name, "timestamp": r.created_at})
    return result


async def add(ctx: Ctx, actor: Actor, token: str, message_id: int, reaction: str | None
              ) -> tuple[bool, dict[str, list[dict[str, Any]]]]:
    """POST /reaction/{token}/{messageId}: (created, the message's reactions). 404 (room or
    message) → 400 (not a normal message; not one emoji). An existing reaction: (False, list)."""
    out = Outbox(ctx.hub)
    now = ctx.now()

    def unit(conn: sqlite3.Connection):
        room, me = access.chat_room(conn, actor, token)
        exists = messages_db.in_room(conn, room.id, message_id) if 0 < message_id < MAX_ID else None
        if exists is None:
            raise MessageNotFound()
        message = _reactable(conn, room, message_id)
        if message is None:
            raise BadParameter("only normal messages can be reacted to")
        emoji = valid_emoji(reaction)
        author: Author = author_of(actor, me)
        if chat_state.find_reaction(conn, message.id, author.actor_type, author.actor_id, emoji) is not None:
            return False, _listing(conn, message.id)
        post_message(conn, out, room, author, emoji, now=now, message_type="reaction", parent_id=message.id,
                     on_insert=lambda entry: chat_state.add_reaction(
                         conn, message.id, author.actor_type, author.actor_id, emoji, now, entry))
        out.changed(room.token, render_one(conn, room.token, message.id))
        return True, _listing(conn, message.id)
    return await ctx.db.run(unit, after_commit=out.hook())


async def remove(ctx: Ctx, actor: Actor, token: str, message_id: int, reaction: str | None
                 ) -> dict[str, list[dict[str, Any]]]:
    """DELETE /reaction/{token}/{messageId}: 404 (room, message, or no such reaction of the
    caller) → 400 (not one emoji). Answers the remaining reactions."""
    out = Outbox(ctx.hub)
    now = ctx.now()

    def unit(conn: sqlite3.Connection):
        room, me = access.chat_room(conn, actor, token)
        message = _reactable(conn, room, message_id)
        if message is None:
            raise MessageNotFound()
        emoji = valid_emoji(reaction)
        author = author_of(actor, me)
        entry = chat_state.find_reaction(conn, message.id, author.actor_type, author.actor_id, emoji)
        if entry is None:
            raise MessageNotFound("you have not reacted with this emoji")
        chat_state.remove_reaction(conn, message.id, author.actor_type, author.actor_id, emoji)
        messages_db.set_verb(conn, entry, "reaction_deleted", "Reaction deleted by author")
        out.changed(room.token, render_one(conn, room.token, entry))
        out.changed(room.token, render_one(conn, room.token, message.id))
        post_system(conn, out, room, author, "reaction_revoked", now=now, parent_id=message.id)
        return _listing(conn, message.id)
    return await ctx.db.run(unit, after_commit=out.hook())


async def listing(ctx: Ctx, actor: Actor, token: str, message_id: int, reaction: str | None
                  ) -> dict[str, list[dict[str, Any]]]:
    """GET /reaction/{token}/{messageId}[?reaction=…]: 404 (room, or no normal message)."""
    def unit(conn: sqlite3.Connection):
        room, _ = access.chat_room(conn, actor, token)
        message = _reactable(conn, room, message_id)
        if message is None:
            raise MessageNotFound()
        return _listing(conn, message.id, valid_emoji(reaction) if reaction else None)
    return await ctx.db.run(unit)
