"""SQL for the people search (core/autocomplete): users and groups matching a search, best first.

No rules here: the domain decides who may search and how results are shaped."""
from __future__ import annotations

import sqlite3

from storage.records import User, UserId


def _like(search: str, prefix_only: bool) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix_only else f"%{escaped}%"


def search_users(conn: sqlite3.Connection, search: str, limit: int, exclude: str | None) -> list[User]:
    """Users whose id or display name contains `search` (ASCII case-insensitive, SQLite's LIKE):
    exact matches first, then prefix matches, then the rest, each by display name."""
    anywhere, prefix = _like(search, False), _like(search, True)
    rows = conn.execute(
        "SELECT * FROM users WHERE (id LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\') AND id IS NOT ?"
        " ORDER BY (lower(id) = lower(?) OR lower(display_name) = lower(?)) DESC,"
        " (id LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\') DESC, lower(display_name), id LIMIT ?",
        (anywhere, anywhere, exclude, search, search, prefix, prefix, limit))
    return [User(UserId(r["id"]), r["display_name"], r["password_hash"], bool(r["is_admin"])) for r in rows]


def search_groups(conn: sqlite3.Connection, search: str, limit: int) -> list[str]:
    """Group ids containing `search`, exact match first, then prefix matches, then the rest."""
    rows = conn.execute(
        "SELECT id FROM groups WHERE id LIKE ? ESCAPE '\\'"
        " ORDER BY lower(id) = lower(?) DESC, id LIKE ? ESCAPE '\\' DESC, lower(id), id LIMIT ?",
        (_like(search, False), search, _like(search, True), limit))
    return [r["id"] for r in rows]
