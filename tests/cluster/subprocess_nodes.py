"""Parley nodes as real `parley serve` subprocesses on one PostgreSQL and one Redis, for the fault
tests (tests/cluster/test_faults*.py): a node killed with SIGKILL is really gone, mid-transaction,
with its sockets closed by the kernel, which an in-process server cannot imitate.

Synchronous on purpose: a module-scoped fixture keeps one cluster for all the tests of a module
(starting a node costs a second or two on the shared machine), and pytest-trio's async fixtures
live for one test only. The clients are the usual `tests.support.Actor`s, pointed at a node's URL.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import httpx
import pytest
import trio

from .. import pg_support
from ..support import PASSWORD, Actor, ManualClock, RunningServer, add_background_users
from ..cluster_mode import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
FAST_HASHING = {"PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}
LEASE_KEY = "parley:0:hub:lease:housekeeping"   # signaling/bus.py: f"{channel}:lease:{name}"


class Node:
    """One `parley serve` process with a data dir of its own (each node holds the data-dir lock)."""

    def __init__(self, name: str, directory: Path, database_url: str, redis_url: str,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.directory = directory
        self.port = free_port()
        self.database_url, self.redis_url = database_url, redis_url
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.log = directory / "node.log"
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, **env: str) -> "Node":
        """Start the process (not waiting for it: see `wait_ready`); `env` overrides this start only."""
        full = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
        full.update(FAST_HASHING, PARLEY_DATABASE_URL=self.database_url, PARLEY_REDIS_URL=self.redis_url,
                    PARLEY_DATABASE_POOL_SIZE="3", **self.env, **env)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--bind", f"127.0.0.1:{self.port}",
                 "--data-dir", str(self.directory / "data")],
                cwd=ROOT, env=full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, seconds: float = 60) -> "Node":
        """Until GET /readyz answers 200 (the bus is subscribed before the server listens)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(f"node {self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)   # ok: test harness waiting for a child process to listen
        raise AssertionError(f"node {self.name} not ready in {seconds} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown round, no goodbye on the bus, transactions cut where they stand."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def bus_ids(self) -> list[str]:
        """The bus node ids this data dir's processes used, oldest first (one per start)."""
        return re.findall(r"bus connected to \S+ \(node ([0-9a-f]+)\)", self.log_text())

    def expired(self) -> int:
        """Sessions this node's housekeeping expired, over all its starts (from its log)."""
        return sum(int(n) for n in re.findall(r"expired (\d+) idle session", self.log_text()))

    def server(self) -> RunningServer:
        """A RunningServer for tests.support's Actor (no in-process app: `ctx` is not available)."""
        return RunningServer(url=self.url, app=None, clock=ManualClock())

    def actor(self, name: str, user: str | None = None, password: str = PASSWORD) -> Actor:
        return self.server().actor(name, user, password)


@dataclass
class Cluster:
    redis: RedisServer
    database_url: str
    nodes: list[Node] = field(default_factory=list)

    def ensure_running(self) -> None:
        """Between tests: whatever an earlier test killed or stopped is started again."""
        if self.redis.process is None:
            self.redis.start_blocking()
        dead = [node.start() for node in self.nodes if not node.alive]
        for node in dead:
            node.wait_ready()

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        self.redis.stop()


def start_cluster(directory: Path, database_url: str, count: int = 2,
                  env: dict[str, str] | None = None, *, start: bool = True) -> Cluster:
    """Redis, the schema and the Behat background users, then `count` nodes started together
    (with `start=False` the caller may adjust the nodes first, then calls `ensure_running`)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "redis").mkdir(exist_ok=True)
    redis = RedisServer(str(directory / "redis"))
    redis.start_blocking()
    trio.run(_add_users, database_url, directory / "cli")
    cluster = Cluster(redis, database_url)
    cluster.nodes = [Node(chr(ord("a") + n), directory / f"node-{chr(ord('a') + n)}", database_url,
                          redis.url, env) for n in range(count)]
    try:
        if start:
            cluster.ensure_running()
    except BaseException:
        cluster.close()
        raise
    return cluster


async def _add_users(database_url: str, data_dir: Path) -> None:
    """participant1-3, admin and group attendees1, written straight into the shared database (as
    `parley user add` would, without four more process start-ups)."""
    from server.config import Config
    from server.domain.context import Ctx
    from signaling.hub import Hub
    from storage.db import open_database
    config = Config(data_dir=str(data_dir), database_url=database_url, argon2_time_cost=1, argon2_memory_kib=1024)
    data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(database_url, config.db_path, 1)
    passwords = config.password_service()
    try:
        ctx = Ctx(db=db, hub=Hub(), config=config, passwords=passwords, secret=b"")
        await add_background_users(SimpleNamespace(ctx=ctx))  # type: ignore[arg-type]
    finally:
        passwords.close()
        db.close()


async def ametric(node: Node, name: str) -> float:
    """One gauge of the node's /metrics (the tests' peer is loopback, which metrics_allow admits)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(node.url + "/metrics")).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics of node {node.name}"
    return float(found.group(1))


async def wait_for(condition, seconds: float = 20, what: str = "condition") -> None:
    """Poll an async condition (another process's state has no event to wait on)."""
    with trio.fail_after(seconds):
        while not await condition():
            await trio.sleep(0.05)


async def parked(node: Node) -> int:
    return int(await ametric(node, "parley_chat_polls_parked"))


async def poll_woken_by(poller, token: str, cursor: int, is_parked, post, seconds: float = 30):
    """`poller`'s long-poll after `cursor`; once `is_parked()` says it waits, `post()` runs (and
    must wake it). Returns the poll's reply."""
    got = {}

    async def poll() -> None:
        got["r"] = await poller.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 20,
                                                              "lastKnownMessageId": cursor})
    with trio.fail_after(seconds):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await wait_for(is_parked)
            await post()
    return got["r"]


async def lease_holder(redis_url: str) -> str | None:
    """The bus node id holding the housekeeping lease, read from Redis itself."""
    import coredis
    async with coredis.Redis.from_url(redis_url) as client:
        value = await client.get(LEASE_KEY)
    return value.decode() if isinstance(value, bytes) else value



@pytest.fixture(scope="session")
def faults_postgres():
    """One PostgreSQL for all the fault-test modules (each uses its own database on it); the
    services module stops and restarts it, and leaves it running."""
    if not pg_support.available():
        pytest.fail(f"PostgreSQL binaries not found in {pg_support.PG_BIN}: run .ci/install-system-deps.sh")
    server = pg_support.PostgresServer().start()
    yield server
    server.destroy()


class Partition:
    """A TCP relay between one node and Redis that a test can cut: every relayed connection is
    closed at once in both directions and new ones are closed as soon as they are accepted, as
    a firewall that rejects would; `heal` lets connections through again. (Threads, not trio:
    it must outlive any one test's event loop.)"""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return   # closed
            try:
                if self._cut:
                    raise OSError("partitioned")
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self._lock:
                self._open.discard(sock)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def cut(self) -> None:
        self._cut = True
        with self._lock:
            sockets = list(self._open)
        self._drop(*sockets)

    def heal(self) -> None:
        self._cut = False

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture(scope="session")
def plain_cluster(faults_postgres, tmp_path_factory) -> Iterator[Cluster]:
    """Two nodes with default timers, trusting a reverse proxy on loopback (the nginx tests), for
    every fault module that needs nothing special (node start-ups are the costly part). A test
    may kill a node: `ensure_running` (called by the modules' fixtures) starts it again."""
    cluster = start_cluster(tmp_path_factory.mktemp("plain"), faults_postgres.create_database("faults_plain"),
                            env={"PARLEY_TRUSTED_PROXIES": "127.0.0.1"})
    yield cluster
    cluster.close()
