"""Browser logins for the web client: a password exchanged once for an opaque cookie.

The cookie value is 256 random bits; only its sha256 is stored, so a copy of the database grants
no logins. A login lasts `LOGIN_LIFETIME` seconds and ends earlier on logout, on a password change
or when the user is deleted (the row cascades). See docs/WEB-CLIENT.md for the CSRF reasoning.
"""
from __future__ import annotations

import hashlib
import secrets
import sqlite3

from storage import web_logins as web_logins_db
from storage.records import User

from . import accounts
from .context import Ctx
from .errors import BadParameter, NotLoggedIn

LOGIN_LIFETIME = 14 * 24 * 3600


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


async def log_in(ctx: Ctx, user_id: str | None, password: str | None, client: str) -> tuple[str, User]:
    """Check the password (throttled like Basic auth: TooManyAttempts after repeated failures) and
    store a new login. Returns (cookie value, user). Raises NotLoggedIn for wrong credentials."""
    if not user_id or not password:
        raise BadParameter("user and password are required")
    user = await accounts.authenticate(ctx, user_id, password, client)
    if user is None:
        raise NotLoggedIn("wrong user name or password")
    return await start_login(ctx, user), user


async def start_login(ctx: Ctx, user: User) -> str:
    """Store a new login for a user whose password was just checked (or just set); returns the
    cookie value."""
    cookie = secrets.token_urlsafe(32)
    now = ctx.now()

    def unit(conn: sqlite3.Connection) -> None:
        web_logins_db.delete_expired(conn, now)
        web_logins_db.insert(conn, _hash(cookie), user.id, now, now + LOGIN_LIFETIME)
    await ctx.db.run(unit)
    return cookie


async def user_of(ctx: Ctx, cookie: str) -> User | None:
    """The user a login cookie belongs to, or None when it is unknown or expired."""
    return await ctx.db.run(lambda conn: web_logins_db.user_for(conn, _hash(cookie), ctx.now()))


async def log_out(ctx: Ctx, cookie: str) -> None:
    await ctx.db.run(lambda conn: web_logins_db.delete(conn, _hash(cookie)))

