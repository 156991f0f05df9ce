"""One sqlite3 connection owned by one thread; `await db.run(unit)` is one hop and one transaction.

Why a dedicated thread: the stdlib driver blocks, aiosqlite cannot run under trio, and a thread hop
costs ~100 µs on this machine kind, so every handler's SQL runs as a single synchronous *unit of
work* (see ../shared/spec/stack.md §2). The queue is FIFO, so units never interleave: each unit sees
a consistent database and commits atomically (or rolls back if it raises).

A submitted unit cannot be cancelled. That is deliberate: a write that was handed to SQLite either
commits or fails, and the caller hears which, even if its HTTP client went away.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

import outcome
import trio

from . import migrations

T = TypeVar("T")
Unit = Callable[[sqlite3.Connection], T]
log = logging.getLogger("parley.db")


class DatabaseUnavailable(Exception):
    """The database cannot take the unit now (PostgreSQL down or overloaded): the API answers 503
    with Retry-After. Nothing was committed."""


class UnstorableValue(ValueError):
    """A parameter the engine cannot hold (PostgreSQL text cannot contain NUL): the API answers 400."""


def open_database(url: str, sqlite_path: str | Path, pool_size: int = 4):
    """The engine the configuration names: PostgreSQL for a postgresql:// URL (storage/pg.py,
    imported only then), else the SQLite file. Call inside trio."""
    if url:
        from .pg import PgDatabase
        return PgDatabase(url, pool_size)
    return Database(sqlite_path)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the database with the pragmas every Parley connection needs, and migrate it."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a committed transaction is in the WAL file (the OS page cache) when
    # COMMIT returns, so it survives kill -9 of the process; only an OS crash can lose the tail.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    migrations.apply(conn)
    return conn


def run_in_transaction(conn: sqlite3.Connection, unit: Unit[T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = unit(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class Database:
    """The DB thread. Create inside trio (it captures the trio token), close with `close()`."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._token = trio.lowlevel.current_trio_token()
        self._conn = connect(self.path)
        self._closed = False
        # Optional observer, called on the DB thread after each unit with (seconds queued,
        # seconds running): the server's metrics. Kept as a plain callable so storage stays free
        # of any metrics library.
        self.observe: Callable[[float, float], None] | None = None
        self._thread = threading.Thread(target=self._serve, name="parley-db", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn = self._conn
        while True:
            item = self._queue.get()
            if item is None:
                break
            unit, task, after_commit, queued_at = item
            started = time.perf_counter()
            result = outcome.capture(run_in_transaction, conn, unit)
            observe = self.observe
            if observe is not None:
                try:
                    observe(started - queued_at, time.perf_counter() - started)
                except Exception:   # a metrics failure must never lose a unit's answer
                    log.exception("database observer failed")
            if after_commit is not None and isinstance(result, outcome.Value):
                # Queued before the task's wake-up, and run_sync_soon is strictly FIFO: hooks run
                # on the trio thread in commit order, before any later unit's caller resumes.
                self._token.run_sync_soon(_run_hook, after_commit, result.value)
            self._token.run_sync_soon(trio.lowlevel.reschedule, task, result)
        conn.close()

    async def run(self, unit: Unit[T], *, after_commit: Callable[[T], None] | None = None) -> T:
        """Run `unit(conn)` on the DB thread inside one transaction and return its result.

        Exceptions raised by the unit roll the transaction back and re-raise here. After
        `close()` this raises RuntimeError at once: no thread would ever answer.

        `after_commit(result)`, if given, runs on the trio thread once the transaction has
        committed (never after a rollback), in commit order across all units, and before this
        call returns. Use it to publish events whose order matters (chat messages): publishing
        after `await db.run(...)` returns would follow the order in which trio happens to resume
        the callers, which is not the commit order. It must not block or raise (errors are logged).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise RuntimeError(f"the database {self.path} is closed")
        self._queue.put((unit, trio.lowlevel.current_task(), after_commit, time.perf_counter()))
        return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def queue_depth(self) -> int:
        """Units submitted and not yet taken by the DB thread (approximate, as qsize is)."""
        return self._queue.qsize()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)


def _run_hook(hook: Callable[[T], None], result: T) -> None:
    # An exception escaping a run_sync_soon callback would crash trio.run (TrioInternalError).
    try:
        hook(result)
    except Exception:
        log.exception("after-commit hook failed")
