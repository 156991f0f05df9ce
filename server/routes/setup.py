"""First-run setup in the browser: GET /setup serves the web client (which reads the token from
the URL fragment and shows the form), POST /setup creates the first administrator and logs them
in. Plain JSON like /login (not OCS); the same CSRF rule: `OCS-APIRequest: true` is required.
See server/domain/first_run.py for the token's rules."""
from __future__ import annotations

from quart import Quart, Response, current_app, request

from storage import accounts as accounts_db

from .. import ocs
from ..domain import first_run, web_logins
from ..params import Params
from ._endpoint import ctx
from .web import index
from .web_login import LOGIN_COOKIE, _json, _require_api_header, _user_json


def _setup(app: Quart) -> first_run.FirstRunSetup:
    return app.first_run   # type: ignore[attr-defined]


async def setup_page() -> Response:
    c = ctx()
    if not _setup(current_app).is_open(c.now()) or await c.db.run(accounts_db.any_user):
        return ocs.plain_error(404, first_run.SetupClosed.default_message)
    return await index()


async def create_admin() -> Response:
    _require_api_header()
    params = await Params.load()
    cookie, user = await first_run.create_first_admin(
        ctx(), _setup(current_app), params.str("token"), params.str("userId"),
        params.str("displayName"), params.str("password"))
    response = _json(_user_json(user), 201)
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=web_logins.LOGIN_LIFETIME, httponly=True,
                        samesite="Strict", path="/", secure=request.scheme == "https")
    return response


def register_setup(app: Quart) -> None:
    app.first_run = first_run.FirstRunSetup()  # type: ignore[attr-defined]
    app.add_url_rule("/setup", "web_setup_page", setup_page, methods=["GET"])
    app.add_url_rule("/setup", "web_setup", create_admin, methods=["POST"])
