"""Test helpers: a real Parley on an ephemeral port, and one cookie-jar client per actor."""
from __future__ import annotations

import atexit
import functools
import shutil
import ssl
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import trio

from server.app import create_app
from server.config import Config
from server.runner import listen_options, serve_app

API = "/apps/spreed/api/v1"
PASSWORD = "123456"


class ManualClock:
    """Real time plus an offset that tests push forward to simulate idle minutes."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One default TLS context for every test client: building one loads the CA store, which
    costs ~100 ms, and each Actor would otherwise build its own (the tests speak plain HTTP)."""
    return ssl.create_default_context()


@dataclass
class Reply:
    status: int
    body: Any
    headers: httpx.Headers
    text: str

    @property
    def data(self) -> Any:
        return self.body["ocs"]["data"]

    @property
    def meta(self) -> dict:
        return self.body["ocs"]["meta"]


@dataclass
class Actor:
    """One cookie jar and (for users) Basic credentials, like one Behat actor."""
    server: "RunningServer"
    name: str
    user: str | None
    password: str = PASSWORD
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        auth = (self.user, self.password) if self.user else None
        self.client = httpx.AsyncClient(base_url=self.server.url, auth=auth, timeout=90,
                                        verify=self.server.ssl_context or _tls_context(),
                                        headers={"OCS-APIRequest": "true", "Accept": "application/json"})

    async def request(self, method: str, path: str, *, v: int = 2, params: dict | None = None,
                      json: Any = None, headers: dict | None = None, prefix: str | None = None,
                      raw_body: str | bytes | None = None, **form: Any) -> Reply:
        """`json=` sends a JSON body, `raw_body=` exactly these bytes, anything else a form body."""
        url = (prefix if prefix is not None else f"/ocs/v{v}.php{API}") + path
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if raw_body is not None:
            kwargs["content"] = raw_body
        elif json is not None:
            kwargs["json"] = json
        elif form:
            kwargs["data"] = {k: v for k, v in form.items()}
        response = await self.client.request(method, url, **kwargs)
        body: Any = None
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
        assert response.status_code < 500, f"{method} {url} gave {response.status_code}: {response.text}"
        return Reply(response.status_code, body, response.headers, response.text)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Reply:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Reply:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.request("DELETE", path, **kw)

    # -- the Behat steps used across the scenario tests --------------------------------------

    async def create_room(self, room_type: int, invite: str = "", name: str = "", expect: int = 201) -> str:
        r = await self.post("/room", roomType=room_type, invite=invite, roomName=name)
        assert r.status == expect, r.text
        return r.data["token"]

    async def rooms(self) -> list[dict]:
        r = await self.get("/room")
        assert r.status == 200, r.text
        return r.data

    async def join(self, token: str, password: str | None = None) -> Reply:
        form = {} if password is None else {"password": password}
        return await self.post(f"/room/{token}/participants/active", **form)

    async def room_table(self) -> list[tuple[str, int, int, str]]:
        """`is participant of the following rooms` (talk-api-v1.md §12): per room, the token, the
        type, the caller's participantType and the participants' display names, sorted, joined."""
        return [(r["token"], r["type"], r["participantType"], participant_names(r)) for r in await self.rooms()]

    async def room_tokens(self) -> list[str]:
        return [r["token"] for r in await self.rooms()]

    async def room(self, token: str) -> Reply:
        return await self.get(f"/room/{token}")

    async def aclose(self) -> None:
        await self.client.aclose()


ROLES = ("owner", "moderator", "user", "stranger")


async def room_with_role(owner: Actor, other: Actor, role: str, room_type: int = 3, name: str = "room") -> str:
    """`owner` creates a room; `other` becomes what `role` says: "moderator" (invited, then
    promoted), "user" (invited), "stranger" (nothing) or "owner" (`other` is `owner`)."""
    token = await owner.create_room(room_type, name=name)
    if role in ("moderator", "user"):
        r = await owner.post(f"/room/{token}/participants", newParticipant=other.user)
        assert r.status == 200, r.text
    if role == "moderator":
        r = await owner.post(f"/room/{token}/moderators", participant=other.user)
        assert r.status == 200, r.text
    return token


def participant_names(room: dict) -> str:
    """The display names of a room object's `participants` map, sorted and joined like Behat does."""
    members = room["participants"] or {}
    return ", ".join(sorted(p["name"] for p in members.values()))


@dataclass
class RunningServer:
    url: str
    app: Any
    clock: ManualClock
    actors: list[Actor] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)   # with TLS and a redirect listener: [https, http]
    ssl_context: ssl.SSLContext | None = None          # trusting the test CA, for HTTPS servers (tests/deploy)

    @property
    def ctx(self):
        return self.app.parley_ctx

    def actor(self, name: str, user: str | None = None, password: str = PASSWORD) -> Actor:
        """`user=None` with a name starting with "guest" gives an anonymous guest."""
        if user is None and not name.startswith("guest"):
            user = name
        actor = Actor(self, name, user, password)
        self.actors.append(actor)
        return actor


def test_config(data_dir: str, **overrides: Any) -> Config:
    from . import pg_support
    if pg_support.wanted() and "database_url" not in overrides:   # PARLEY_TEST_DB=postgres
        overrides["database_url"] = pg_support.url_for_data_dir(data_dir)
    return Config(bind="127.0.0.1:0", data_dir=data_dir, argon2_time_cost=1, argon2_memory_kib=1024,
                  **overrides)


@functools.cache
def _migrated_template() -> Path:
    """An empty SQLite database at the newest schema, made once per test process (so the
    migrations still run, from scratch, in every session and on every xdist worker)."""
    from storage.db import connect
    directory = tempfile.mkdtemp(prefix="parley-template-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = Path(directory) / "parley.sqlite3"
    connect(path).close()   # closing checkpoints the WAL: the one file is the whole database
    return path


def seed_sqlite(config: Config) -> None:
    """Give a SQLite data dir that has no database yet a copy of the migrated template: a file
    copy costs ~1 ms where migrating a new file costs ~25 ms of fsync-bound wall time (measured;
    paid by every API test). An existing database (a restart test) is left alone, as is
    PostgreSQL. The copy is byte-for-byte what the server's own first start would have made,
    bar the server secret, which the server adds at start either way."""
    if config.database_url or config.db_path.exists():
        return
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_template(), config.db_path)


async def start_server(nursery: trio.Nursery, config: Config, stop: trio.Event,
                       clock: ManualClock | None = None, *, housekeeping_timer: bool = False) -> RunningServer:
    """Tests drive housekeeping by hand (`housekeeping.run_once`) unless they ask for the timer.
    A new SQLite data dir starts from the migrated template (`seed_sqlite`)."""
    clock = clock or ManualClock()
    seed_sqlite(config)
    app = create_app(config, clock=clock, housekeeping_timer=housekeeping_timer)
    binds = await nursery.start(partial(serve_app, app, config.bind, shutdown_trigger=stop.wait,
                                        **listen_options(config)))
    return RunningServer(url=binds[0], app=app, clock=clock, binds=binds)


@asynccontextmanager
async def serving(config: Config, clock: ManualClock | None = None, *,
                  housekeeping_timer: bool = False) -> AsyncIterator[RunningServer]:
    """A server for the duration of a `with` block (for restart tests: a second one on the same
    data dir). Leaving the block stops it cleanly (the shutdown housekeeping round runs)."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running = await start_server(nursery, config, stop, clock, housekeeping_timer=housekeeping_timer)
        try:
            yield running
        finally:
            for actor in running.actors:
                await actor.aclose()
            stop.set()


async def add_background_users(server: RunningServer) -> None:
    """The Behat background: participant1-3 (display names participantN-displayname), an admin,
    and group attendees1 holding participant2."""
    from server.domain import accounts
    ctx = server.ctx
    await accounts.add_user(ctx, "admin", "admin", "admin", admin=True)
    for n in (1, 2, 3):
        await accounts.add_user(ctx, f"participant{n}", PASSWORD, f"participant{n}-displayname")
    await accounts.add_group(ctx, "attendees1")
    await accounts.set_membership(ctx, "attendees1", "participant2", True)
