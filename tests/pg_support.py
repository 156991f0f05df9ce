"""A throw-away PostgreSQL for the tests: initdb + postgres from the Debian binaries in a temp dir,
listening on a free loopback port and a unix socket in that dir. No system service is used.

PostgreSQL refuses to run as root, so as root initdb and postgres run as the `postgres` system
user (created by the Debian package), else `nobody` (subprocess's user=/group=, so the process we
signal is postgres itself); the temp dir is handed to that user.

`PARLEY_TEST_DB=postgres` makes `tests.support.test_config` put every data dir's data in its own
database of one shared instance (started once per test session, see tests/conftest.py), so the
whole API suite runs unchanged against PostgreSQL.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PARLEY_PG_BIN", "/usr/lib/postgresql/15/bin"))


def wanted() -> bool:
    """True when this test run puts the API suite on PostgreSQL (alone, or two nodes on it:
    PARLEY_TEST_DB=cluster, tests/cluster_mode.py)."""
    return os.environ.get("PARLEY_TEST_DB", "sqlite") in ("postgres", "cluster")


def available() -> bool:
    return (PG_BIN / "initdb").exists() and (PG_BIN / "postgres").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> dict:
    """subprocess keyword arguments that drop root; empty when not root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


class PostgresServer:
    """One postgres process. `url(db)` names a database on it; `create_database` makes one."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="parley-pg-"))
        self.data = self.dir / "data"
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._as = _run_as()
        if self._as:
            os.chown(self.dir, self._as["user"], self._as["group"])
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "parley",
                        "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                       check=True, capture_output=True, cwd="/", **self._as)

    def start(self) -> "PostgresServer":
        self.port = self.port or free_port()
        log = open(self.dir / "postgres.log", "ab")
        # Durability settings off: test data need not survive an OS crash, and fsync dominates
        # the cost of every commit on a loaded machine. Parley's own settings are untouched.
        self.process = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB"],
            stdout=log, stderr=log, cwd="/", **self._as)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'postgres.log').read_text()[-2000:]}")
            ready = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                    "-U", "parley", "-d", "postgres"], capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.1)   # ok: test harness waiting for a child process to accept connections
        raise RuntimeError("postgres did not become ready in 30 s")

    def stop(self, *, fast: bool = True) -> None:
        """Stop the server (SIGINT: fast shutdown, open connections are cut)."""
        if self.process is None:
            return
        self.process.send_signal(2 if fast else 15)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def url(self, database: str) -> str:
        return f"postgresql://parley@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: PostgresServer | None = None
_databases: dict[str, str] = {}   # data dir → database URL, for the running test
_free: list[str] = []             # databases of finished tests, emptied again before reuse
_created = 0


def shared() -> PostgresServer:
    """The session's instance (started on first use; tests/conftest.py stops it at the end)."""
    global _shared
    if _shared is None:
        _shared = PostgresServer().start()
    return _shared


def shutdown_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.destroy()
        _shared = None
    _databases.clear()
    _free.clear()


def release_databases() -> None:
    """End of a test: its databases may be handed (emptied) to the next tests."""
    _free.extend(_databases.values())
    _databases.clear()


def _empty(url: str) -> None:
    """Every Parley table emptied and its ids restarted: as good as a new database, without
    the second or so that CREATE DATABASE costs on a loaded machine. DELETE, not TRUNCATE: the
    tables of one test hold a handful of rows, and TRUNCATE's fixed cost per table (a new file
    for each table and index) made it ~65 ms against ~23 ms (measured on the 2-core CI box).
    Foreign keys and triggers are switched off for the one transaction (the test instance's user
    is its superuser), so the order of the deletes does not matter."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'parley_schema_version'")]
        sequences = [r[0] for r in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")]
        if tables:
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                conn.execute("; ".join(f'DELETE FROM "{t}"' for t in tables))
        if sequences:
            conn.execute("SELECT " + ", ".join(f"setval('\"{name}\"', 1, false)" for name in sequences))


def url_for_data_dir(data_dir: str) -> str:
    """A database of its own for every data dir, the same one each time (restart tests reuse a
    data dir and expect their data back)."""
    global _created
    key = str(Path(data_dir).resolve())
    if key not in _databases:
        if _free:
            url = _free.pop()
            _empty(url)
        else:
            _created += 1
            url = shared().create_database(f"parley_test_{_created}")
        _databases[key] = url
    return _databases[key]


def env_for_data_dir(data_dir: str) -> dict[str, str]:
    """Environment for a `parley` subprocess working on `data_dir`'s data in the current mode."""
    return {"PARLEY_DATABASE_URL": url_for_data_dir(str(data_dir))} if wanted() else {}
