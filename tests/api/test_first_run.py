"""First-run setup: the one-time /setup token that creates the first administrator."""
import httpx
import trio

from server.domain.first_run import SETUP_LIFETIME
from server.runner import setup_url
from tests.support import PASSWORD, RunningServer

HEADERS = {"OCS-APIRequest": "true", "Accept": "application/json"}


def client(server: RunningServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=30)


async def post_setup(c: httpx.AsyncClient, token: str | None, user: str = "root", password: str = PASSWORD,
                     **extra) -> httpx.Response:
    body = {"userId": user, "displayName": "The Admin", "password": password, **extra}
    if token is not None:
        body["token"] = token
    return await c.post("/setup", json=body)


async def test_the_setup_link_creates_the_first_admin_and_logs_in(server):
    token = server.app.first_run.token
    assert token and len(token) >= 40
    async with client(server) as c:
        page = await c.get("/setup")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        r = await post_setup(c, token)
        assert r.status_code == 201, r.text
        assert r.json() == {"loggedIn": True, "userId": "root", "displayName": "The Admin", "isAdmin": True}
        assert "httponly" in r.headers["set-cookie"].lower()
        status = await c.get("/login/status")   # the cookie of the answer logs the browser in
        assert status.json()["userId"] == "root"
        rooms = await c.get("/ocs/v2.php/apps/spreed/api/v1/room")
        assert rooms.status_code == 200
    # The password works for Basic auth too; the admin can use the provisioning API.
    admin = server.actor("root")
    r = await admin.get("/users", prefix="/ocs/v2.php/cloud")
    assert r.status == 200, r.text
    assert server.app.first_run.token is None


async def test_setup_refuses_a_missing_or_wrong_token_and_works_only_once(server):
    token = server.app.first_run.token
    async with client(server) as c:
        for wrong in (None, "", "x", token[:-1], token + "x", token[::-1]):
            r = await post_setup(c, wrong)
            assert r.status_code == 403, (wrong, r.text)
            assert "setup link" in r.json()["message"]
        assert (await post_setup(c, token)).status_code == 201
        again = await post_setup(c, token, user="second")
        assert again.status_code == 404
        assert "already" in again.json()["message"]
        page = await c.get("/setup")
        assert page.status_code == 404
    users = await server.actor("root").get("/users", prefix="/ocs/v2.php/cloud")
    assert users.data["users"] == ["root"]


async def test_bad_input_does_not_use_up_the_link(server):
    token = server.app.first_run.token
    async with client(server) as c:
        assert (await post_setup(c, token, password="")).status_code == 400
        assert (await post_setup(c, token, user="no spaces")).status_code == 400
        r = await c.post("/setup", json={"token": token, "userId": ["a"], "password": PASSWORD})
        assert r.status_code == 400
        r = await c.post("/setup", json={"token": token, "userId": "root", "password": PASSWORD},
                         headers={"OCS-APIRequest": "false"})   # the CSRF header is required
        assert r.status_code == 412
        assert (await post_setup(c, token)).status_code == 201


async def test_the_link_expires_after_an_hour(server):
    token = server.app.first_run.token
    server.clock.advance(SETUP_LIFETIME + 1)
    async with client(server) as c:
        r = await post_setup(c, token)
        assert r.status_code == 403
        assert (await c.get("/setup")).status_code == 404


async def test_racing_submissions_create_exactly_one_admin(server):
    token = server.app.first_run.token
    statuses: list[int] = []
    async with client(server) as c:
        async def submit(user: str) -> None:
            statuses.append((await post_setup(c, token, user=user)).status_code)
        async with trio.open_nursery() as nursery:
            for n in range(4):
                nursery.start_soon(submit, f"admin{n}")
    assert sorted(statuses) == [201, 404, 404, 404]


async def test_no_setup_when_accounts_exist(users):
    # `users` added accounts after start-up: the page and the endpoint are closed all the same.
    async with client(users) as c:
        assert (await c.get("/setup")).status_code == 404
        r = await post_setup(c, users.app.first_run.token)
        assert r.status_code == 404


def test_setup_url_puts_the_token_in_the_fragment():
    assert setup_url("http://127.0.0.1:8080", "abc") == "http://127.0.0.1:8080/setup#abc"
    assert setup_url("http://0.0.0.0:8080", "abc", "https://talk.example.org/") == \
        "https://talk.example.org/setup#abc"
