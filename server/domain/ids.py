"""CSPRNG identifiers in the shapes Talk clients expect."""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
import string

from storage import rooms as rooms_db

TOKEN_ALPHABET = "abcdefghijkmnopqrstuvwxyz23456789"
TOKEN_LENGTH = 8
RESERVED_TOKENS = {"settings", "backend"}
SESSION_ALPHABET = string.ascii_letters + string.digits + "+/"
SESSION_LENGTH = 255


def new_room_token(conn: sqlite3.Connection) -> str:
    while True:
        token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
        if token not in RESERVED_TOKENS and not rooms_db.token_taken(conn, token):
            return token


def new_session_id(conn: sqlite3.Connection) -> str:
    while True:
        session = "".join(secrets.choice(SESSION_ALPHABET) for _ in range(SESSION_LENGTH))
        if not rooms_db.session_taken(conn, session):
            return session


def guest_actor_id(session_id: str) -> str:
    """How a guest appears in chat: sha1 of its Talk session id, 40 hex characters."""
    return hashlib.sha1(session_id.encode()).hexdigest()
