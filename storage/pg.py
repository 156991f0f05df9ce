"""PostgreSQL behind the same `await db.run(unit, after_commit=...)` contract as storage/db.py.

psycopg 3 in sync mode (its async mode needs asyncio; ../shared/spec/stack.md §5) on `pool_size`
worker threads, each owning one connection. A unit of work is one transaction on one of them, so
units now run concurrently; the database's row locks, not a single queue, keep them consistent
(READ COMMITTED; the chat insert locks its room row, see storage/messages.py).

Ordering of after-commit hooks: a worker that has a hook holds `_commit_lock` from COMMIT until the
hook is queued on the trio thread (run_sync_soon is FIFO). Two hooked units therefore reach the
trio thread in the order PostgreSQL committed them, exactly as with the single SQLite thread.

Failures: a connection that breaks (PostgreSQL restarted, network gone) is dropped and the unit
fails with DatabaseUnavailable, which the API answers with 503 + Retry-After; the next unit on
that worker connects afresh, so Parley recovers by itself when PostgreSQL is back. Connecting is
bounded by `connect_timeout` and every statement by `statement_timeout`, so no unit hangs for
longer than those. When more units are waiting than `queue_limit`, `run` refuses at once (503)
instead of letting the backlog grow without bound.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

import outcome
import trio

from . import migrations, pg_migrations
from .db import DatabaseUnavailable, _run_hook
from .pg_dialect import PgConnection, translate_ddl

T = TypeVar("T")
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


def _reschedule_if_waiting(task: Any, result: outcome.Outcome) -> None:
    trio.lowlevel.reschedule(task, result)


class PgDatabase:
    """Worker threads over PostgreSQL. Create inside trio (it captures the trio token)."""

    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 4, *, queue_limit: int | None = None,
                 connect_timeout: int = 5, statement_timeout_ms: int = 15000) -> None:
        self.url = url
        self.path = redact(url)
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._token = trio.lowlevel.current_trio_token()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._queue_limit = queue_limit if queue_limit is not None else 64 * pool_size
        self._commit_lock = threading.Lock()
        self._down_until = 0.0
        self._closed = False
        # As Database.observe (storage/db.py): called on a worker after each unit with (seconds
        # queued, seconds running), for the server's metrics.
        self.observe: Callable[[float, float], None] | None = None
        first = self._connect()
        try:
            apply_migrations(first)
            self._identity = identity_tables(first)
        except BaseException:
            first.close()
            raise
        self._threads = [threading.Thread(target=self._serve, args=(first if n == 0 else None,),
                                          name=f"parley-pg-{n}", daemon=True) for n in range(pool_size)]
        for thread in self._threads:
            thread.start()

    def _connect(self) -> Any:
        return connect_raw(self.url, connect_timeout=self._connect_timeout,
                           statement_timeout_ms=self._statement_timeout_ms)

    def _serve(self, conn: Any) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            unit, task, after_commit, queued_at = item
            started = time.perf_counter()
            conn, result = self._run_one(conn, unit, after_commit)
            observe = self.observe
            if observe is not None:
                try:
                    observe(started - queued_at, time.perf_counter() - started)
                except Exception:   # a metrics failure must never lose a unit's answer
                    log.exception("database observer failed")
            self._token.run_sync_soon(_reschedule_if_waiting, task, result)
        if conn is not None:
            conn.close()

    def _run_one(self, conn: Any, unit: Callable, after_commit: Callable | None) -> tuple[Any, outcome.Outcome]:
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
        if after_commit is None:
            conn.commit()
        else:
            with self._commit_lock:
                conn.commit()
                self._token.run_sync_soon(_run_hook, after_commit, result)
        return result

    async def run(self, unit: Callable[[Any], T], *, after_commit: Callable[[T], None] | None = None) -> T:
        """As Database.run (storage/db.py): one transaction, hooks in commit order, not cancellable
        once handed over. Raises DatabaseUnavailable at once when the backlog is full."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise RuntimeError(f"the database {self.path} is closed")
        if self._queue.qsize() >= self._queue_limit:
            raise DatabaseUnavailable("the database is overloaded; try again shortly")
        self._queue.put((unit, trio.lowlevel.current_task(), after_commit, time.perf_counter()))
        return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def queue_depth(self) -> int:
        """Units submitted and not yet taken by a worker (approximate, as qsize is)."""
        return self._queue.qsize()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)


def _close_quietly(conn: Any) -> None:
    if conn is None:
        return
    try:
        conn.close()
    except Exception:
        pass
