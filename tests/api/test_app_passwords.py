"""App passwords (Nextcloud's /core/getapppassword and /core/apppassword): created with the
account password, accepted by Basic auth without argon2, revoked by the client, by the CLI, or by
a password change that asks for it; the web client's cookie login keeps wanting the real password."""
import os
import subprocess
import sys

import httpx

from server.domain import accounts

from .. import pg_support
from ..support import PASSWORD, serving
from .test_logins import config_for

USER_PATH = "/ocs/v2.php/cloud/user"
OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}
FAST_HASHING = {"PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}


async def call(server, method, path, auth, **kwargs):
    async with httpx.AsyncClient(base_url=server.url, auth=auth) as client:
        response = await client.request(method, path, headers={**OCS, **kwargs.pop("headers", {})}, **kwargs)
    assert response.status_code < 500, response.text
    return response


async def new_app_password(server, user="alice", password=PASSWORD, v=2):
    r = await call(server, "GET", f"/ocs/v{v}.php/core/getapppassword", (user, password),
                   headers={"User-Agent": "Nextcloud-Talk-Test/1.0"})
    assert r.status_code == 200, r.text
    token = r.json()["ocs"]["data"]["apppassword"]
    assert len(token) == 72 and token.isalnum()
    return token


def parley(data_dir, *args):
    env = {**os.environ, **FAST_HASHING, **pg_support.env_for_data_dir(data_dir)}   # this mode's database
    env.pop("PARLEY_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "server", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, env=env, timeout=60)


async def test_an_app_password_logs_in_without_argon2_and_is_revoked_by_its_client(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:
        await accounts.add_user(server.ctx, "alice", PASSWORD)
        token = await new_app_password(server)
        assert token != await new_app_password(server, v=1)           # both OCS prefixes, fresh each time
        hashed = server.ctx.passwords.workers.completed
        server.ctx.passwords.forget_user("alice")                     # no cached verification to lean on
        r = await call(server, "GET", USER_PATH, ("alice", token))
        assert r.status_code == 200 and r.json()["ocs"]["data"]["id"] == "alice"
        assert server.ctx.passwords.workers.completed == hashed      # checked with HMAC only
        assert (await call(server, "GET", USER_PATH, ("bob", token))).status_code == 401   # alice's only

        r = await call(server, "GET", "/ocs/v2.php/core/getapppassword", ("alice", token))
        assert r.status_code == 403                                   # an app password cannot mint more
        r = await call(server, "DELETE", "/ocs/v2.php/core/apppassword", ("alice", PASSWORD))
        assert r.status_code == 403                                   # no app password in use
        r = await call(server, "DELETE", "/ocs/v2.php/core/apppassword", ("alice", token))
        assert r.status_code == 200 and r.json()["ocs"]["data"] == []
        assert (await call(server, "GET", USER_PATH, ("alice", token))).status_code == 401
        assert (await call(server, "GET", USER_PATH, ("alice", PASSWORD))).status_code == 200


async def test_a_password_change_keeps_app_passwords_unless_asked_to_revoke_them(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:
        await accounts.add_user(server.ctx, "admin", "admin", admin=True)
        await accounts.add_user(server.ctx, "alice", PASSWORD)
        token = await new_app_password(server)
        assert (await call(server, "GET", USER_PATH, ("alice", token))).status_code == 200
        r = await call(server, "PUT", "/ocs/v2.php/cloud/users/alice", ("admin", "admin"),
                       data={"key": "password", "value": "second"})
        assert r.status_code == 200
        assert (await call(server, "GET", USER_PATH, ("alice", PASSWORD))).status_code == 401
        assert (await call(server, "GET", USER_PATH, ("alice", token))).status_code == 200   # kept

        result = parley(tmp_path, "user", "passwd", "alice", "--password", "third", "--revoke-app-passwords")
        assert result.returncode == 0, result.stderr
        assert "app passwords revoked" in result.stdout
        assert (await call(server, "GET", USER_PATH, ("alice", token))).status_code == 401   # at once
        assert (await call(server, "GET", USER_PATH, ("alice", "third"))).status_code == 200


async def test_the_cli_lists_and_revokes_app_passwords(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:
        await accounts.add_user(server.ctx, "alice", PASSWORD)
        first, second = await new_app_password(server), await new_app_password(server)
        assert (await call(server, "GET", USER_PATH, ("alice", first))).status_code == 200
        listing = parley(tmp_path, "user", "apppasswords", "alice")
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        assert len(lines) == 2 and all("Nextcloud-Talk-Test/1.0" in line for line in lines)
        assert "last used never" in lines[1] and "last used never" not in lines[0]
        assert first not in listing.stdout                            # tokens are never shown again
        first_id = lines[0].split("\t")[0]

        revoked = parley(tmp_path, "user", "apppasswords", "alice", "--revoke", first_id)
        assert revoked.returncode == 0 and f"revoked app password {first_id}" in revoked.stdout
        assert len(revoked.stdout.splitlines()) == 2                  # the message, then what is left
        assert (await call(server, "GET", USER_PATH, ("alice", first))).status_code == 401
        assert (await call(server, "GET", USER_PATH, ("alice", second))).status_code == 200

        missing = parley(tmp_path, "user", "apppasswords", "alice", "--revoke", first_id)
        assert missing.returncode == 1 and "no app password" in missing.stderr
        assert "Traceback" not in missing.stderr
        unknown = parley(tmp_path, "user", "apppasswords", "nobody")
        assert unknown.returncode == 1 and "does not exist" in unknown.stderr
        everything = parley(tmp_path, "user", "apppasswords", "alice", "--revoke-all")
        assert everything.returncode == 0 and "revoked 1 app password(s)" in everything.stdout
        assert (await call(server, "GET", USER_PATH, ("alice", second))).status_code == 401


async def test_the_web_login_wants_the_account_password_not_an_app_password(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:
        await accounts.add_user(server.ctx, "alice", PASSWORD)
        token = await new_app_password(server)
        assert (await call(server, "GET", USER_PATH, ("alice", token))).status_code == 200   # cached now
        r = await call(server, "POST", "/login", None, data={"user": "alice", "password": token})
        assert r.status_code == 401
        r = await call(server, "POST", "/login", None, data={"user": "alice", "password": PASSWORD})
        assert r.status_code == 200


async def test_app_password_endpoints_need_a_login(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:
        for method, path in (("GET", "/ocs/v2.php/core/getapppassword"), ("DELETE", "/ocs/v1.php/core/apppassword")):
            r = await call(server, method, path, None)
            assert r.status_code == 401
