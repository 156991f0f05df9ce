"""Who is calling: Basic auth for users, the cookie session for everyone, the OCS-APIRequest check.

Order (Talk's): invalid or missing credentials on a login-required endpoint → 401 first, then a
missing `OCS-APIRequest: true` → plain 412. Parley answers 401 for *wrong* credentials on public
endpoints too, instead of silently treating the caller as a guest.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from quart import g, request

from .domain import logins
from .domain.context import Actor, Ctx
from .domain.errors import NotLoggedIn

COOKIE_NAME = "parley_session"


class CsrfFailed(Exception):
    """Raised when a request lacks `OCS-APIRequest: true`; answered with a plain 412."""


def _basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise NotLoggedIn("malformed Basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise NotLoggedIn("malformed Basic credentials")
    return user, password


def cookie_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _cookie() -> str:
    """The caller's cookie value; a fresh one (remembered in `g`, set on the response by the
    endpoint wrapper) when the request carries none."""
    value = request.cookies.get(COOKIE_NAME)
    if value and 20 <= len(value) <= 128:
        return value
    if "new_cookie" not in g:
        g.new_cookie = secrets.token_urlsafe(32)
    return g.new_cookie


def client_address() -> str:
    return request.remote_addr or ""


async def current_actor(ctx: Ctx, *, login_required: bool, csrf: bool = True) -> Actor:
    user_id, app_password_id = None, None
    credentials = _basic_credentials()
    if credentials is not None:
        login = await logins.authenticate(ctx, credentials[0], credentials[1], client_address())
        if login is None:
            raise NotLoggedIn("wrong user name or password")
        user_id, app_password_id = login.user.id, login.app_password_id
    elif "web_user" in g:   # a browser login (server/routes/web_login.py) already resolved the user
        user_id = g.web_user
    if login_required and user_id is None:
        raise NotLoggedIn()
    if csrf and request.headers.get("OCS-APIRequest", "").lower() != "true":
        raise CsrfFailed()
    return Actor(user_id=user_id, cookie_hash=cookie_hash(_cookie()), client=client_address(),
                 app_password_id=app_password_id)
