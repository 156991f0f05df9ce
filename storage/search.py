"""Full-text search over chat messages: SQLite FTS5 (the `message_search` table and its triggers in
storage/migrations.py keep it in step with `messages` inside every writing transaction), or on
PostgreSQL a `message_search` table of tsvectors with a GIN index, kept by plpgsql triggers
(storage/pg_migrations.py step 6).

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


def ts_query(words: list[str]) -> str:
    """The words as a PostgreSQL tsquery: all of them, the last also as a prefix. Words are letters
    and digits only (server/domain/search.words_of), so none can carry tsquery syntax; the
    database folds case and accents as it did for the indexed text."""
    return " & ".join(f"'{w}'" for w in words) + ":*"


def _is_pg(conn) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


_PG_IN_ROOM = """SELECT s.id FROM message_search s JOIN messages m ON m.id = s.id
    WHERE s.doc @@ to_tsquery('simple', parley_fold(?)) AND m.room_id = ? AND m.verb = 'comment' AND s.id < ?
    ORDER BY s.id DESC LIMIT ?"""
_PG_IN_ROOMS_OF_USER = """SELECT s.id, r.token FROM message_search s
     JOIN messages m ON m.id = s.id
     JOIN participants p ON p.room_id = m.room_id AND p.user_id = ?
     JOIN rooms r ON r.id = m.room_id
    WHERE s.doc @@ to_tsquery('simple', parley_fold(?)) AND m.verb = 'comment' AND s.id < ?
    ORDER BY s.id DESC LIMIT ?"""


def in_room(conn: sqlite3.Connection, room_id: int, words: list[str], before_id: int | None,
            limit: int) -> list[int]:
    """Ids of the room's messages containing every word, newest first, below `before_id`."""
    if _is_pg(conn):
        rows = conn.execute(_PG_IN_ROOM, (ts_query(words), room_id,
                                          before_id if before_id is not None else 1 << 62, limit))
        return [r["id"] for r in rows]
    rows = conn.execute(
        """SELECT s.rowid AS id FROM message_search s JOIN messages m ON m.id = s.rowid
            WHERE message_search MATCH ? AND m.room_id = ? AND m.verb = 'comment' AND s.rowid < ?
            ORDER BY s.rowid DESC LIMIT ?""",
        (fts_query(words), room_id, before_id if before_id is not None else 1 << 62, limit))
    return [r["id"] for r in rows]


def in_rooms_of_user(conn: sqlite3.Connection, user_id: str, words: list[str], before_id: int | None,
                     limit: int) -> list[tuple[int, str]]:
    """(message id, room token) over every room the user is a participant of, newest first."""
    if _is_pg(conn):
        rows = conn.execute(_PG_IN_ROOMS_OF_USER, (user_id, ts_query(words),
                                                   before_id if before_id is not None else 1 << 62, limit))
        return [(r["id"], r["token"]) for r in rows]
    rows = conn.execute(
        """SELECT s.rowid AS id, r.token FROM message_search s
             JOIN messages m ON m.id = s.rowid
             JOIN participants p ON p.room_id = m.room_id AND p.user_id = ?
             JOIN rooms r ON r.id = m.room_id
            WHERE message_search MATCH ? AND m.verb = 'comment' AND s.rowid < ?
            ORDER BY s.rowid DESC LIMIT ?""",
        (user_id, fts_query(words), before_id if before_id is not None else 1 << 62, limit))
    return [(r["id"], r["token"]) for r in rows]


def index_matches(conn: sqlite3.Connection, words: list[str]) -> int:
    """How many index entries contain every word, whatever room or state their message is in
    (the index itself, not filtered through messages: for checking that it follows deletes)."""
    if _is_pg(conn):
        row = conn.execute("SELECT count(*) AS n FROM message_search WHERE doc @@ to_tsquery('simple', parley_fold(?))",
                           (ts_query(words),)).fetchone()
    else:
        row = conn.execute("SELECT count(*) AS n FROM message_search WHERE message_search MATCH ?",
                           (fts_query(words),)).fetchone()
    return int(row["n"])
