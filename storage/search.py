"""Full-text search over chat messages: SQLite FTS5 (the `message_search` table and its triggers in
storage/migrations.py keep it in step with `messages` inside every writing transaction).

The interface takes plain words, not FTS5 syntax, and returns message ids newest first, so a
PostgreSQL port can serve the same two functions from a `tsvector` column with a GIN index
(`to_tsvector('simple', message) @@ to_tsquery('simple', 'word1 & word2:*')`), ordered by id.
Every word must occur; the last one also matches as a prefix (search as you type).
"""
from __future__ import annotations

import sqlite3


def fts_query(words: list[str]) -> str:
    """Each word as an FTS5 string (so no word is read as an operator), the last as a prefix."""
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def in_room(conn: sqlite3.Connection, room_id: int, words: list[str], before_id: int | None,
            limit: int) -> list[int]:
    """Ids of the room's messages containing every word, newest first, below `before_id`."""
    rows = conn.execute(
        """SELECT s.rowid AS id FROM message_search s JOIN messages m ON m.id = s.rowid
            WHERE message_search MATCH ? AND m.room_id = ? AND m.verb = 'comment' AND s.rowid < ?
            ORDER BY s.rowid DESC LIMIT ?""",
        (fts_query(words), room_id, before_id if before_id is not None else 1 << 62, limit))
    return [r["id"] for r in rows]


def in_rooms_of_user(conn: sqlite3.Connection, user_id: str, words: list[str], before_id: int | None,
                     limit: int) -> list[tuple[int, str]]:
    """(message id, room token) over every room the user is a participant of, newest first."""
    rows = conn.execute(
        """SELECT s.rowid AS id, r.token FROM message_search s
             JOIN messages m ON m.id = s.rowid
             JOIN participants p ON p.room_id = m.room_id AND p.user_id = ?
             JOIN rooms r ON r.id = m.room_id
            WHERE message_search MATCH ? AND m.verb = 'comment' AND s.rowid < ?
            ORDER BY s.rowid DESC LIMIT ?""",
        (user_id, fts_query(words), before_id if before_id is not None else 1 << 62, limit))
    return [(r["id"], r["token"]) for r in rows]
