"""SQL for users and groups. No rules here: callers decide who may do what."""
from __future__ import annotations

import sqlite3

from .records import User, UserId


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(UserId(row["id"]), row["display_name"], row["password_hash"], bool(row["is_admin"]))


def get_user(conn: sqlite3.Connection, user_id: str) -> User | None:
    return _user(conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone())


def list_users(conn: sqlite3.Connection, search: str = "") -> list[User]:
    rows = conn.execute(
        "SELECT * FROM users WHERE id LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\' ORDER BY id",
        (_like(search), _like(search)),
    )
    return [u for r in rows if (u := _user(r))]


def display_names(conn: sqlite3.Connection, user_ids: list[str]) -> dict[str, str]:
    """Display names of the given users that still exist."""
    if not user_ids:
        return {}
    marks = ",".join("?" * len(user_ids))
    rows = conn.execute(f"SELECT id, display_name FROM users WHERE id IN ({marks})", user_ids)
    return {r["id"]: r["display_name"] for r in rows}


def insert_user(conn: sqlite3.Connection, user_id: str, display_name: str, password_hash: str,
                is_admin: bool, now: int) -> None:
    conn.execute(
        "INSERT INTO users (id, display_name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?)",
        (user_id, display_name, password_hash, int(is_admin), now),
    )


def set_display_name(conn: sqlite3.Connection, user_id: str, display_name: str) -> None:
    conn.execute("UPDATE users SET display_name = ? WHERE id = ?", (display_name, user_id))


def set_password_hash(conn: sqlite3.Connection, user_id: str, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


def set_admin(conn: sqlite3.Connection, user_id: str, is_admin: bool) -> None:
    conn.execute("UPDATE users SET is_admin = ? WHERE id = ?", (int(is_admin), user_id))


def delete_user(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM users WHERE id = ?", (user_id,))


def group_exists(conn: sqlite3.Connection, group_id: str) -> bool:
    return conn.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is not None


def list_groups(conn: sqlite3.Connection, search: str = "") -> list[str]:
    rows = conn.execute("SELECT id FROM groups WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (_like(search),))
    return [r["id"] for r in rows]


def insert_group(conn: sqlite3.Connection, group_id: str) -> None:
    conn.execute("INSERT INTO groups (id) VALUES (?)", (group_id,))


def group_members(conn: sqlite3.Connection, group_id: str) -> list[str]:
    rows = conn.execute("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id", (group_id,))
    return [r["user_id"] for r in rows]


def user_groups(conn: sqlite3.Connection, user_id: str) -> list[str]:
    rows = conn.execute("SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id", (user_id,))
    return [r["group_id"] for r in rows]


def add_member(conn: sqlite3.Connection, group_id: str, user_id: str) -> None:
    conn.execute("INSERT OR IGNORE INTO group_members (group_id, user_id) VALUES (?, ?)", (group_id, user_id))


def remove_member(conn: sqlite3.Connection, group_id: str, user_id: str) -> None:
    conn.execute("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", (group_id, user_id))


def get_secret(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
    return row["value"] if row else None


def put_secret(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, value))


def _like(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def any_user(conn: sqlite3.Connection) -> bool:
    """Whether at least one account exists (first-run setup is open only while none does)."""
    return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
