"""Ordered schema steps keyed on PRAGMA user_version. Never edit a released step; append a new one."""
from __future__ import annotations

import sqlite3

# Step 6's tables and indexes (files in chat), kept apart so that PostgreSQL runs the same text,
# translated (storage/pg_migrations.py), before its own versions of the triggers and the search index.
FILES_TABLES = """
    CREATE TABLE attachments (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id    INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        sha256     TEXT NOT NULL,
        name       TEXT NOT NULL,
        mimetype   TEXT NOT NULL,
        size       INTEGER NOT NULL,
        width      INTEGER,
        height     INTEGER,
        item_type  TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX attachments_room_item ON attachments(room_id, item_type, message_id);
    CREATE INDEX attachments_message ON attachments(message_id);
    CREATE INDEX attachments_sha256 ON attachments(sha256);
    CREATE TABLE freed_blobs (
        sha256 TEXT PRIMARY KEY
    );
"""

STEPS: list[str] = [
    # 1: accounts, rooms, participants, cookie sessions, chat.
    """
    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        is_admin      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE groups (
        id TEXT PRIMARY KEY
    );
    CREATE TABLE group_members (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
    );
    CREATE INDEX group_members_user ON group_members(user_id);

    CREATE TABLE rooms (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        token           TEXT NOT NULL UNIQUE,
        type            INTEGER NOT NULL,
        name            TEXT NOT NULL DEFAULT '',
        password_hash   TEXT NOT NULL DEFAULT '',
        active_since    INTEGER,
        active_guests   INTEGER NOT NULL DEFAULT 0,
        last_message_id INTEGER NOT NULL DEFAULT 0
    );

    -- One row per attendee. user_id is NULL for guests. session_id is NULL when the attendee has
    -- no live session (the API shows "0").
    CREATE TABLE participants (
        id               INTEGER PRIMARY KEY,
        room_id          INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
        participant_type INTEGER NOT NULL,
        session_id       TEXT UNIQUE,
        last_ping        INTEGER NOT NULL DEFAULT 0,
        in_call          INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX participants_room_user ON participants(room_id, user_id) WHERE user_id IS NOT NULL;
    CREATE INDEX participants_user ON participants(user_id);
    CREATE INDEX participants_room ON participants(room_id);

    CREATE TABLE guest_names (
        session_hash TEXT PRIMARY KEY,
        display_name TEXT NOT NULL
    );

    -- The cookie session: which Talk session a browser/client holds for which room.
    -- cookie_hash is sha256 of the cookie value, so a copy of the database grants no sessions.
    CREATE TABLE cookie_sessions (
        cookie_hash TEXT NOT NULL,
        token       TEXT NOT NULL,
        session_id  TEXT NOT NULL,
        PRIMARY KEY (cookie_hash, token)
    );

    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        room_id    INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        actor_type TEXT NOT NULL,
        actor_id   TEXT NOT NULL,
        message    TEXT NOT NULL,
        parameters TEXT NOT NULL DEFAULT '[]',
        created_at INTEGER NOT NULL
    );
    CREATE INDEX messages_room_id ON messages(room_id, id);

    CREATE TABLE read_markers (
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        room_id      INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        last_read_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, room_id)
    );

    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: chat: a per-room sequence number on messages (1, 2, 3, ... in id order within a room), so
    # unread counts are a subtraction of two indexed lookups instead of a COUNT over the history.
    """
    ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET seq = numbered.n
      FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY id) AS n FROM messages) AS numbered
     WHERE numbered.id = messages.id;
    """,
    # 3: browser logins (web client). token_hash is sha256 of the login cookie, so a copy of the
    # database grants no logins; rows die with their user.
    """
    CREATE TABLE web_logins (
        token_hash TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX web_logins_user ON web_logins(user_id);
    CREATE INDEX web_logins_expiry ON web_logins(expires_at);
    """,
    # 4: app passwords (Nextcloud's /core/getapppassword): token_hash is the hex HMAC-SHA256 of the
    # token keyed with the server secret, so a copy of the database grants no logins and a check
    # needs no argon2; rows die with their user.
    """
    CREATE TABLE app_passwords (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash   TEXT NOT NULL UNIQUE,
        name         TEXT NOT NULL DEFAULT '',
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX app_passwords_user ON app_passwords(user_id);
    """,
    # 5 (issue 11, later chat): message kinds, replies, reference ids, silent sends, edits;
    # reactions; mention flags; who took part in the current call. Plain SQL a PostgreSQL port can
    # run as is. `verb` is the stored kind (comment, system, comment_deleted, reaction,
    # reaction_deleted); `seq` from step 2 now counts only comments (what unreadMessages counts), so
    # a system row repeats the count of the comment before it.
    """
    ALTER TABLE messages ADD COLUMN verb TEXT NOT NULL DEFAULT 'comment';
    ALTER TABLE messages ADD COLUMN system_message TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN parent_id INTEGER;
    ALTER TABLE messages ADD COLUMN reference_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN silent INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN edit_actor_type TEXT;
    ALTER TABLE messages ADD COLUMN edit_actor_id TEXT;
    ALTER TABLE messages ADD COLUMN edited_at INTEGER;

    CREATE TABLE reactions (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        actor_type TEXT NOT NULL,
        actor_id   TEXT NOT NULL,
        emoji      TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        entry_id   INTEGER NOT NULL,
        PRIMARY KEY (message_id, actor_type, actor_id, emoji)
    );

    -- One row per user mentioned (or replied to) by a message: the unreadMention flags are an
    -- indexed EXISTS past the read marker, not a scan of the history.
    CREATE TABLE chat_mentions (
        user_id    TEXT NOT NULL,
        room_id    INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, room_id, message_id)
    );

    CREATE TABLE call_members (
        room_id    INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
        actor_type TEXT NOT NULL,
        actor_id   TEXT NOT NULL,
        PRIMARY KEY (room_id, actor_type, actor_id)
    );
    CREATE INDEX messages_parent ON messages(parent_id) WHERE parent_id IS NOT NULL;
    -- The common read marker (X-Chat-Last-Common-Read) is the first row of this index per room.
    CREATE INDEX read_markers_room_order ON read_markers(room_id, last_read_id);
    """,
    # 6: files, search (issue 11): chat attachments, the blobs they free, and the full-text index.
    # An attachment is one upload posted as one chat message; its bytes live content-addressed
    # under <data_dir>/files/ (storage/blobs.py), named by sha256, so equal uploads share a file.
    # Deleting the message (or the room, by cascade) deletes the row; the trigger queues the
    # hash in freed_blobs, and the sweeper (server/domain/attachments.py) removes the file when
    # no attachment refers to it any more.
    FILES_TABLES + """
    CREATE TRIGGER attachments_freed AFTER DELETE ON attachments BEGIN
        INSERT OR IGNORE INTO freed_blobs (sha256) VALUES (old.sha256);
    END;
    -- A deleted message (step 4's soft delete: verb becomes comment_deleted) shares nothing.
    CREATE TRIGGER messages_deleted_unshare AFTER UPDATE OF verb ON messages
      WHEN new.verb = 'comment_deleted' BEGIN
        DELETE FROM attachments WHERE message_id = new.id;
    END;

    -- Search: an FTS5 table keyed by message id, kept in step with messages by triggers, so every
    -- insert, edit, delete and history clear updates it in the same transaction, whoever writes.
    -- Only comments are indexed (not system lines, reactions or deleted messages).
    -- `body` is the message text; `names` the names of the files it shares.
    CREATE VIRTUAL TABLE message_search USING fts5(body, names, tokenize = 'unicode61 remove_diacritics 2');
    CREATE TRIGGER messages_search_insert AFTER INSERT ON messages WHEN new.verb = 'comment' BEGIN
        INSERT INTO message_search (rowid, body, names) VALUES (new.id, new.message,
            (SELECT group_concat(json_extract(value, '$.name'), ' ')
               FROM json_each(CASE WHEN json_valid(new.parameters) THEN new.parameters ELSE '[]' END)
              WHERE json_extract(value, '$.type') = 'file'));
    END;
    CREATE TRIGGER messages_search_update AFTER UPDATE OF message, parameters, verb ON messages BEGIN
        DELETE FROM message_search WHERE rowid = old.id;
        INSERT INTO message_search (rowid, body, names) SELECT new.id, new.message,
            (SELECT group_concat(json_extract(value, '$.name'), ' ')
               FROM json_each(CASE WHEN json_valid(new.parameters) THEN new.parameters ELSE '[]' END)
              WHERE json_extract(value, '$.type') = 'file')
          WHERE new.verb = 'comment';
    END;
    CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
        DELETE FROM message_search WHERE rowid = old.id;
    END;
    INSERT INTO message_search (rowid, body, names) SELECT id, message, NULL FROM messages WHERE verb = 'comment';
    """,
    # 7: the room's `lastMessage` (talk-chat-later.md §7.3): the id of its last "relevant" entry,
    # written with the entry (chat_post.post_message decides which are relevant), so the room list
    # finds every room's last message by primary key instead of searching histories. Rooms that
    # exist already get theirs from their history: every entry but reaction rows and the
    # message_deleted / message_edited / reaction_revoked lines (a message deleted since it was
    # posted stays: Talk shows it in its deleted form). Plain SQL for both engines.
    """
    ALTER TABLE rooms ADD COLUMN last_relevant_id INTEGER NOT NULL DEFAULT 0;
    UPDATE rooms SET last_relevant_id = COALESCE((
        SELECT MAX(m.id) FROM messages m
         WHERE m.room_id = rooms.id
           AND (m.verb IN ('comment', 'comment_deleted')
                OR (m.verb = 'system'
                    AND m.system_message NOT IN ('message_deleted', 'message_edited', 'reaction_revoked')))), 0);
    """,
]


def apply(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns it. Each step is its own transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(STEPS):
        raise RuntimeError(
            f"database schema version {version} is newer than this Parley ({len(STEPS)}); upgrade Parley"
        )
    for number, script in enumerate(STEPS[version:], start=version + 1):
        conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    return len(STEPS)
