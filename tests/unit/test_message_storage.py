"""Message storage: per-room sequence numbers (migration step 2) and unread counts."""
import sqlite3

from storage import chat_state
from storage import messages as messages_db
from storage import migrations


def unread(conn, room_id: int, user_id: str, last_message_id: int) -> int:
    return chat_state.read_states(conn, user_id, [(room_id, last_message_id)])[room_id].unread


def test_migration_numbers_existing_messages_per_room_and_unread_counts_use_them(tmp_path):
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.executescript(f"BEGIN;\n{migrations.STEPS[0]}\nPRAGMA user_version=1;\nCOMMIT;")
    conn.execute("INSERT INTO users VALUES ('u', 'U', 'x', 0, 0)")
    for room_id, token in ((1, "aaaa"), (2, "bbbb")):
        conn.execute("INSERT INTO rooms (id, token, type) VALUES (?, ?, 3)", (room_id, token))
    for i in range(7):   # interleaved: ids 1..7, rooms 1,2,1,2,...
        conn.execute("INSERT INTO messages (room_id, actor_type, actor_id, message, created_at) "
                     "VALUES (?, 'users', 'u', ?, 0)", (1 + i % 2, f"m{i}"))
    conn.execute("UPDATE rooms SET last_message_id = CASE id WHEN 1 THEN 7 ELSE 6 END")
    migrations.apply(conn)
    rows = conn.execute("SELECT id, room_id, seq FROM messages ORDER BY id").fetchall()
    assert [(r["id"], r["room_id"], r["seq"]) for r in rows] == [
        (1, 1, 1), (2, 2, 1), (3, 1, 2), (4, 2, 2), (5, 1, 3), (6, 2, 3), (7, 1, 4)]
    assert unread(conn, 1, "u", 7) == 4          # no marker: everything
    messages_db.mark_read(conn, "u", 1, 3)
    assert unread(conn, 1, "u", 7) == 2
    messages_db.mark_read(conn, "u", 1, 2)                          # never backwards
    assert messages_db.read_marker(conn, "u", 1) == 3
    messages_db.mark_read(conn, "u", 1, 4)                          # an id of another room counts as "up to here"
    assert unread(conn, 1, "u", 7) == 2
    new_id = messages_db.insert(conn, 1, 7, "users", "u", "m7", "[]", 0)
    assert conn.execute("SELECT seq FROM messages WHERE id = ?", (new_id,)).fetchone()["seq"] == 5
    assert unread(conn, 1, "u", new_id) == 3
    assert unread(conn, 2, "u", 6) == 3
