"""PostgreSQL behind the same `await db.run(unit, after_commit=...)` contract as storage/db.py.

psycopg 3 in sync mode (its async mode needs asyncio; ../shared/spec/stack.md §5) on `pool_size`
worker threads, each owning one connection. A unit of work is one transaction on one of them, so
units now run concurrently; the database's row locks, not a single queue, keep them consistent
(READ COMMITTED; the chat insert locks its room row, see storage/messages.py).

Queueing, waiting, the backlog bound and the ordering of after-commit hooks are storage/engine.py's,
shared with SQLite: a worker that has a hook holds the commit lock from COMMIT until the hook is
queued on the trio thread, so hooked units reach the trio thread in the order PostgreSQL committed
them, exactly as with the single SQLite thread.

Failures: a connection that breaks (PostgreSQL restarted, network gone) is dropped and the unit
fails with DatabaseUnavailable, which the API answers with 503 + Retry-After; the next unit on
that worker connects afresh, so Parley recovers by itself when PostgreSQL is back. Connecting is
bounded by `connect_timeout` and every statement by `statement_timeout`, so no unit hangs for
longer than those. When more units are waiting than `queue_limit`, `run` refuses at once (503)
instead of letting the backlog grow without bound.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import outcome

from . import migrations, pg_migrations
from .engine import DatabaseUnavailable, Engine
from .pg_dialect import PgConnection, translate_ddl

# Units waiting for a worker before `run` refuses with 503: at least as many as the parked polls
# one node holds (docs/PERFORMANCE.md: 5,000). A chat post wakes them all and each re-polls at
# once, one unit apiece; a smaller bound answered a normal fan-out of 2,000 with a burst of 503s
# (bench/cluster.py found it).
QUEUE_LIMIT = 8192

log = logging.getLogger("parley.db")

# Deadlocks, serialization failures and unique violations of racing check-then-insert units say
# "nothing happened, try again"; units are SQL only (no side effects outside the transaction), so
# running one again is safe.
_RETRIES = 3
# After a failed connect, other workers fail fast for this long instead of each waiting for
# its own connect to fail.
_DOWN_GRACE = 0.5
# Key of the advisory lock that serialises schema migration between nodes starting together.
_MIGRATION_LOCK = 0x7061726C   # "parl"


def redact(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].split(":")[0] + ":***@" + netloc[1]))


def _psycopg():
    import psycopg   # imported only when PostgreSQL is configured
    return psycopg


def connect_raw(url: str, *, connect_timeout: int = 5, statement_timeout_ms: int = 15000) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(url, connect_timeout=connect_timeout, autocommit=False,
                               options=f"-c statement_timeout={statement_timeout_ms}",
                               keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {redact(url)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def identity_tables(raw: Any) -> frozenset[str]:
    rows = raw.execute("""SELECT table_name FROM information_schema.columns
                           WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'""")
    names = frozenset(r[0] for r in rows)
    raw.commit()
    return names


def apply_migrations(raw: Any) -> int:
    """The same STEPS as SQLite, translated; the version lives in table parley_schema_version."""
    raw.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        raw.execute("CREATE TABLE IF NOT EXISTS parley_schema_version (version BIGINT NOT NULL)")
        row = raw.execute("SELECT version FROM parley_schema_version").fetchone()
        if row is None:
            raw.execute("INSERT INTO parley_schema_version (version) VALUES (0)")
            version = 0
        else:
            version = int(row[0])
        raw.commit()
        if version > len(migrations.STEPS):
            raise RuntimeError(f"database schema version {version} is newer than this Parley "
                               f"({len(migrations.STEPS)}); upgrade Parley")
        for number, script in enumerate(migrations.STEPS[version:], start=version + 1):
            # No parameters: several statements in one call. Steps with triggers or full-text
            # indexes have their own PostgreSQL text (storage/pg_migrations.py).
            raw.execute(pg_migrations.script(number, script) or translate_ddl(script))
            raw.execute("UPDATE parley_schema_version SET version = %s", (number,))
            raw.commit()
        return len(migrations.STEPS)
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        raw.commit()


class _LostBeforeCommit(Exception):
    """The connection broke while the unit ran, before COMMIT was sent."""


class PgDatabase(Engine):
    """Worker threads over PostgreSQL (storage/engine.py). Create inside trio."""

    dialect = "postgresql"
    thread_name = "parley-pg"

    def __init__(self, url: str, pool_size: int = 4, *, queue_limit: int | None = None,
                 connect_timeout: int = 5, statement_timeout_ms: int = 15000) -> None:
        super().__init__(redact(url), queue_limit=queue_limit if queue_limit is not None else max(QUEUE_LIMIT, 64 * pool_size))
        self.url = url
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._down_until = 0.0
        first = self._connect()
        try:
            apply_migrations(first)
            self._identity = identity_tables(first)
        except BaseException:
            first.close()
            raise
        # The first worker keeps the connection that migrated; the others connect on their first unit.
        self._start([first] + [None] * (pool_size - 1))

    def _connect(self) -> Any:
        return connect_raw(self.url, connect_timeout=self._connect_timeout,
                           statement_timeout_ms=self._statement_timeout_ms)

    def _release(self, conn: Any) -> None:
        if conn is not None:
            conn.close()

    def _execute(self, conn: Any, unit: Callable, after_commit: Callable | None) -> tuple[Any, outcome.Outcome]:
        psycopg = _psycopg()
        for attempt in range(_RETRIES + 1):
            if attempt > 0:
                # What the rolled-back attempt queued for after its commit must not be published
                # (server/domain/chat_post.py Outbox.discard): hooks may carry a `discard`.
                discard = getattr(after_commit, "discard", None)
                if discard is not None:
                    discard()
            try:
                if conn is None or conn.closed:
                    conn = None
                    if time.monotonic() < self._down_until:
                        raise DatabaseUnavailable("PostgreSQL is unreachable; try again shortly")
                    try:
                        conn = self._connect()
                    except DatabaseUnavailable:
                        self._down_until = time.monotonic() + _DOWN_GRACE
                        raise
                result = self._transaction(conn, unit, after_commit)
                return conn, outcome.Value(result)
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
                if attempt == _RETRIES:
                    return conn, outcome.Error(DatabaseUnavailable(f"database contention: {_first_line(exc)}"))
            except psycopg.errors.UniqueViolation as exc:
                # Units check, then insert ("is this user already a participant?"). On SQLite they
                # never interleave; here two can both pass the check and the second insert hits
                # the unique index. Running it again makes it see the winner's committed row, as
                # SQLite's order would have. A violation that persists is a real bug: raised.
                if attempt == _RETRIES:
                    return conn, outcome.Error(exc)
            except psycopg.errors.QueryCanceled as exc:
                return conn, outcome.Error(DatabaseUnavailable(f"database statement timed out: {_first_line(exc)}"))
            except _LostBeforeCommit as lost:
                # The server rolls back a transaction whose connection dies, so nothing of this
                # unit happened: run it once more on a fresh connection (a pooled connection that
                # went stale while PostgreSQL restarted fails exactly like this).
                log.warning("PostgreSQL connection lost: %s", _first_line(lost.__cause__ or lost))
                _close_quietly(conn)
                conn = None
                if attempt > 0:
                    return None, outcome.Error(DatabaseUnavailable(
                        f"PostgreSQL connection lost: {_first_line(lost.__cause__ or lost)}"))
            except psycopg.OperationalError as exc:   # during COMMIT: the outcome is unknown, never retried
                log.warning("PostgreSQL connection lost while committing: %s", _first_line(exc))
                _close_quietly(conn)
                return None, outcome.Error(DatabaseUnavailable(f"PostgreSQL connection lost: {_first_line(exc)}"))
            except BaseException as exc:   # the unit's own errors (ParleyError…) and SQL bugs
                return conn, outcome.Error(exc)
        raise AssertionError("unreachable")

    def _transaction(self, conn: Any, unit: Callable, after_commit: Callable | None) -> Any:
        psycopg = _psycopg()
        try:
            result = unit(PgConnection(conn, self._identity))
        except psycopg.OperationalError as exc:
            if conn.closed or conn.broken:
                raise _LostBeforeCommit() from exc
            conn.rollback()
            raise
        except BaseException:
            if not conn.closed:
                try:
                    conn.rollback()
                except Exception:
                    _close_quietly(conn)
            raise
        self.commit_and_hook(conn.commit, after_commit, result)
        return result


def _close_quietly(conn: Any) -> None:
    if conn is None:
        return
    try:
        conn.close()
    except Exception:
        pass
