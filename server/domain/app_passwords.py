"""App passwords: what a Talk client trades the account password for after its first login.

Nextcloud clients call `GET /ocs/v2.php/core/getapppassword` with the account password and use
the answer instead from then on. An app password is 72 random letters and digits (Nextcloud's
shape, ~428 bits); the database keeps only HMAC-SHA256(server secret, token), so checking one is
a keyed hash and an indexed look-up, never argon2, and a copy of the database grants no logins
(the secret is needed to turn a guess into a row). Comparing through the index leaks nothing
useful: an attacker cannot choose HMAC outputs without the secret.

Each lives until revoked: by itself (`DELETE /core/apppassword`), by `parley user apppasswords`,
by a password change with `--revoke-app-passwords`, or with its user.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import string

from storage import accounts as accounts_db
from storage import app_passwords as app_passwords_db
from storage.app_passwords import AppPassword
from storage.records import User

from .context import Actor, Ctx
from .errors import AppPasswordNotFound, Forbidden, NotLoggedIn, UserNotFound

TOKEN_LENGTH = 72
_ALPHABET = string.ascii_letters + string.digits
_SHAPE = re.compile(f"[A-Za-z0-9]{{{TOKEN_LENGTH}}}")
MAX_NAME = 200


def looks_like_app_password(password: str) -> bool:
    return _SHAPE.fullmatch(password) is not None


def token_hash(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


async def create(ctx: Ctx, actor: Actor, name: str) -> str:
    """A new app password for the calling user; returns the token (shown once, never stored).
    Raises Forbidden when the caller already authenticated with an app password (Nextcloud does
    the same: an app password cannot mint others)."""
    if actor.user_id is None:
        raise NotLoggedIn()
    if actor.app_password_id is not None:
        raise Forbidden("this request already uses an app password")
    token = "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))
    digest, user_id, now = token_hash(ctx.secret, token), actor.user_id, ctx.now()

    def unit(conn: sqlite3.Connection) -> None:
        if accounts_db.get_user(conn, user_id) is None:   # deleted since the request was authenticated
            raise NotLoggedIn()
        app_passwords_db.insert(conn, user_id, digest, name.strip()[:MAX_NAME], now)
    await ctx.db.run(unit)
    return token


async def check(ctx: Ctx, user_id: str, password: str) -> tuple[User, int] | None:
    """(user, app password id) when `password` is an app password of `user_id`; else None.
    Costs no argon2. Records when it was last used (only on cache misses, so rarely)."""
    if not ctx.secret or not looks_like_app_password(password):
        return None
    digest, now = token_hash(ctx.secret, password), ctx.now()

    def unit(conn: sqlite3.Connection) -> tuple[User, int] | None:
        found = app_passwords_db.find(conn, user_id, digest)
        if found is not None:
            app_passwords_db.touch(conn, found[1], now)
        return found
    return await ctx.db.run(unit)


async def revoke_current(ctx: Ctx, actor: Actor) -> None:
    """Revoke the app password this request authenticated with (Forbidden when it used none)."""
    if actor.user_id is None:
        raise NotLoggedIn()
    if actor.app_password_id is None:
        raise Forbidden("this request does not use an app password")
    user_id, app_password_id = actor.user_id, actor.app_password_id
    await ctx.db.run(lambda conn: app_passwords_db.delete(conn, user_id, app_password_id))
    ctx.passwords.forget_user(user_id)   # its cached verification must go at once


async def list_of(ctx: Ctx, user_id: str) -> list[AppPassword]:
    def unit(conn: sqlite3.Connection) -> list[AppPassword]:
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        return app_passwords_db.of_user(conn, user_id)
    return await ctx.db.run(unit)


async def revoke(ctx: Ctx, user_id: str, app_password_id: int) -> None:
    def unit(conn: sqlite3.Connection) -> None:
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        if not app_passwords_db.delete(conn, user_id, app_password_id):
            raise AppPasswordNotFound(f"user {user_id} has no app password {app_password_id}")
    await ctx.db.run(unit)
    ctx.passwords.forget_user(user_id)


async def revoke_all(ctx: Ctx, user_id: str) -> int:
    def unit(conn: sqlite3.Connection) -> int:
        if accounts_db.get_user(conn, user_id) is None:
            raise UserNotFound(f"user {user_id} does not exist")
        return app_passwords_db.delete_of_user(conn, user_id)
    count = await ctx.db.run(unit)
    ctx.passwords.forget_user(user_id)
    return count
