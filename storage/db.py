"""One sqlite3 connection owned by one thread; `await db.run(unit)` is one hop and one transaction.

Why a dedicated thread: the stdlib driver blocks, aiosqlite cannot run under trio, and a thread hop
costs ~100 µs on this machine kind, so every handler's SQL runs as a single synchronous *unit of
work* (see ../shared/spec/stack.md §2). The queue is FIFO, so units never interleave: each unit sees
a consistent database and commits atomically (or rolls back if it raises).

A submitted unit cannot be cancelled. That is deliberate: a write that was handed to SQLite either
commits or fails, and the caller hears which, even if its HTTP client went away. The queue, the
waiting and the hook ordering are storage/engine.py's, shared with PostgreSQL (storage/pg.py).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable, TypeVar

import outcome

from . import migrations
from .engine import DatabaseUnavailable, Engine, UnstorableValue

__all__ = ["Database", "DatabaseUnavailable", "UnstorableValue", "connect", "open_database"]

T = TypeVar("T")
Unit = Callable[[sqlite3.Connection], T]


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


class Database(Engine):
    """The DB thread (storage/engine.py). Create inside trio, close with `close()`. The server does
    not bound its backlog (`queue_limit` None): one SQLite thread answers in microseconds, and
    thousands of parked long-polls may each hand it a unit at the same moment when they wake."""

    dialect = "sqlite"
    thread_name = "parley-db"

    def __init__(self, path: str | Path, *, queue_limit: int | None = None) -> None:
        super().__init__(str(path), queue_limit=queue_limit)
        self._start([connect(self.path)])

    def _execute(self, conn: sqlite3.Connection, unit: Unit[Any],
                 after_commit: Callable[[Any], None] | None) -> tuple[sqlite3.Connection, outcome.Outcome]:
        return conn, outcome.capture(self._transaction, conn, unit, after_commit)

    def _transaction(self, conn: sqlite3.Connection, unit: Unit[T], after_commit: Callable[[T], None] | None) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = unit(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # conn.commit() sends COMMIT because BEGIN opened a transaction (isolation_level=None).
        self.commit_and_hook(conn.commit, after_commit, result)
        return result

    def _release(self, conn: sqlite3.Connection) -> None:
        conn.close()
