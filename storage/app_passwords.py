"""SQL for app passwords: HMAC(token) → user. No rules here."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .records import User, UserId


@dataclass(frozen=True, slots=True)
class AppPassword:
    id: int
    user_id: str
    name: str
    created_at: int
    last_used_at: int


def insert(conn: sqlite3.Connection, user_id: str, token_hash: str, name: str, now: int) -> int:
    cursor = conn.execute("INSERT INTO app_passwords (user_id, token_hash, name, created_at) VALUES (?, ?, ?, ?)",
                          (user_id, token_hash, name, now))
    return int(cursor.lastrowid)


def find(conn: sqlite3.Connection, user_id: str, token_hash: str) -> tuple[User, int] | None:
    """The user and the app password's id, when `token_hash` is an app password of `user_id`."""
    row = conn.execute(
        """SELECT u.*, a.id AS app_password_id FROM app_passwords a JOIN users u ON u.id = a.user_id
           WHERE a.token_hash = ? AND a.user_id = ?""", (token_hash, user_id)).fetchone()
    if row is None:
        return None
    user = User(UserId(row["id"]), row["display_name"], row["password_hash"], bool(row["is_admin"]))
    return user, int(row["app_password_id"])


def touch(conn: sqlite3.Connection, app_password_id: int, now: int) -> None:
    conn.execute("UPDATE app_passwords SET last_used_at = ? WHERE id = ?", (now, app_password_id))


def of_user(conn: sqlite3.Connection, user_id: str) -> list[AppPassword]:
    rows = conn.execute("SELECT id, user_id, name, created_at, last_used_at FROM app_passwords "
                        "WHERE user_id = ? ORDER BY id", (user_id,))
    return [AppPassword(r["id"], r["user_id"], r["name"], r["created_at"], r["last_used_at"]) for r in rows]


def delete(conn: sqlite3.Connection, user_id: str, app_password_id: int) -> bool:
    cursor = conn.execute("DELETE FROM app_passwords WHERE id = ? AND user_id = ?", (app_password_id, user_id))
    return cursor.rowcount > 0


def delete_of_user(conn: sqlite3.Connection, user_id: str) -> int:
    return conn.execute("DELETE FROM app_passwords WHERE user_id = ?", (user_id,)).rowcount
