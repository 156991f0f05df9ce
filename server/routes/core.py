"""Nextcloud's app password endpoints (`/ocs/v{1,2}.php/core/…`), which Talk clients call after
their first Basic-auth login to stop sending the account password."""
from __future__ import annotations

from quart import request

from ..domain import app_passwords
from ..ocs import render
from ._endpoint import endpoint


@endpoint("/core/getapppassword", "GET", login=True)
async def get_app_password(ctx, actor, params):
    # Nextcloud names the app password after the client that asked (its User-Agent).
    name = request.headers.get("User-Agent", "") or "app password"
    return render({"apppassword": await app_passwords.create(ctx, actor, name)})


@endpoint("/core/apppassword", "DELETE", login=True)
async def delete_app_password(ctx, actor, params):
    await app_passwords.revoke_current(ctx, actor)
    return render()
