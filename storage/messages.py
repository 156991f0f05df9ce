"""SQL for chat messages, read markers and mention candidates. No rules: callers decide access.

Every read goes through the (room_id, id) index: a page of history or of new messages costs a range
scan of at most `limit` rows whatever the size of the room's history.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    actor_type: str         # "users" or "guests"
    actor_id: str           # user id, or sha1 of the guest's Talk session id
    actor_name: str         # the actor's current display name ('' if unknown or gone)
    message: str            # trimmed text with {mention-userN} placeholders
    parameters: str         # JSON: the rich-object parameters without display names, or "[]"
    created_at: int         # unix seconds


# The actor's display name is joined at read time: a guest rename or a deleted account shows on old
# messages too, as in Talk.
_SELECT = """
    SELECT m.id, m.actor_type, m.actor_id, m.message, m.parameters, m.created_at,
           COALESCE(u.display_name, g.display_name, '') AS actor_name
      FROM messages m
      LEFT JOIN users u ON m.actor_type = 'users' AND u.id = m.actor_id
      LEFT JOIN guest_names g ON m.actor_type = 'guests' AND g.session_hash = m.actor_id
"""


def _message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(row["id"], row["actor_type"], row["actor_id"], row["actor_name"], row["message"],
                         row["parameters"], row["created_at"])


def insert(conn: sqlite3.Connection, room_id: int, last_message_id: int, actor_type: str, actor_id: str,
           message: str, parameters: str, created_at: int) -> int:
    """Store a message and make it the room's newest. `last_message_id` is the room's newest id as
    read in the same transaction; the new message's per-room sequence number follows its own.

    The no-op UPDATE first takes the room row's write lock (PostgreSQL; SQLite's one writer holds
    it anyway) and re-reads the newest id under it: concurrent posts to one room then allocate
    their ids and commit one after the other, so ids rise in commit order and nobody can read
    message n+1 before n is committed (see ARCHITECTURE.md "PostgreSQL")."""
    locked = conn.execute("UPDATE rooms SET last_message_id = last_message_id WHERE id = ? RETURNING last_message_id",
                          (room_id,)).fetchone()
    if locked is not None:
        last_message_id = locked[0]
    cur = conn.execute(
        """INSERT INTO messages (room_id, actor_type, actor_id, message, parameters, created_at, seq)
           VALUES (?, ?, ?, ?, ?, ?, COALESCE((SELECT seq FROM messages WHERE id = ?), 0) + 1)""",
        (room_id, actor_type, actor_id, message, parameters, created_at, last_message_id),
    )
    message_id = int(cur.lastrowid)
    conn.execute("UPDATE rooms SET last_message_id = ? WHERE id = ?", (message_id, room_id))
    return message_id


def by_id(conn: sqlite3.Connection, message_id: int) -> StoredMessage:
    return _message(conn.execute(_SELECT + " WHERE m.id = ?", (message_id,)).fetchone())


def newest_before(conn: sqlite3.Connection, room_id: int, before_id: int | None, limit: int) -> list[StoredMessage]:
    """History: up to `limit` messages with id < before_id (all if None), newest first."""
    if before_id is None:
        rows = conn.execute(_SELECT + " WHERE m.room_id = ? ORDER BY m.id DESC LIMIT ?", (room_id, limit))
    else:
        rows = conn.execute(_SELECT + " WHERE m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?",
                            (room_id, before_id, limit))
    return [_message(r) for r in rows]


def oldest_after(conn: sqlite3.Connection, room_id: int, after_id: int, limit: int) -> list[StoredMessage]:
    """Future: up to `limit` messages with id > after_id, oldest first."""
    rows = conn.execute(_SELECT + " WHERE m.room_id = ? AND m.id > ? ORDER BY m.id LIMIT ?",
                        (room_id, after_id, limit))
    return [_message(r) for r in rows]


def mark_read(conn: sqlite3.Connection, user_id: str, room_id: int, message_id: int) -> None:
    """Move the user's read marker forward to `message_id` (never backwards)."""
    conn.execute(
        """INSERT INTO read_markers (user_id, room_id, last_read_id) VALUES (?, ?, ?)
           ON CONFLICT(user_id, room_id) DO UPDATE SET last_read_id = excluded.last_read_id
           WHERE excluded.last_read_id > read_markers.last_read_id""",
        (user_id, room_id, message_id),
    )


def read_marker(conn: sqlite3.Connection, user_id: str, room_id: int) -> int:
    row = conn.execute("SELECT last_read_id FROM read_markers WHERE user_id = ? AND room_id = ?",
                       (user_id, room_id)).fetchone()
    return row["last_read_id"] if row else 0


def _seq_at(conn: sqlite3.Connection, room_id: int, message_id: int) -> int:
    """The sequence number of the room's newest message with id <= message_id (0 if none)."""
    row = conn.execute("SELECT seq FROM messages WHERE room_id = ? AND id <= ? ORDER BY id DESC LIMIT 1",
                       (room_id, message_id)).fetchone()
    return row["seq"] if row else 0


def unread_count(conn: sqlite3.Connection, room_id: int, user_id: str, last_message_id: int) -> int:
    """Messages after the user's read marker (all of them without a marker, as in Talk).

    Three indexed lookups (the marker, and the sequence numbers at the marker and at the newest
    message), so the cost does not grow with the history or with the number of unread messages."""
    if last_message_id == 0:
        return 0
    marker = read_marker(conn, user_id, room_id)
    if marker >= last_message_id:
        return 0
    return _seq_at(conn, room_id, last_message_id) - _seq_at(conn, room_id, marker)


def mention_candidates(conn: sqlite3.Connection, room_id: int) -> list[tuple[str, str]]:
    """(user id, display name) of every user participant of the room whose account exists."""
    rows = conn.execute(
        """SELECT u.id, u.display_name FROM participants p JOIN users u ON u.id = p.user_id
            WHERE p.room_id = ? ORDER BY p.id""", (room_id,))
    return [(r["id"], r["display_name"]) for r in rows]
