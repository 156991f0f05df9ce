"""Message search (issue 11 item 9): one room (`GET /chat/{token}/search`, for anyone who may read
it) or every room of a logged-in user (`GET /search`). Parley's own routes: Talk searches chat
through Nextcloud's unified search, which Parley does not have.
"""
from __future__ import annotations

import re
import unicodedata
import sqlite3
from itertools import groupby
from typing import Any

from storage import messages as messages_db
from storage import search as search_db

from . import access
from .chat import page_limit
from .chat_post import author_of
from .chat_render import USERS, Viewer, render_messages
from .context import Actor, Ctx
from .errors import BadParameter

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
MAX_TERM, MAX_WORDS = 200, 10
# Letters and digits, as FTS5's unicode61 tokenizer keeps them (it splits on `_` too), so each
# word is one index token.
_WORD = re.compile(r"[^\W_]+")


def words_of(term: str | None) -> list[str]:
    """The words of a search term as the index splits text (letters and digits; the rest
    separates words). BadParameter when there are none, or the term is too long."""
    if term is None or not term.strip():
        raise BadParameter("term is required")
    if len(term) > MAX_TERM:
        raise BadParameter(f"term must be at most {MAX_TERM} characters")
    words = _WORD.findall(unicodedata.normalize("NFC", term))
    if not words:
        raise BadParameter("term must contain at least one letter or digit")
    return words[:MAX_WORDS]


def _cursor(last_known: int | None) -> int | None:
    return last_known if last_known and last_known > 0 else None


def _render(conn: sqlite3.Connection, token: str, ids: list[int], viewer: Viewer) -> list[dict[str, Any]]:
    return render_messages(conn, token, [messages_db.by_id(conn, i) for i in ids], viewer)


async def search_room(ctx: Ctx, actor: Actor, token: str, term: str | None, limit: int | None,
                      last_known: int | None) -> list[dict[str, Any]]:
    """Messages of one room matching every word, newest first, older than `lastKnownMessageId`."""
    words = words_of(term)
    limit = page_limit(limit, DEFAULT_LIMIT, MAX_LIMIT)

    def unit(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        room, me = access.chat_room(conn, actor, token)
        return _render(conn, room.token, search_db.in_room(conn, room.id, words, _cursor(last_known), limit),
                       author_of(actor, me).viewer)
    return await ctx.db.run(unit)


async def search_all(ctx: Ctx, actor: Actor, term: str | None, limit: int | None,
                     last_known: int | None) -> list[dict[str, Any]]:
    """Messages of every room the user belongs to, newest first (each carries its `token`)."""
    user_id = access.require_user(actor)
    words = words_of(term)
    limit = page_limit(limit, DEFAULT_LIMIT, MAX_LIMIT)

    def unit(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        hits = search_db.in_rooms_of_user(conn, user_id, words, _cursor(last_known), limit)
        found: list[dict[str, Any]] = []
        # Consecutive hits of one room are rendered together (one names query per run).
        for token, run in groupby(hits, key=lambda hit: hit[1]):
            found.extend(_render(conn, token, [message_id for message_id, _ in run], (USERS, user_id)))
        return found
    return await ctx.db.run(unit)
