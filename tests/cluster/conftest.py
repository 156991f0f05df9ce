"""A real redis-server per test (temp dir, free loopback port) and two Parley nodes sharing one
SQLite data dir (WAL lets both open it), joined by the bus."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest
import trio

from .. import pg_support
from ..cluster_mode import RedisServer
from ..support import RunningServer, add_background_users, serving, test_config


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
