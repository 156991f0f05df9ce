"""SQL for chat messages, read markers and mention candidates. No rules: callers decide access.

Every read goes through the (room_id, id) index: a page of history or of new messages costs a range
scan of at most `limit` rows whatever the size of the room's history.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any



@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    actor_type: str         # "users" or "guests"
    actor_id: str           # user id, or sha1 of the guest's Talk session id ("system" for the server)
    actor_name: str         # the actor's current display name ('' if unknown or gone)
    message: str            # trimmed text with {placeholders}
    parameters: str         # JSON: the rich-object parameters without display names, or "[]"
    created_at: int         # unix seconds
    verb: str = "comment"   # comment, system, comment_deleted, reaction, reaction_deleted
    system_message: str = ""
    parent_id: int | None = None
    reference_id: str = ""
    silent: bool = False
    edit_actor_type: str | None = None
    edit_actor_id: str | None = None
    edit_actor_name: str = ""
    edited_at: int | None = None


# The actor's display name is joined at read time: a guest rename or a deleted account shows on old
# messages too, as in Talk. The same for the last editor.
_SELECT = """
    SELECT m.id, m.actor_type, m.actor_id, m.message, m.parameters, m.created_at, m.verb, m.system_message,
           m.parent_id, m.reference_id, m.silent, m.edit_actor_type, m.edit_actor_id, m.edited_at,
           COALESCE(u.display_name, g.display_name, '') AS actor_name,
           COALESCE(eu.display_name, eg.display_name, '') AS edit_actor_name
      FROM messages m
      LEFT JOIN users u ON m.actor_type = 'users' AND u.id = m.actor_id
      LEFT JOIN guest_names g ON m.actor_type = 'guests' AND g.session_hash = m.actor_id
      LEFT JOIN users eu ON m.edit_actor_type = 'users' AND eu.id = m.edit_actor_id
      LEFT JOIN guest_names eg ON m.edit_actor_type = 'guests' AND eg.session_hash = m.edit_actor_id
"""


def _message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(row["id"], row["actor_type"], row["actor_id"], row["actor_name"], row["message"],
                         row["parameters"], row["created_at"], row["verb"], row["system_message"],
                         row["parent_id"], row["reference_id"], bool(row["silent"]), row["edit_actor_type"],
                         row["edit_actor_id"], row["edit_actor_name"], row["edited_at"])


def insert(conn: sqlite3.Connection, room_id: int, last_message_id: int, actor_type: str, actor_id: str,
           message: str, parameters: str, created_at: int, **options: Any) -> int:
    """`insert_after_newest`, returning only the new message's id."""
    return insert_after_newest(conn, room_id, last_message_id, actor_type, actor_id, message, parameters,
                               created_at, **options)[0]


def insert_after_newest(conn: sqlite3.Connection, room_id: int, last_message_id: int, actor_type: str,
                        actor_id: str, message: str, parameters: str, created_at: int, *, verb: str = "comment",
                        system_message: str = "", parent_id: int | None = None, reference_id: str = "",
                        silent: bool = False, relevant: bool = True) -> tuple[int, int]:
    """(new id, the room's newest id before it, as re-read under the room row's lock). Store a
    message and make it the room's newest (and, when `relevant`, the room's lastMessage).
    `last_message_id` is the room's newest id as read in the same transaction; the new message's
    per-room sequence number (which counts only comments: what unreadMessages counts) follows
    its own.

    The no-op UPDATE first takes the room row's write lock (PostgreSQL; SQLite's one writer holds
    it anyway) and re-reads the newest id under it: concurrent posts to one room then allocate
    their ids and commit one after the other, so ids rise in commit order and nobody can read
    message n+1 before n is committed (see ARCHITECTURE.md "PostgreSQL"). The caller must publish
    the returned previous id, not the one it read before the lock: another node may have
    committed in between, and a hub told the stale one would let a waiter skip that message."""
    locked = conn.execute("UPDATE rooms SET last_message_id = last_message_id WHERE id = ? RETURNING last_message_id",
                          (room_id,)).fetchone()
    if locked is not None:
        last_message_id = locked[0]
    cur = conn.execute(
        """INSERT INTO messages (room_id, actor_type, actor_id, message, parameters, created_at, seq, verb,
                                 system_message, parent_id, reference_id, silent)
           VALUES (?, ?, ?, ?, ?, ?, COALESCE((SELECT seq FROM messages WHERE id = ?), 0) + ?, ?, ?, ?, ?, ?)""",
        (room_id, actor_type, actor_id, message, parameters, created_at, last_message_id,
         1 if verb == "comment" else 0, verb, system_message, parent_id, reference_id, int(silent)),
    )
    message_id = int(cur.lastrowid)
    if relevant:
        conn.execute("UPDATE rooms SET last_message_id = ?, last_relevant_id = ? WHERE id = ?",
                     (message_id, message_id, room_id))
    else:
        conn.execute("UPDATE rooms SET last_message_id = ? WHERE id = ?", (message_id, room_id))
    return message_id, last_message_id


def by_id(conn: sqlite3.Connection, message_id: int) -> StoredMessage:
    return _message(conn.execute(_SELECT + " WHERE m.id = ?", (message_id,)).fetchone())


def in_room(conn: sqlite3.Connection, room_id: int, message_id: int) -> StoredMessage | None:
    row = conn.execute(_SELECT + " WHERE m.id = ? AND m.room_id = ?", (message_id, room_id)).fetchone()
    return _message(row) if row else None


def by_ids(conn: sqlite3.Connection, ids: list[int]) -> dict[int, StoredMessage]:
    """One query for any number of ids (the parents of a page)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {m.id: m for m in map(_message, conn.execute(_SELECT + f" WHERE m.id IN ({marks})", ids))}


def set_deleted(conn: sqlite3.Connection, message_id: int, message: str, parameters: str) -> None:
    """The original becomes a comment_deleted row in place (same id, position and timestamp)."""
    conn.execute("""UPDATE messages SET verb = 'comment_deleted', message = ?, parameters = ?,
                           edit_actor_type = NULL, edit_actor_id = NULL, edited_at = NULL WHERE id = ?""",
                 (message, parameters, message_id))
    conn.execute("DELETE FROM chat_mentions WHERE message_id = ?", (message_id,))


def set_edited(conn: sqlite3.Connection, message_id: int, message: str, parameters: str, actor_type: str,
               actor_id: str, now: int) -> None:
    conn.execute("""UPDATE messages SET message = ?, parameters = ?, edit_actor_type = ?, edit_actor_id = ?,
                           edited_at = ? WHERE id = ?""", (message, parameters, actor_type, actor_id, now, message_id))


def set_verb(conn: sqlite3.Connection, message_id: int, verb: str, message: str) -> None:
    conn.execute("UPDATE messages SET verb = ?, message = ? WHERE id = ?", (verb, message, message_id))


def clear_room(conn: sqlite3.Connection, room_id: int) -> None:
    """Every message of the room (reactions and mention rows go with them), and the read markers.
    The room has no lastMessage until the next relevant entry (clear_history posts one at once)."""
    conn.execute("DELETE FROM messages WHERE room_id = ?", (room_id,))
    conn.execute("UPDATE rooms SET last_relevant_id = 0 WHERE id = ?", (room_id,))
    conn.execute("DELETE FROM read_markers WHERE room_id = ?", (room_id,))


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


def around(conn: sqlite3.Connection, room_id: int, message_id: int, limit: int) -> list[StoredMessage]:
    """/context: up to `limit` messages older than `message_id`, the message, up to `limit` newer;
    oldest first. Two index range scans."""
    older = conn.execute(_SELECT + " WHERE m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?",
                         (room_id, message_id, limit)).fetchall()
    newer = conn.execute(_SELECT + " WHERE m.room_id = ? AND m.id >= ? ORDER BY m.id LIMIT ?",
                         (room_id, message_id, limit + 1)).fetchall()
    return [_message(r) for r in reversed(older)] + [_message(r) for r in newer]


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


def mention_candidates(conn: sqlite3.Connection, room_id: int) -> list[tuple[str, str]]:
    """(user id, display name) of every user participant of the room whose account exists."""
    rows = conn.execute(
        """SELECT u.id, u.display_name FROM participants p JOIN users u ON u.id = p.user_id
            WHERE p.room_id = ? ORDER BY p.id""", (room_id,))
    return [(r["id"], r["display_name"]) for r in rows]
