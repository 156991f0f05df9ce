"""SQL for rooms, participants, guest names and cookie sessions."""
from __future__ import annotations

import sqlite3
from typing import Iterable

from .records import Participant, ParticipantType, Room, RoomToken, RoomType, SessionId


def _room(row: sqlite3.Row | None) -> Room | None:
    if row is None:
        return None
    return Room(row["id"], RoomToken(row["token"]), RoomType(row["type"]), row["name"], row["password_hash"],
                row["active_since"], row["active_guests"], row["last_message_id"], row["last_relevant_id"])


def _participant(row: sqlite3.Row) -> Participant:
    return Participant(row["id"], row["room_id"], row["user_id"], ParticipantType(row["participant_type"]),
                       row["session_id"], row["last_ping"], bool(row["in_call"]))


# A participant row next to its room's columns in one result row (the two tables share names).
_P_COLUMNS = ("p.id AS p_id, p.room_id AS p_room_id, p.user_id AS p_user_id, p.participant_type AS p_type, "
              "p.session_id AS p_session_id, p.last_ping AS p_last_ping, p.in_call AS p_in_call")


def _joined_participant(row: sqlite3.Row) -> Participant | None:
    if row["p_id"] is None:
        return None
    return Participant(row["p_id"], row["p_room_id"], row["p_user_id"], ParticipantType(row["p_type"]),
                       row["p_session_id"], row["p_last_ping"], bool(row["p_in_call"]))


# -- rooms -------------------------------------------------------------------------------------

def room_by_token(conn: sqlite3.Connection, token: str) -> Room | None:
    return _room(conn.execute("SELECT * FROM rooms WHERE token = ?", (token,)).fetchone())


def room_and_user_row(conn: sqlite3.Connection, token: str, user_id: str) -> tuple[Room | None, Participant | None]:
    """The room of `token` and `user_id`'s participant row in it (None when it has none), in one
    query: every chat poll asks this, and on PostgreSQL each query is a round trip."""
    row = conn.execute(f"SELECT r.*, {_P_COLUMNS} FROM rooms r "
                       "LEFT JOIN participants p ON p.room_id = r.id AND p.user_id = ? WHERE r.token = ?",
                       (user_id, token)).fetchone()
    if row is None:
        return None, None
    return _room(row), _joined_participant(row)


def room_by_id(conn: sqlite3.Connection, room_id: int) -> Room | None:
    return _room(conn.execute("SELECT * FROM rooms WHERE id = ?", (room_id,)).fetchone())


def token_taken(conn: sqlite3.Connection, token: str) -> bool:
    return conn.execute("SELECT 1 FROM rooms WHERE token = ?", (token,)).fetchone() is not None


def insert_room(conn: sqlite3.Connection, token: str, type_: RoomType, name: str) -> int:
    cur = conn.execute("INSERT INTO rooms (token, type, name) VALUES (?, ?, ?)", (token, int(type_), name))
    return int(cur.lastrowid)


def set_room_name(conn: sqlite3.Connection, room_id: int, name: str) -> None:
    conn.execute("UPDATE rooms SET name = ? WHERE id = ?", (name, room_id))


def set_room_type(conn: sqlite3.Connection, room_id: int, type_: RoomType) -> None:
    conn.execute("UPDATE rooms SET type = ? WHERE id = ?", (int(type_), room_id))


def set_room_password(conn: sqlite3.Connection, room_id: int, password_hash: str) -> None:
    conn.execute("UPDATE rooms SET password_hash = ? WHERE id = ?", (password_hash, room_id))


def start_call(conn: sqlite3.Connection, room_id: int, now: int, guest: bool) -> None:
    conn.execute(
        "UPDATE rooms SET active_since = COALESCE(active_since, ?), active_guests = active_guests + ? WHERE id = ?",
        (now, 1 if guest else 0, room_id),
    )


def end_call(conn: sqlite3.Connection, room_id: int) -> None:
    conn.execute("UPDATE rooms SET active_since = NULL, active_guests = 0 WHERE id = ?", (room_id,))


def delete_room(conn: sqlite3.Connection, room_id: int) -> None:
    conn.execute("DELETE FROM rooms WHERE id = ?", (room_id,))


def rooms_of_user(conn: sqlite3.Connection, user_id: str) -> list[Room]:
    rows = conn.execute(
        "SELECT r.* FROM rooms r JOIN participants p ON p.room_id = r.id WHERE p.user_id = ? ORDER BY r.id",
        (user_id,),
    )
    return [r for row in rows if (r := _room(row))]


def one_to_one_between(conn: sqlite3.Connection, a: str, b: str) -> Room | None:
    row = conn.execute(
        """SELECT r.* FROM rooms r
           WHERE r.type = ? AND
                 (SELECT COUNT(*) FROM participants p WHERE p.room_id = r.id) = 2 AND
                 EXISTS (SELECT 1 FROM participants p WHERE p.room_id = r.id AND p.user_id = ?) AND
                 EXISTS (SELECT 1 FROM participants p WHERE p.room_id = r.id AND p.user_id = ?)
           LIMIT 1""",
        (int(RoomType.ONE_TO_ONE), a, b),
    ).fetchone()
    return _room(row)


def rooms_with_call(conn: sqlite3.Connection) -> list[Room]:
    return [r for row in conn.execute("SELECT * FROM rooms WHERE active_since IS NOT NULL") if (r := _room(row))]


# -- participants ------------------------------------------------------------------------------

def participants(conn: sqlite3.Connection, room_id: int) -> list[Participant]:
    rows = conn.execute("SELECT * FROM participants WHERE room_id = ? ORDER BY id", (room_id,))
    return [_participant(r) for r in rows]


def participants_of_rooms(conn: sqlite3.Connection, room_ids: list[int]) -> dict[int, list[Participant]]:
    """Room id → its participants (in id order), for any number of rooms in one query per 500."""
    found: dict[int, list[Participant]] = {room_id: [] for room_id in room_ids}
    for start in range(0, len(room_ids), 500):
        chunk = room_ids[start:start + 500]
        rows = conn.execute(f"SELECT * FROM participants WHERE room_id IN ({','.join('?' * len(chunk))}) "
                            "ORDER BY room_id, id", chunk)
        for row in rows:
            found[row["room_id"]].append(_participant(row))
    return found


def participant_of_user(conn: sqlite3.Connection, room_id: int, user_id: str) -> Participant | None:
    row = conn.execute("SELECT * FROM participants WHERE room_id = ? AND user_id = ?", (room_id, user_id)).fetchone()
    return _participant(row) if row else None


def participant_by_session(conn: sqlite3.Connection, session_id: str) -> Participant | None:
    row = conn.execute("SELECT * FROM participants WHERE session_id = ?", (session_id,)).fetchone()
    return _participant(row) if row else None


def session_taken(conn: sqlite3.Connection, session_id: str) -> bool:
    return conn.execute("SELECT 1 FROM participants WHERE session_id = ?", (session_id,)).fetchone() is not None


def insert_participant(conn: sqlite3.Connection, room_id: int, user_id: str | None, type_: ParticipantType,
                       session_id: str | None = None, last_ping: int = 0) -> int:
    cur = conn.execute(
        "INSERT INTO participants (room_id, user_id, participant_type, session_id, last_ping) VALUES (?, ?, ?, ?, ?)",
        (room_id, user_id, int(type_), session_id, last_ping),
    )
    return int(cur.lastrowid)


def set_participant_type(conn: sqlite3.Connection, participant_id: int, type_: ParticipantType) -> None:
    conn.execute("UPDATE participants SET participant_type = ? WHERE id = ?", (int(type_), participant_id))


def set_session(conn: sqlite3.Connection, participant_id: int, session_id: str | None, last_ping: int) -> None:
    conn.execute("UPDATE participants SET session_id = ?, last_ping = ? WHERE id = ?",
                 (session_id, last_ping, participant_id))


def end_session(conn: sqlite3.Connection, participant_id: int) -> None:
    conn.execute("UPDATE participants SET session_id = NULL, in_call = 0 WHERE id = ?", (participant_id,))


def set_in_call(conn: sqlite3.Connection, participant_id: int, in_call: bool) -> None:
    conn.execute("UPDATE participants SET in_call = ? WHERE id = ?", (int(in_call), participant_id))


def delete_participant(conn: sqlite3.Connection, participant_id: int) -> None:
    conn.execute("DELETE FROM participants WHERE id = ?", (participant_id,))


def delete_participants_of_types(conn: sqlite3.Connection, room_id: int, types: Iterable[ParticipantType]) -> None:
    types = [int(t) for t in types]
    marks = ",".join("?" * len(types))
    conn.execute(f"DELETE FROM participants WHERE room_id = ? AND participant_type IN ({marks})", (room_id, *types))


def any_in_call(conn: sqlite3.Connection, room_id: int) -> bool:
    return conn.execute("SELECT 1 FROM participants WHERE room_id = ? AND in_call = 1 AND session_id IS NOT NULL",
                        (room_id,)).fetchone() is not None


def store_pings(conn: sqlite3.Connection, pings: dict[str, int]) -> None:
    conn.executemany("UPDATE participants SET last_ping = MAX(last_ping, ?) WHERE session_id = ?",
                     [(ts, sid) for sid, ts in pings.items()])


def stale_sessions(conn: sqlite3.Connection, older_than: int) -> list[Participant]:
    """Participants holding a session whose last ping is at or before `older_than`."""
    rows = conn.execute(
        "SELECT * FROM participants WHERE session_id IS NOT NULL AND last_ping <= ? ORDER BY id", (older_than,)
    )
    return [_participant(r) for r in rows]


def stale_guests_without_session(conn: sqlite3.Connection) -> list[Participant]:
    rows = conn.execute("SELECT * FROM participants WHERE user_id IS NULL AND session_id IS NULL")
    return [_participant(r) for r in rows]


# -- guest names -------------------------------------------------------------------------------

def guest_name(conn: sqlite3.Connection, session_hash: str) -> str:
    row = conn.execute("SELECT display_name FROM guest_names WHERE session_hash = ?", (session_hash,)).fetchone()
    return row["display_name"] if row else ""


def guest_names(conn: sqlite3.Connection, session_hashes: list[str]) -> dict[str, str]:
    if not session_hashes:
        return {}
    marks = ",".join("?" * len(session_hashes))
    rows = conn.execute(f"SELECT * FROM guest_names WHERE session_hash IN ({marks})", session_hashes)
    return {r["session_hash"]: r["display_name"] for r in rows}


def set_guest_name(conn: sqlite3.Connection, session_hash: str, name: str) -> bool:
    """Upsert; True when the stored name changed."""
    if guest_name(conn, session_hash) == name and conn.execute(
            "SELECT 1 FROM guest_names WHERE session_hash = ?", (session_hash,)).fetchone():
        return False
    conn.execute("INSERT INTO guest_names (session_hash, display_name) VALUES (?, ?) "
                 "ON CONFLICT(session_hash) DO UPDATE SET display_name = excluded.display_name", (session_hash, name))
    return True


# -- cookie sessions ---------------------------------------------------------------------------

def cookie_session(conn: sqlite3.Connection, cookie_hash: str, token: str) -> SessionId | None:
    row = conn.execute("SELECT session_id FROM cookie_sessions WHERE cookie_hash = ? AND token = ?",
                       (cookie_hash, token)).fetchone()
    return SessionId(row["session_id"]) if row else None


def cookie_session_row(conn: sqlite3.Connection, cookie_hash: str, token: str) -> tuple[Room, Participant] | None:
    """The participant row of the session a browser cookie holds for `token`, with that row's
    room (which the caller must check: a stale cookie may point into another room), in one query."""
    row = conn.execute(f"SELECT r.*, {_P_COLUMNS} FROM cookie_sessions c "
                       "JOIN participants p ON p.session_id = c.session_id JOIN rooms r ON r.id = p.room_id "
                       "WHERE c.cookie_hash = ? AND c.token = ? AND c.session_id <> ''",
                       (cookie_hash, token)).fetchone()
    if row is None:
        return None
    room, participant = _room(row), _joined_participant(row)
    assert room is not None and participant is not None
    return room, participant


def set_cookie_session(conn: sqlite3.Connection, cookie_hash: str, token: str, session_id: str) -> None:
    conn.execute("INSERT INTO cookie_sessions (cookie_hash, token, session_id) VALUES (?, ?, ?) "
                 "ON CONFLICT(cookie_hash, token) DO UPDATE SET session_id = excluded.session_id",
                 (cookie_hash, token, session_id))


def drop_cookie_session(conn: sqlite3.Connection, cookie_hash: str, token: str) -> None:
    conn.execute("DELETE FROM cookie_sessions WHERE cookie_hash = ? AND token = ?", (cookie_hash, token))


def drop_dead_cookie_sessions(conn: sqlite3.Connection) -> None:
    """Forget cookie mappings whose session no longer exists (kicked, expired, room deleted)."""
    conn.execute("DELETE FROM cookie_sessions WHERE session_id NOT IN "
                 "(SELECT session_id FROM participants WHERE session_id IS NOT NULL)")
