"""`PARLEY_TEST_DB=cluster`: the API suite against two Parley nodes on one PostgreSQL and one Redis.

In this mode `tests.support.start_server` (and so the `server` fixture, `serving` and everything
built on them) starts TWO nodes in the test process: the same config (one PostgreSQL database per
data dir, from tests/pg_support.py, and the session's redis-server), the same ManualClock. The
returned `RunningServer` stands for the pair: its `url` and `ctx` are node A's (the database and
the server secret are shared, so setup through `ctx` works on either), `nodes` holds both, and
every Actor's client sends its requests to the nodes in turn (`RoundRobin`, per actor: request n of
an actor goes to node n mod 2). WebSocket helpers take `server.next_url()`, which alternates too.

Tests that look at one node's in-memory state use the helpers at the end of this module, which
look at (or act on) every node. The few tests that are inherently single-process carry
`@pytest.mark.single_node(reason)`; tests/conftest.py skips them in this mode only.

One redis-server serves the whole pytest session (started on first use, like the PostgreSQL of
pg_support); it is emptied after every test (FLUSHALL), once the test's nodes have stopped.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

import httpx
import trio

if TYPE_CHECKING:
    from .support import RunningServer


def wanted() -> bool:
    return os.environ.get("PARLEY_TEST_DB", "sqlite") == "cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One redis-server in `directory` on a free loopback port; no persistence."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    async def start(self) -> None:
        self._spawn()
        with trio.fail_after(10):
            while not self._accepts():
                await trio.sleep(0.05)   # ok: test harness waiting for a child to listen

    def start_blocking(self) -> None:
        self._spawn()
        deadline = time.monotonic() + 10
        while not self._accepts():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not listen within 10 s")
            time.sleep(0.05)   # ok: test harness waiting for a child to listen

    def command(self, *words: str) -> bytes:
        """One command in RESP, its raw reply (the tests need FLUSHALL only: no client library)."""
        request = f"*{len(words)}\r\n".encode() + b"".join(
            f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(request)
            return s.recv(65536)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_redis: RedisServer | None = None
_redis_dir: str | None = None
_used = False


def redis_url() -> str:
    """The session's redis-server (started on first use)."""
    global _redis, _redis_dir, _used
    if _redis is None:
        _redis_dir = tempfile.mkdtemp(prefix="parley-redis-")
        _redis = RedisServer(_redis_dir)
        _redis.start_blocking()
    _used = True
    return _redis.url


def release() -> None:
    """End of a test (its nodes have stopped): nothing it left in Redis (leases, throttle
    counters) reaches the next test."""
    global _used
    if _redis is not None and _used:
        _redis.command("FLUSHALL")
    _used = False


def shutdown() -> None:
    global _redis
    if _redis is not None:
        _redis.stop()
        _redis = None
    if _redis_dir is not None:
        shutil.rmtree(_redis_dir, ignore_errors=True)


def is_session_redis(url: str) -> bool:
    """True for the URL `config_overrides` hands out (tests/cluster start their own pairs)."""
    return _redis is not None and url == _redis.url


def config_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """What `test_config` adds in cluster mode: the session's Redis. A test that asks for SQLite
    explicitly (`database_url=""`: it reads the file itself) gets one plain node."""
    if wanted() and "redis_url" not in overrides and overrides.get("database_url", None) != "":
        overrides["redis_url"] = redis_url()
    return overrides


# -- the client side ----------------------------------------------------------------------------


class RoundRobin(httpx.AsyncBaseTransport):
    """Sends each request to the next node in turn, like a load balancer with no stickiness. The
    Host header stays node A's (as a proxy keeps the public name); only the socket changes."""

    def __init__(self, urls: list[str], **options: Any) -> None:
        self._targets = [httpx.URL(url) for url in urls]
        self._turn = 0
        self._inner = httpx.AsyncHTTPTransport(**options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._targets[self._turn % len(self._targets)]
        self._turn += 1
        request.url = request.url.copy_with(host=target.host, port=target.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def transport(server: "RunningServer", verify: Any) -> httpx.AsyncBaseTransport | None:
    """The Actor client's transport: round-robin over the nodes, or None (httpx's own) for one."""
    if len(server.nodes) < 2:
        return None
    return RoundRobin([node.url for node in server.nodes], verify=verify)


# -- the server side ----------------------------------------------------------------------------


async def start_nodes(nursery: trio.Nursery, config: Any, stop: trio.Event, clock: Any, *,
                      housekeeping_timer: bool) -> "RunningServer":
    """Nodes A and B started together, as a deployment would (they take turns migrating the
    schema on PostgreSQL's advisory lock), one clock; the pair as one."""
    from .support import RunningServer, start_one
    started: list[Any] = [None, None]

    async def one(index: int) -> None:
        started[index] = await start_one(nursery, config, stop, clock, housekeeping_timer=housekeeping_timer)
    async with trio.open_nursery() as starting:
        starting.start_soon(one, 0)
        starting.start_soon(one, 1)
    a, b = started
    return RunningServer(url=a.url, app=a.app, clock=clock, binds=a.binds, nodes=[a, b])


def nodes_of(server: "RunningServer") -> list["RunningServer"]:
    """Every node of `server` (itself when it is a single node)."""
    return server.nodes or [server]


def chat_waiters(server: "RunningServer") -> int:
    return sum(n.ctx.hub.statistics().chat_waiters for n in nodes_of(server))


def pulls_waiting(server: "RunningServer") -> int:
    return sum(n.ctx.hub.mailboxes.pulls_waiting() for n in nodes_of(server))


def signaling_waiters(server: "RunningServer") -> int:
    return sum(n.ctx.hub.mailboxes.waiting() for n in nodes_of(server))


def websocket_connected(server: "RunningServer", talk_session: str) -> bool:
    return any(n.ctx.hub.websockets.connected(talk_session) for n in nodes_of(server))


async def housekeeping_round(server: "RunningServer", now: int) -> int:
    """One presence round across the cluster, as the timers would run it: every node stores the
    pings it gathered, then one node (the lease holder; here node A) expires idle sessions."""
    from server.domain import housekeeping
    nodes = nodes_of(server)
    for node in nodes[1:]:
        await housekeeping.run_once(node.ctx, now, expire=False)
    return await housekeeping.run_once(nodes[0].ctx, now)


async def node_where(server: "RunningServer", condition, seconds: float = 10) -> "RunningServer":
    """The first node (a single-node RunningServer, so actors made on it stay on it) for which
    `condition(node)` holds, waiting up to `seconds` for one (the state of interest may be on
    either node, and may arrive there over the bus)."""
    with trio.fail_after(seconds):
        while True:
            for node in nodes_of(server):
                if condition(node):
                    return node
            await trio.sleep(0.01)   # ok: test helper waiting for another task's progress


async def settle(server: "RunningServer") -> None:
    """Every node has heard every event published so far (a barrier through Redis on each)."""
    for node in server.nodes:
        assert await node.ctx.bus.barrier(5.0)


async def rings(server: "RunningServer", token: str, cursor: int, limit: int) -> list[Any]:
    """`hub.chat.recent_after` of every node that can serve it from its ring, once every node
    has heard every event. On one node the ring must hold it; in a cluster a node may have
    dropped its ring after a change made elsewhere (it then reads the database, never stale),
    so the check is that no ring that still serves holds an old rendering."""
    await settle(server)
    found = [b for b in (n.ctx.hub.chat.recent_after(token, cursor, limit) for n in nodes_of(server))
             if b is not None]
    assert found or server.nodes, "the ring does not hold the room's messages"
    return found


async def ringed_copies(server: "RunningServer", token: str, message_id: int) -> list[Any]:
    """The ringed copies of one message on every node that still rings it (see `rings`)."""
    await settle(server)
    copies = [m for n in nodes_of(server) for m in n.ctx.hub.chat.ringed(token) if m["id"] == message_id]
    assert copies or server.nodes, f"message {message_id} is not in the ring"
    return copies


async def queued(server: "RunningServer", session_id: str) -> int:
    """Signals waiting for `session_id` in its mailboxes on every node, once the bus is quiet."""
    if server.nodes:
        await settle(server)
    boxes = [n.ctx.hub.mailboxes.get(session_id) for n in nodes_of(server)]
    return sum(len(box.queue) for box in boxes if box is not None)
