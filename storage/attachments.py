"""SQL for chat attachments (uploaded files) and the blobs they free. No rules: callers decide access.

An attachment row lives exactly as long as the chat message that shared it: the message's
deletion (or its room's, by cascade) deletes the row, and the `attachments_freed` trigger
(storage/migrations.py) queues its hash in `freed_blobs` for the sweeper.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    room_id: int
    message_id: int
    sha256: str
    name: str
    mimetype: str
    size: int
    width: int | None
    height: int | None
    item_type: str          # §9.3: media, audio, voice or file
    created_at: int


_COLUMNS = "id, room_id, message_id, sha256, name, mimetype, size, width, height, item_type, created_at"


def _attachment(row: sqlite3.Row) -> Attachment:
    return Attachment(row["id"], row["room_id"], row["message_id"], row["sha256"], row["name"], row["mimetype"],
                      row["size"], row["width"], row["height"], row["item_type"], row["created_at"])


def next_id(conn: sqlite3.Connection) -> int:
    """The id the next attachment will get (AUTOINCREMENT never reuses one), so the message that
    names it can be written first, in the same transaction."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        # Taking the identity sequence's next value reserves it (sequences never hand one out twice).
        return int(conn.execute("SELECT nextval(pg_get_serial_sequence('attachments', 'id')) AS id").fetchone()["id"])
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'attachments'").fetchone()
    return (row["seq"] if row else 0) + 1


def insert(conn: sqlite3.Connection, attachment_id: int, room_id: int, message_id: int, sha256: str, name: str,
           mimetype: str, size: int, width: int | None, height: int | None, item_type: str, created_at: int) -> None:
    conn.execute(f"INSERT INTO attachments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (attachment_id, room_id, message_id, sha256, name, mimetype, size, width, height, item_type,
                  created_at))
    # The same bytes may have been freed a moment ago and not swept yet: they are wanted again.
    conn.execute("DELETE FROM freed_blobs WHERE sha256 = ?", (sha256,))


def by_id(conn: sqlite3.Connection, room_id: int, attachment_id: int) -> Attachment | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM attachments WHERE id = ? AND room_id = ?",
                       (attachment_id, room_id)).fetchone()
    return _attachment(row) if row else None


def delete_of_message(conn: sqlite3.Connection, message_id: int) -> None:
    conn.execute("DELETE FROM attachments WHERE message_id = ?", (message_id,))


def message_ids_of_type(conn: sqlite3.Connection, room_id: int, item_type: str, before_id: int | None,
                        limit: int) -> list[int]:
    """Ids of the room's messages sharing a file of this §9.3 type, newest first, below `before_id`."""
    if before_id is None:
        rows = conn.execute("""SELECT message_id FROM attachments WHERE room_id = ? AND item_type = ?
                                ORDER BY message_id DESC LIMIT ?""", (room_id, item_type, limit))
    else:
        rows = conn.execute("""SELECT message_id FROM attachments WHERE room_id = ? AND item_type = ?
                                  AND message_id < ? ORDER BY message_id DESC LIMIT ?""",
                            (room_id, item_type, before_id, limit))
    return [r["message_id"] for r in rows]


def freed(conn: sqlite3.Connection, limit: int) -> list[str]:
    """Hashes queued by deletions; the caller checks each is really unreferenced before removing."""
    return [r["sha256"] for r in conn.execute("SELECT sha256 FROM freed_blobs LIMIT ?", (limit,))]


def referenced(conn: sqlite3.Connection, sha256: str) -> bool:
    return conn.execute("SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is not None


def forget_freed(conn: sqlite3.Connection, sha256: str) -> None:
    conn.execute("DELETE FROM freed_blobs WHERE sha256 = ?", (sha256,))
