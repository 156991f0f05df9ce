"""SQL for the state around chat messages: reactions, mention flags, read markers set by clients,
and who took part in the current call. No rules: callers decide access."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reaction:
    actor_type: str
    actor_id: str
    actor_name: str
    emoji: str
    created_at: int
    entry_id: int            # the `reaction` row in messages that announced it


# -- reactions ---------------------------------------------------------------------------------

def add_reaction(conn: sqlite3.Connection, message_id: int, actor_type: str, actor_id: str, emoji: str,
                 now: int, entry_id: int) -> None:
    conn.execute("""INSERT INTO reactions (message_id, actor_type, actor_id, emoji, created_at, entry_id)
                    VALUES (?, ?, ?, ?, ?, ?)""", (message_id, actor_type, actor_id, emoji, now, entry_id))


def find_reaction(conn: sqlite3.Connection, message_id: int, actor_type: str, actor_id: str, emoji: str
                  ) -> int | None:
    """The entry id of this actor's reaction, or None."""
    row = conn.execute("""SELECT entry_id FROM reactions WHERE message_id = ? AND actor_type = ? AND actor_id = ?
                          AND emoji = ?""", (message_id, actor_type, actor_id, emoji)).fetchone()
    return row["entry_id"] if row else None


def remove_reaction(conn: sqlite3.Connection, message_id: int, actor_type: str, actor_id: str, emoji: str) -> None:
    conn.execute("DELETE FROM reactions WHERE message_id = ? AND actor_type = ? AND actor_id = ? AND emoji = ?",
                 (message_id, actor_type, actor_id, emoji))


def drop_reactions(conn: sqlite3.Connection, message_id: int) -> None:
    conn.execute("DELETE FROM reactions WHERE message_id = ?", (message_id,))


def reactions_of(conn: sqlite3.Connection, message_id: int) -> list[Reaction]:
    """Every reaction of a message, oldest first (within one emoji, the order Parley answers)."""
    rows = conn.execute(
        """SELECT r.actor_type, r.actor_id, r.emoji, r.created_at, r.entry_id,
                  COALESCE(u.display_name, g.display_name, '') AS actor_name
             FROM reactions r
             LEFT JOIN users u ON r.actor_type = 'users' AND u.id = r.actor_id
             LEFT JOIN guest_names g ON r.actor_type = 'guests' AND g.session_hash = r.actor_id
            WHERE r.message_id = ? ORDER BY r.created_at, r.entry_id""", (message_id,))
    return [Reaction(r["actor_type"], r["actor_id"], r["actor_name"], r["emoji"], r["created_at"], r["entry_id"])
            for r in rows]


def reaction_counts(conn: sqlite3.Connection, message_ids: list[int], actor_type: str | None, actor_id: str | None
                    ) -> list[tuple[int, str, int, bool]]:
    """(message id, emoji, count, whether the given actor is among them) for any number of
    messages, in one grouped query over the primary key."""
    if not message_ids:
        return []
    marks = ",".join("?" * len(message_ids))
    rows = conn.execute(
        f"""SELECT message_id, emoji, COUNT(*) AS n,
                   MAX(CASE WHEN actor_type = ? AND actor_id = ? THEN 1 ELSE 0 END) AS mine
              FROM reactions WHERE message_id IN ({marks}) GROUP BY message_id, emoji""",
        (actor_type or "", actor_id or "", *message_ids))
    return [(r["message_id"], r["emoji"], r["n"], bool(r["mine"])) for r in rows]


# -- mention flags -----------------------------------------------------------------------------

def add_mentions(conn: sqlite3.Connection, room_id: int, message_id: int, user_ids: list[str]) -> None:
    conn.executemany("INSERT INTO chat_mentions (user_id, room_id, message_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                     [(u, room_id, message_id) for u in user_ids])


def replace_mentions(conn: sqlite3.Connection, room_id: int, message_id: int, user_ids: list[str]) -> None:
    """After an edit: the mentions the new text makes (the parent's author stays if it was a reply)."""
    conn.execute("DELETE FROM chat_mentions WHERE message_id = ?", (message_id,))
    add_mentions(conn, room_id, message_id, user_ids)


# -- read markers set by clients ---------------------------------------------------------------

def set_marker(conn: sqlite3.Connection, user_id: str, room_id: int, value: int) -> None:
    """Store exactly `value` (POST/DELETE /read may move the marker back)."""
    conn.execute("""INSERT INTO read_markers (user_id, room_id, last_read_id) VALUES (?, ?, ?)
                    ON CONFLICT(user_id, room_id) DO UPDATE SET last_read_id = excluded.last_read_id""",
                 (user_id, room_id, value))


@dataclass(frozen=True, slots=True)
class ReadState:
    """What the room object says about one user's reading of one room."""
    marker: int | None      # the stored read marker, None when the user never had one
    unread: int             # comments after the marker (all of them without one)
    mentioned: bool         # a mention of the user after the marker
    common_read: int        # see `common_read`


STATE_CHUNK = 200   # rooms per probe statement: 9 parameters each, well under either engine's limit

# One row of probes per room, all index searches: the sequence numbers at the newest message and
# at the marker (their difference is the unread count), a mention past the marker, and the
# common read marker (as `common_read` below). On PostgreSQL the rows are joined with UNION ALL,
# so a room list costs one round trip for all its rooms instead of six per room; SQLite runs
# one row per room (measured: preparing the compound statement cost more than it saved there).
_STATE_ROW = """SELECT ? AS room_id,
  (SELECT seq FROM messages WHERE room_id = ? AND id <= ? ORDER BY id DESC LIMIT 1) AS seq_last,
  (SELECT seq FROM messages WHERE room_id = ? AND id <= ? ORDER BY id DESC LIMIT 1) AS seq_marker,
  EXISTS (SELECT 1 FROM chat_mentions WHERE user_id = ? AND room_id = ? AND message_id > ?) AS mentioned,
  (SELECT r.last_read_id FROM read_markers r
    WHERE r.room_id = ? AND EXISTS (SELECT 1 FROM participants p WHERE p.room_id = r.room_id AND p.user_id = r.user_id)
    ORDER BY r.last_read_id LIMIT 1) AS common"""


def read_states(conn: sqlite3.Connection, user_id: str | None, rooms: list[tuple[int, int]]) -> dict[int, ReadState]:
    """For each (room id, id of its newest message): `user_id`'s ReadState (a guest, None, has no
    marker, nothing unread, no mention). Two statements per STATE_CHUNK rooms, whatever the
    history or the number of participants."""
    states: dict[int, ReadState] = {}
    for start in range(0, len(rooms), STATE_CHUNK):
        chunk = rooms[start:start + STATE_CHUNK]
        markers: dict[int, int] = {}
        if user_id is not None:
            marks = ",".join("?" * len(chunk))
            markers = {r["room_id"]: r["last_read_id"] for r in conn.execute(
                f"SELECT room_id, last_read_id FROM read_markers WHERE user_id = ? AND room_id IN ({marks})",
                (user_id, *(room_id for room_id, _ in chunk)))}
        args: list[object] = []
        for room_id, last in chunk:
            marker = markers.get(room_id, 0)
            args += (room_id, room_id, last, room_id, marker, user_id or "", room_id, marker, room_id)
        if getattr(conn, "dialect", "sqlite") == "postgresql":   # one round trip for the chunk
            rows = conn.execute("\nUNION ALL\n".join([_STATE_ROW] * len(chunk)), args).fetchall()
        else:   # in-process: a cached one-row statement per room beats preparing a compound one
            rows = [conn.execute(_STATE_ROW, args[i:i + 9]).fetchone() for i in range(0, len(args), 9)]
        by_room = {int(row["room_id"]): row for row in rows}   # UNION ALL promises no order
        for room_id, last in chunk:
            row, marker = by_room[room_id], markers.get(room_id)
            behind = user_id is not None and last > 0 and (marker or 0) < last
            states[room_id] = ReadState(
                marker=marker,
                unread=(row["seq_last"] or 0) - (row["seq_marker"] or 0) if behind else 0,
                mentioned=user_id is not None and bool(row["mentioned"]),
                common_read=max(row["common"] or 0, 0))
    return states


def common_read(conn: sqlite3.Connection, room_id: int) -> int:
    """The smallest read marker among the room's users that have one (0 if none has). Walks the
    (room_id, last_read_id) index from the smallest marker and stops at the first one whose user is
    still a participant: a few index probes per call, whatever the room's size (a chat poll reads
    this on every request, so a scan over the participants would make a fan-out quadratic)."""
    row = conn.execute(
        """SELECT r.last_read_id FROM read_markers r
            WHERE r.room_id = ? AND EXISTS (SELECT 1 FROM participants p
                                             WHERE p.room_id = r.room_id AND p.user_id = r.user_id)
            ORDER BY r.last_read_id LIMIT 1""", (room_id,)).fetchone()
    return max(row["last_read_id"], 0) if row else 0


def last_comment_ids(conn: sqlite3.Connection, room_id: int) -> tuple[int | None, int | None]:
    """(id of the newest comment, id of the entry just before it) for "mark unread"."""
    row = conn.execute("SELECT id FROM messages WHERE room_id = ? AND verb = 'comment' ORDER BY id DESC LIMIT 1",
                       (room_id,)).fetchone()
    if row is None:
        return None, None
    before = conn.execute("SELECT id FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT 1",
                          (room_id, row["id"])).fetchone()
    return row["id"], before["id"] if before else None


# -- call members (for the call summary) -------------------------------------------------------

def add_call_member(conn: sqlite3.Connection, room_id: int, actor_type: str, actor_id: str) -> None:
    conn.execute("INSERT INTO call_members (room_id, actor_type, actor_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                 (room_id, actor_type, actor_id))


def take_call_members(conn: sqlite3.Connection, room_id: int) -> list[tuple[str, str]]:
    """Who took part in the call that just ended, in order of joining; forgets them."""
    rows = [(r["actor_type"], r["actor_id"]) for r in conn.execute(
        "SELECT actor_type, actor_id FROM call_members WHERE room_id = ? ORDER BY actor_type, actor_id", (room_id,))]
    conn.execute("DELETE FROM call_members WHERE room_id = ?", (room_id,))
    return rows
