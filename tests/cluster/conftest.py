"""A real redis-server per test (temp dir, free loopback port) and two Parley nodes sharing one
SQLite data dir (WAL lets both open it), joined by the bus."""
from __future__ import annotations

import shutil
import socket
import subprocess
from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest
import trio

from .. import pg_support
from ..support import RunningServer, add_background_users, serving, test_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with trio.fail_after(10):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                except OSError:
                    await trio.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
async def redis(tmp_path) -> AsyncIterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(str(directory))
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def two_nodes(data_dir: str, redis_url: str) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    config = test_config(data_dir, redis_url=redis_url)
    async with serving(config) as a:
        await add_background_users(a)
        async with serving(config) as b:
            yield a, b


@pytest.fixture
async def nodes(tmp_path, redis) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    async with two_nodes(str(tmp_path / "data"), redis.url) as pair:
        yield pair


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL of this module's own (tests here stop and restart it)."""
    if not pg_support.available():
        pytest.fail(f"PostgreSQL binaries not found in {pg_support.PG_BIN}: run .ci/install-system-deps.sh")
    server = pg_support.PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture
def fresh_db(postgres, request):
    """An empty database on the module's PostgreSQL, named after the test."""
    name = "c_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:50].lower()
    return postgres.create_database(name)
