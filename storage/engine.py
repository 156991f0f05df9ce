"""What both storage engines share: `await db.run(unit, after_commit=...)` on worker threads.

A unit of work is a plain function of a connection, run inside one transaction on a thread that
owns that connection (storage/db.py: one thread over SQLite; storage/pg.py: `pool_size` threads
over PostgreSQL). This base holds the parts that must behave the same whichever engine runs them:

* submitting: one FIFO queue of (unit, waiting trio task, hook, time queued), refused at once when
  the database is closed, or (if the engine sets a `queue_limit`) when the backlog is full, which
  the API answers with 503 + Retry-After instead of letting waiters pile up without bound;
* waiting: the trio task parks without a thread of its own and is rescheduled by the worker with
  the unit's outcome. A unit handed over cannot be cancelled: a write either commits or fails, and
  the caller hears which, even if its HTTP client went away;
* after-commit hooks, in commit order: `commit_and_hook` holds one process-wide lock from COMMIT
  until the hook is queued on the trio thread, and `run_sync_soon` is FIFO, so hooks reach the trio
  thread in the order the database committed, and each before its own caller (and any later
  unit's caller) resumes. With one SQLite thread the lock is never contended; with several
  PostgreSQL workers it is what keeps a room's chat entries in id order in the hub;
* the metrics observer, and closing (each worker finishes what it took, then stops).

Subclasses implement `_execute(state, unit, after_commit) -> (state, outcome)` (one unit in one
transaction, calling `commit_and_hook` to commit) and `_release(state)` (close the connection).
`state` is whatever a worker carries from unit to unit: its connection, or None once it broke.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, TypeVar

import outcome
import trio

T = TypeVar("T")
log = logging.getLogger("parley.db")


class DatabaseUnavailable(Exception):
    """The database cannot take the unit now (PostgreSQL down or overloaded): the API answers 503
    with Retry-After. Nothing was committed."""


class UnstorableValue(ValueError):
    """A parameter the engine cannot hold (PostgreSQL text cannot contain NUL): the API answers 400."""


class Engine:
    """Worker threads behind one queue. Create inside trio (it captures the trio token); subclasses
    call `_start(states)` once their connections are ready, one thread per initial state."""

    dialect = ""
    thread_name = "parley-db"

    def __init__(self, path: str, *, queue_limit: int | None = None) -> None:
        self.path = path   # for messages only (PostgreSQL: the URL without its password)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._queue_limit = queue_limit
        self._token = trio.lowlevel.current_trio_token()
        self._commit_lock = threading.Lock()
        self._closed = False
        self._threads: list[threading.Thread] = []
        # Optional observer, called on a worker after each unit with (seconds queued, seconds
        # running): the server's metrics. A plain callable, so storage stays free of any metrics
        # library.
        self.observe: Callable[[float, float], None] | None = None

    def _start(self, states: list[Any]) -> None:
        names = [self.thread_name] if len(states) == 1 else [f"{self.thread_name}-{n}" for n in range(len(states))]
        self._threads = [threading.Thread(target=self._serve, args=(state,), name=name, daemon=True)
                         for name, state in zip(names, states)]
        for thread in self._threads:
            thread.start()

    # -- the worker side ---------------------------------------------------------------------

    def _execute(self, state: Any, unit: Callable[[Any], Any],
                 after_commit: Callable[[Any], None] | None) -> tuple[Any, outcome.Outcome]:
        raise NotImplementedError

    def _release(self, state: Any) -> None:
        raise NotImplementedError

    def _serve(self, state: Any) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            unit, task, after_commit, queued_at = item
            started = time.perf_counter()
            state, result = self._execute(state, unit, after_commit)
            observe = self.observe
            if observe is not None:
                try:
                    observe(started - queued_at, time.perf_counter() - started)
                except Exception:   # a metrics failure must never lose a unit's answer
                    log.exception("database observer failed")
            self._token.run_sync_soon(trio.lowlevel.reschedule, task, result)
        self._release(state)

    def commit_and_hook(self, commit: Callable[[], None], after_commit: Callable[[T], None] | None,
                        result: T) -> None:
        """Commit (on a worker thread), then queue `after_commit(result)` on the trio thread, both
        under the commit lock: hooks run in commit order. If `commit` raises, no hook is queued."""
        if after_commit is None:
            commit()
            return
        with self._commit_lock:
            commit()
            self._token.run_sync_soon(_run_hook, after_commit, result)

    # -- the trio side -----------------------------------------------------------------------

    async def run(self, unit: Callable[[Any], T], *, after_commit: Callable[[T], None] | None = None) -> T:
        """Run `unit(conn)` on a worker inside one transaction and return its result.

        Exceptions raised by the unit roll the transaction back and re-raise here. After
        `close()` this raises RuntimeError at once (no worker would ever answer); with the
        backlog full, DatabaseUnavailable at once.

        `after_commit(result)`, if given, runs on the trio thread once the transaction has
        committed (never after a rollback), in commit order across all units, and before this
        call returns. Use it to publish events whose order matters (chat messages): publishing
        after `await db.run(...)` returns would follow the order in which trio happens to resume
        the callers, which is not the commit order. It must not block or raise (errors are logged).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise RuntimeError(f"the database {self.path} is closed")
        if self._queue_limit is not None and self._queue.qsize() >= self._queue_limit:
            raise DatabaseUnavailable("the database is overloaded; try again shortly")
        self._queue.put((unit, trio.lowlevel.current_task(), after_commit, time.perf_counter()))
        return await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def queue_depth(self) -> int:
        """Units submitted and not yet taken by a worker (approximate, as qsize is)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Stop the workers once they have run every unit queued before; waits up to 10 s each."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)


def _run_hook(hook: Callable[[T], None], result: T) -> None:
    # An exception escaping a run_sync_soon callback would crash trio.run (TrioInternalError).
    try:
        hook(result)
    except Exception:
        log.exception("after-commit hook failed")
