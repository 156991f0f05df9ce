"""Test helpers: a real Parley on an ephemeral port, and one cookie-jar client per actor."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import trio

from server.app import create_app
from server.config import Config
from server.runner import serve_app

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
                                        headers={"OCS-APIRequest": "true", "Accept": "application/json"})

    async def request(self, method: str, path: str, *, v: int = 2, params: dict | None = None,
                      json: Any = None, headers: dict | None = None, prefix: str | None = None,
                      **form: Any) -> Reply:
        url = (prefix if prefix is not None else f"/ocs/v{v}.php{API}") + path
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if json is not None:
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

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class RunningServer:
    url: str
    app: Any
    clock: ManualClock
    actors: list[Actor] = field(default_factory=list)

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
    return Config(bind="127.0.0.1:0", data_dir=data_dir, argon2_time_cost=1, argon2_memory_kib=1024,
                  **overrides)


async def start_server(nursery: trio.Nursery, config: Config, stop: trio.Event) -> RunningServer:
    clock = ManualClock()
    app = create_app(config, clock=clock, housekeeping_timer=False)
    binds = await nursery.start(partial(serve_app, app, config.bind, shutdown_trigger=stop.wait))
    return RunningServer(url=binds[0], app=app, clock=clock)
