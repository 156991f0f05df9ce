"""SQL for browser logins: sha256(cookie) → user, with an expiry. No rules here."""
from __future__ import annotations

import sqlite3

from .records import User, UserId


def insert(conn: sqlite3.Connection, token_hash: str, user_id: str, now: int, expires_at: int) -> None:
    conn.execute("INSERT INTO web_logins (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                 (token_hash, user_id, now, expires_at))


def user_for(conn: sqlite3.Connection, token_hash: str, now: int) -> User | None:
    """The user of an unexpired login, or None."""
    row = conn.execute(
        """SELECT u.* FROM web_logins w JOIN users u ON u.id = w.user_id
           WHERE w.token_hash = ? AND w.expires_at > ?""", (token_hash, now)).fetchone()
    if row is None:
        return None
    return User(UserId(row["id"]), row["display_name"], row["password_hash"], bool(row["is_admin"]))


def delete(conn: sqlite3.Connection, token_hash: str) -> None:
    conn.execute("DELETE FROM web_logins WHERE token_hash = ?", (token_hash,))


def delete_of_user(conn: sqlite3.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM web_logins WHERE user_id = ?", (user_id,))


def delete_expired(conn: sqlite3.Connection, now: int) -> None:
    conn.execute("DELETE FROM web_logins WHERE expires_at <= ?", (now,))
