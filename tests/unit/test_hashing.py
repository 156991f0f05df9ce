"""The dedicated password hashers (server/domain/hashing.py): never more than `workers` at once,
a bounded queue answered with Overloaded beyond it, cancelled waiters never hashed."""
import threading

import pytest
import trio

from server.domain.errors import Overloaded
from server.domain.hashing import HashWorkers


class Gate:
    """A job that blocks its hash thread until opened, counting how many run at once."""

    def __init__(self):
        self.opened = threading.Event()
        self.lock = threading.Lock()
        self.now = self.peak = self.started = 0

    def job(self, value=None):
        with self.lock:
            self.now += 1
            self.started += 1
            self.peak = max(self.peak, self.now)
        self.opened.wait(30)
        with self.lock:
            self.now -= 1
        return value


async def wait_until(predicate):
    with trio.fail_after(10):
        while not predicate():
            await trio.sleep(0.005)


async def test_never_more_than_the_configured_workers_hash_at_once():
    workers, gate, results = HashWorkers(workers=2, queue_max=100), Gate(), []

    async def one(n):
        results.append(await workers.run(gate.job, n))
    try:
        async with trio.open_nursery() as nursery:
            for n in range(12):
                nursery.start_soon(one, n)
            await wait_until(lambda: gate.started == 2 and workers.waiting == 10)
            assert (gate.now, workers.running) == (2, 2)    # ten wait; none of them started
            gate.opened.set()
    finally:
        workers.close()
    assert sorted(results) == list(range(12))
    assert gate.peak == 2 and workers.peak_running == 2 and workers.completed == 12


async def test_a_full_queue_is_refused_at_once_with_retry_after():
    workers, gate = HashWorkers(workers=1, queue_max=1), Gate()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(workers.run, gate.job)
            await wait_until(lambda: gate.started == 1)
            nursery.start_soon(workers.run, gate.job)      # waits: the queue now holds one
            await wait_until(lambda: workers.waiting == 1)
            with pytest.raises(Overloaded) as refused:
                await workers.run(gate.job)
            assert refused.value.status == 503 and refused.value.retry_after >= 1
            assert refused.value.headers()["Retry-After"] == str(refused.value.retry_after)
            gate.opened.set()
        assert (workers.completed, workers.refused, gate.started) == (2, 1, 2)
        assert await workers.run(len, "abc") == 3           # room again once drained
    finally:
        workers.close()


async def test_a_waiter_cancelled_before_its_turn_is_never_hashed():
    workers, gate = HashWorkers(workers=1, queue_max=5), Gate()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(workers.run, gate.job)
            await wait_until(lambda: gate.started == 1)
            with trio.CancelScope() as scope:
                async def client_goes_away():
                    await wait_until(lambda: workers.waiting == 1)
                    scope.cancel()
                nursery.start_soon(client_goes_away)
                await workers.run(gate.job)                 # queued, then its client goes away
            assert scope.cancelled_caught and workers.waiting == 0
            gate.opened.set()
        assert gate.started == 1 and workers.completed == 1
    finally:
        workers.close()


async def test_errors_of_a_job_reach_the_caller():
    workers = HashWorkers(workers=1)
    try:
        with pytest.raises(ZeroDivisionError):
            await workers.run(lambda: 1 / 0)
        assert await workers.run(lambda: "still serving") == "still serving"
    finally:
        workers.close()
