"""First-run setup: while no account exists, `parley serve` prints a one-time URL whose token
lets the person who installed Parley create the first administrator from the browser.

The token is 256 random bits, lives only in this process's memory (a restart prints a new one),
is compared in constant time, and stops working once an account exists or an hour has passed.
The token travels in the URL fragment (`/setup#<token>`), so it never reaches a proxy's access log.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3

from storage import accounts as accounts_db
from storage.records import User, UserId

from . import accounts, web_logins
from .context import Ctx
from .errors import Forbidden, NotFound

SETUP_LIFETIME = 3600


class SetupClosed(NotFound):
    default_message = "first-run setup is closed: an account exists already; log in instead"


class SetupTokenRefused(Forbidden):
    default_message = ("the setup link is missing its token, is wrong or has expired; "
                       "restart `parley serve` for a new one")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class FirstRunSetup:
    """The setup token of this process: none until `open()`, none again after `close()`."""

    def __init__(self) -> None:
        self.token: str | None = None   # kept to print the URL; checks compare digests
        self._digest = b""
        self._expires_at = 0

    def open(self, now: int) -> str:
        self.token = secrets.token_urlsafe(32)
        self._digest = _digest(self.token)
        self._expires_at = now + SETUP_LIFETIME
        return self.token

    def close(self) -> None:
        self.token = None
        self._digest = b""

    def is_open(self, now: int) -> bool:
        return self.token is not None and now < self._expires_at

    def check(self, token: str | None, now: int) -> None:
        if self.token is None:
            raise SetupClosed()
        # Digests of equal length, compared in constant time: no timing tells a prefix apart.
        if not hmac.compare_digest(_digest(token or ""), self._digest) or now >= self._expires_at:
            raise SetupTokenRefused()


async def open_if_no_accounts(ctx: Ctx, setup: FirstRunSetup) -> str | None:
    """At start-up: open setup (returns the token) when the database holds no account."""
    if await ctx.db.run(accounts_db.any_user):
        return None
    return setup.open(ctx.now())


async def create_first_admin(ctx: Ctx, setup: FirstRunSetup, token: str | None, user_id: str | None,
                             display_name: str | None, password: str | None) -> tuple[str, User]:
    """Create the first administrator and log them in; returns (login cookie, user)."""
    setup.check(token, ctx.now())
    # Bad input does not use up the link: the person fixes the form and submits again.
    user_id = accounts.valid_id(user_id, "user id")
    name = accounts.valid_display_name(display_name, user_id)
    password_hash = await ctx.passwords.hash(accounts.valid_password(password))
    setup.check(token, ctx.now())   # hashing took a while: another request may have finished setup

    def unit(conn: sqlite3.Connection) -> User:
        # Checked inside the transaction: two submissions racing each other create one account.
        if accounts_db.any_user(conn):
            raise SetupClosed()
        accounts_db.insert_user(conn, user_id, name, password_hash, True, ctx.now())
        return User(UserId(user_id), name, password_hash, True)
    try:
        user = await ctx.db.run(unit)
    except SetupClosed:
        setup.close()
        raise
    setup.close()
    return await web_logins.start_login(ctx, user), user
