"""SQL for chat messages and read markers."""
from __future__ import annotations

import sqlite3


def unread_count(conn: sqlite3.Connection, room_id: int, user_id: str, last_message_id: int) -> int:
    """Messages after the user's read marker. Uses the (room_id, id) index, so the cost grows with
    the number of unread messages, not with the history; a room with no new messages costs one
    primary-key lookup."""
    row = conn.execute("SELECT last_read_id FROM read_markers WHERE user_id = ? AND room_id = ?",
                       (user_id, room_id)).fetchone()
    marker = row["last_read_id"] if row else 0
    if marker >= last_message_id:
        return 0
    return conn.execute("SELECT COUNT(*) FROM messages WHERE room_id = ? AND id > ?",
                        (room_id, marker)).fetchone()[0]
