"""The web client's login and pages, over real HTTP (no browser needed)."""
from __future__ import annotations

import hashlib

import httpx

from server.domain import accounts
from tests.support import PASSWORD

API = "/ocs/v2.php/apps/spreed/api/v1"
OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}


def browser(server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=30)


async def log_in(client, user="participant1", password=PASSWORD):
    return await client.post("/login", data={"user": user, "password": password}, headers=OCS)


async def test_login_sets_strict_httponly_cookie_that_authenticates_ocs_requests(users):
    async with browser(users) as client:
        r = await log_in(client)
        assert r.status_code == 200
        assert r.json() == {"loggedIn": True, "userId": "participant1",
                            "displayName": "participant1-displayname", "isAdmin": False}
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("parley_login=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        rooms = await client.get(API + "/room", headers=OCS)
        assert rooms.status_code == 200
        assert rooms.json()["ocs"]["data"] == []
        status = await client.get("/login/status")
        assert status.json()["userId"] == "participant1"


async def test_login_accepts_a_json_body(users):
    async with browser(users) as client:
        r = await client.post("/login", json={"user": "participant2", "password": PASSWORD}, headers=OCS)
        assert r.status_code == 200
        assert r.json()["userId"] == "participant2"


async def test_cookie_without_the_api_header_is_not_a_login(users):
    """The OCS-APIRequest header stays required: it is the CSRF defence for cookie logins."""
    async with browser(users) as client:
        await log_in(client)
        r = await client.get(API + "/room", headers={"Accept": "application/json"})
        assert r.status_code == 401
        r = await client.post(API + "/room", data={"roomType": 3, "roomName": "x"})
        assert r.status_code == 401


async def test_login_needs_the_api_header(users):
    async with browser(users) as client:
        r = await client.post("/login", data={"user": "participant1", "password": PASSWORD})
        assert r.status_code == 412
        assert "set-cookie" not in r.headers


async def test_wrong_password_gives_plain_401_without_cookie(users):
    async with browser(users) as client:
        r = await log_in(client, password="wrong")
        assert r.status_code == 401
        assert r.json() == {"message": "wrong user name or password"}   # plain JSON, no OCS envelope
        assert "set-cookie" not in r.headers
        r = await log_in(client, user="nobody")
        assert r.status_code == 401
        r = await client.post("/login", data={"user": "participant1"}, headers=OCS)
        assert r.status_code == 400
        assert "ocs" not in r.json()


async def test_repeated_wrong_passwords_are_throttled(users):
    async with browser(users) as client:
        statuses = [(await log_in(client, password=f"guess{i}")).status_code for i in range(12)]
        assert statuses[0] == 401
        assert 429 in statuses
        assert "ocs" not in (await log_in(client, password="again")).json()


async def test_database_holds_only_the_cookie_hash(users):
    async with browser(users) as client:
        await log_in(client)
        value = client.cookies["parley_login"]

    def rows(conn):
        return [tuple(r) for r in conn.execute("SELECT token_hash, user_id FROM web_logins")]
    stored = await users.ctx.db.run(rows)
    assert stored == [(hashlib.sha256(value.encode()).hexdigest(), "participant1")]


async def test_logout_ends_the_login(users):
    async with browser(users) as client:
        await log_in(client)
        value = client.cookies["parley_login"]
        r = await client.post("/logout", headers=OCS)
        assert r.status_code == 200 and r.json() == {"loggedIn": False}
        assert (await client.get("/login/status")).json() == {"loggedIn": False}
    async with httpx.AsyncClient(base_url=users.url, cookies={"parley_login": value}) as replay:
        r = await replay.get(API + "/room", headers=OCS)
        assert r.status_code == 401


async def test_password_change_ends_browser_logins(users):
    async with browser(users) as client:
        await log_in(client)
        await accounts.set_password(users.ctx, "participant1", "a-new-password")
        r = await client.get(API + "/room", headers=OCS)
        assert r.status_code == 401


async def test_expired_login_is_refused(users):
    async with browser(users) as client:
        await log_in(client)
        users.clock.advance(15 * 24 * 3600)
        assert (await client.get("/login/status")).json() == {"loggedIn": False}
        assert (await client.get(API + "/room", headers=OCS)).status_code == 401


async def test_basic_auth_wins_over_the_login_cookie(users):
    async with browser(users) as client:
        await log_in(client, user="participant1")
        r = await client.get("/ocs/v2.php/cloud/user", headers=OCS, auth=("participant2", PASSWORD))
        assert r.json()["ocs"]["data"]["id"] == "participant2"


async def test_index_is_served_at_root_and_for_guest_links(server):
    async with browser(server) as client:
        root = await client.get("/")
        call = await client.get("/call/abcd2345")
        assert root.status_code == call.status_code == 200
        assert root.headers["content-type"].startswith("text/html")
        assert root.text == call.text
        assert '<script type="module" src="/web/js/main.js">' in root.text
        csp = root.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert root.headers["x-content-type-options"] == "nosniff"


async def test_assets_are_served_with_their_types(server):
    async with browser(server) as client:
        js = await client.get("/web/js/main.js")
        css = await client.get("/web/app.css")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_non_ocs_paths_never_answer_with_an_envelope(server):
    async with browser(server) as client:
        for path in ("/web/__init__.py", "/web/missing.js", "/web/../server/app.py", "/nope", "/call/UPPER"):
            r = await client.get(path, headers={"Accept": "application/json"})
            assert r.status_code == 404, path
            assert "ocs" not in r.text, path
        r = await client.get("/login")
        assert r.status_code == 405 and r.content == b""
