"""Browser login for the web client: POST /login, POST /logout, GET /login/status, and the hook
that turns a valid login cookie into the request's user for the OCS endpoints.

These are not OCS endpoints: they answer plain JSON, never an OCS envelope. Why a cookie is safe
here (SameSite=Strict, HttpOnly, OCS-APIRequest still required) is explained in docs/WEB-CLIENT.md.
"""
from __future__ import annotations

import json
from typing import Any

from quart import Quart, Response, g, request

from .. import ocs
from ..auth import CsrfFailed, client_address
from ..domain import web_logins
from ..params import Params
from ._endpoint import ctx

LOGIN_COOKIE = "parley_login"
_MAX_COOKIE = 128


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def _require_api_header() -> None:
    # Cross-site forms cannot set custom headers, and a cross-site fetch with one needs a CORS
    # preflight that Parley never grants: this header is the CSRF defence for cookie logins.
    if request.headers.get("OCS-APIRequest", "").lower() != "true":
        raise CsrfFailed()


def _login_cookie() -> str | None:
    value = request.cookies.get(LOGIN_COOKIE)
    return value if value and len(value) <= _MAX_COOKIE else None


def _user_json(user) -> dict[str, Any]:
    return {"loggedIn": True, "userId": user.id, "displayName": user.display_name, "isAdmin": user.is_admin}


async def login() -> Response:
    _require_api_header()
    params = await Params.load()
    cookie, user = await web_logins.log_in(ctx(), params.str("user"), params.str("password"), client_address())
    response = _json(_user_json(user))
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=web_logins.LOGIN_LIFETIME, httponly=True,
                        samesite="Strict", path="/", secure=request.scheme == "https")
    return response


async def logout() -> Response:
    _require_api_header()
    cookie = _login_cookie()
    if cookie is not None:
        await web_logins.log_out(ctx(), cookie)
    response = _json({"loggedIn": False})
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="Strict",
                           secure=request.scheme == "https")
    return response


async def login_status() -> Response:
    cookie = _login_cookie()
    user = await web_logins.user_of(ctx(), cookie) if cookie is not None else None
    return _json(_user_json(user) if user is not None else {"loggedIn": False})


async def resolve_login_cookie() -> None:
    """before_request: a valid login cookie makes an OCS request the user's (`g.web_user`, read by
    `auth.current_actor`). Only together with `OCS-APIRequest: true`, so no endpoint, not even one
    declared without the CSRF check, ever acts on a cookie a cross-site request carried along."""
    if not ocs.is_ocs_path(request.path):
        return
    cookie = _login_cookie()
    if cookie is None or request.headers.get("OCS-APIRequest", "").lower() != "true":
        return
    user = await web_logins.user_of(ctx(), cookie)
    if user is not None:
        g.web_user = user.id


def register_login(app: Quart) -> None:
    app.add_url_rule("/login", "web_login", login, methods=["POST"])
    app.add_url_rule("/logout", "web_logout", logout, methods=["POST"])
    app.add_url_rule("/login/status", "web_login_status", login_status, methods=["GET"])
    app.before_request(resolve_login_cookie)
