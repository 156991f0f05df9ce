from __future__ import annotations

import pytest

from .. import pg_support


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
