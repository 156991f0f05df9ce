"""A dedicated, bounded pool of threads for password hashing and verification.

One argon2id verification holds `argon2_memory_kib` of memory and a core for tens of
milliseconds. Run on trio's default thread pool (up to 40 at once) a reconnect storm used 40 times
that memory and starved the event loop and the database thread. Here:

- exactly `workers` threads hash (default: the cores this process may run on), so hashing memory
  is bounded by workers × argon2_memory_kib and at most `workers` cores are busy with it;
- they are separate from the event loop's thread and the database thread, which sleep most of
  the time and so win the CPU back quickly when they wake (the kernel favours waking threads);
  the hash threads are not niced: on a box whose other processes are busy, a lower priority
  starved the hashing itself (a login took seconds at load average 25 in the benchmark);
- at most `queue_max` jobs wait for a thread; one more is refused at once with `Overloaded` (503,
  Retry-After), instead of piling up requests (and their memory) behind a queue that only grows;
- a job still waiting when its caller is cancelled (the client went away) is dropped unhashed.

The pool counts what it does (`running`, `peak_running`, `waiting`) for tests and metrics.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from typing import Any, Callable, TypeVar

import outcome
import trio

from .errors import Overloaded

T = TypeVar("T")
log = logging.getLogger("parley.hashing")

QUEUED, RUNNING, CANCELLED = "queued", "running", "cancelled"


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Job:
    __slots__ = ("fn", "args", "task", "token", "state")

    def __init__(self, fn: Callable[..., Any], args: tuple, task: Any, token: trio.lowlevel.TrioToken) -> None:
        self.fn, self.args, self.task, self.token = fn, args, task, token
        self.state = QUEUED


class HashWorkers:
    """`await run(fn, *args)` runs `fn(*args)` on one of `workers` dedicated threads.

    Raises `Overloaded` at once when `queue_max` jobs are already waiting. Threads start on first
    use and stop on `close()`."""

    def __init__(self, workers: int = 0, queue_max: int = 32) -> None:
        self.workers = workers if workers > 0 else default_workers()
        self.queue_max = max(0, queue_max)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()   # guards job states and the counters below
        self._threads: list[threading.Thread] = []
        self.waiting = 0          # jobs queued, not yet picked up by a thread
        self.running = 0          # jobs being computed right now
        self.peak_running = 0     # the most ever computed at once (the bound tests assert)
        self.completed = 0
        self.refused = 0
        self._average = 0.05      # seconds per job, a moving average, for Retry-After
        self._closed = False

    # -- the trio side ------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise RuntimeError("the password hashers are closed")
        with self._lock:
            if self.running + self.waiting >= self.workers + self.queue_max:
                self.refused += 1
                raise Overloaded(retry_after=self.retry_after())
            self.waiting += 1
        self._start_threads()
        job = _Job(fn, args, trio.lowlevel.current_task(), trio.lowlevel.current_trio_token())
        self._jobs.put(job)

        def abort(_: Any) -> trio.lowlevel.Abort:
            with self._lock:
                if job.state != QUEUED:
                    return trio.lowlevel.Abort.FAILED   # a running hash finishes; its result is dropped
                job.state = CANCELLED
                self.waiting -= 1
            return trio.lowlevel.Abort.SUCCEEDED
        return await trio.lowlevel.wait_task_rescheduled(abort)

    def retry_after(self) -> int:
        """Whole seconds until the current backlog should have drained (at least 1)."""
        backlog = self.running + self.waiting
        return max(1, math.ceil(backlog * self._average / self.workers))

    def close(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        self._threads.clear()

    # -- the worker threads --------------------------------------------------------------------

    def _start_threads(self) -> None:
        if len(self._threads) >= self.workers:
            return
        with self._lock:
            while len(self._threads) < self.workers:
                thread = threading.Thread(target=self._serve, name=f"parley-hash-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                if job.state == CANCELLED:
                    continue
                job.state = RUNNING
                self.waiting -= 1
                self.running += 1
                self.peak_running = max(self.peak_running, self.running)
            started = time.perf_counter()
            result = outcome.capture(job.fn, *job.args)
            elapsed = time.perf_counter() - started
            with self._lock:
                self.running -= 1
                self.completed += 1
                self._average += (elapsed - self._average) * 0.2
            try:
                job.token.run_sync_soon(trio.lowlevel.reschedule, job.task, result)
            except trio.RunFinishedError:
                pass   # the trio run that asked is gone (a test's server stopped mid-hash)
