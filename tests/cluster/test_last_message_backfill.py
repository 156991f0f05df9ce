"""Migration step 7 on a database that already has chat history: every room's `last_relevant_id`
is its last relevant entry (talk-chat-later.md §7.3), on SQLite and on PostgreSQL alike."""
from __future__ import annotations

import sqlite3

from storage import migrations, pg_migrations
from storage.pg import apply_migrations
from storage.pg_dialect import translate_ddl

# The step that adds rooms.last_relevant_id (found by its text: steps may be renumbered at merge).
STEP = next(n for n, script in enumerate(migrations.STEPS, start=1) if "ADD COLUMN last_relevant_id" in script)

# (room id, entries as (verb, system_message)), and the id each room must end with. Ids are
# given explicitly, in order, so both engines hold the same rows.
HISTORY = {
    1: [("comment", ""), ("system", "user_added"), ("reaction", ""), ("system", "message_edited"),
        ("reaction_deleted", ""), ("system", "reaction_revoked")],
    2: [("comment", ""), ("comment_deleted", ""), ("system", "message_deleted")],
    3: [],
    4: [("reaction_deleted", "")],
}
EXPECTED = {1: 2, 2: 8, 3: 0, 4: 0}


def _history_sql() -> list[str]:
    statements = [f"INSERT INTO rooms (id, token, type, name) VALUES ({room}, 'room{room}', 2, 'r')"
                  for room in HISTORY]
    message_id = 0
    for room, entries in HISTORY.items():
        for verb, system_message in entries:
            message_id += 1
            statements.append(
                "INSERT INTO messages (id, room_id, actor_type, actor_id, message, created_at, verb, system_message) "
                f"VALUES ({message_id}, {room}, 'users', 'u', 'text', 0, '{verb}', '{system_message}')")
    return statements


def test_sqlite_rooms_get_their_last_relevant_entry(tmp_path):
    conn = sqlite3.connect(str(tmp_path / "old.sqlite3"), isolation_level=None)
    for number, script in enumerate(migrations.STEPS[:STEP - 1], start=1):
        conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    for statement in _history_sql():
        conn.execute(statement)
    migrations.apply(conn)
    assert dict(conn.execute("SELECT id, last_relevant_id FROM rooms")) == EXPECTED
    conn.close()


def test_postgres_rooms_get_their_last_relevant_entry(fresh_db):
    import psycopg
    with psycopg.connect(fresh_db) as raw:
        raw.execute("CREATE TABLE parley_schema_version (version BIGINT NOT NULL)")
        for number, script in enumerate(migrations.STEPS[:STEP - 1], start=1):
            raw.execute(pg_migrations.script(number, script) or translate_ddl(script))
        raw.execute("INSERT INTO parley_schema_version (version) VALUES (%s)", (STEP - 1,))
        for statement in _history_sql():
            raw.execute(statement)
        raw.commit()
        apply_migrations(raw)
        assert dict(raw.execute("SELECT id, last_relevant_id FROM rooms").fetchall()) == EXPECTED
