"""Micro-benchmark of `await db.run(unit)`: the cost of one hop to the database thread(s) and back.

Not a test. Runs trivial units (SELECT 1), so what it measures is the engine itself (queueing,
waking the trio task, the after-commit hook), not SQL:

* sequential: one task, one unit after the other (the latency of a hop);
* concurrent: 32 tasks at once, each unit with an after-commit hook (throughput, hook dispatch).

    .venv/bin/python bench/db_run.py              # SQLite in a temp dir
    .venv/bin/python bench/db_run.py --postgres   # also a throw-away PostgreSQL (tests/pg_support.py)

Run it from another checkout (same command, that checkout's cwd) to compare two versions side by side.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path.cwd()))

from storage.db import open_database  # noqa: E402

SEQUENTIAL = 4000
TASKS, PER_TASK = 32, 250


def _select(conn):
    return conn.execute("SELECT 1").fetchone()[0]


async def _measure(db) -> tuple[float, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(SEQUENTIAL):
        await db.run(_select)
    sequential_us = (time.perf_counter() - started) / SEQUENTIAL * 1e6
    # CPU of the whole process (trio thread + database threads) per unit: what the engine's own
    # code costs, much less disturbed than wall time by other load on a shared machine.
    cpu_us = (time.process_time() - cpu) / SEQUENTIAL * 1e6
    hooks = 0

    def hook(_result) -> None:
        nonlocal hooks
        hooks += 1

    async def worker() -> None:
        for _ in range(PER_TASK):
            await db.run(_select, after_commit=hook)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(TASKS):
            nursery.start_soon(worker)
    per_second = TASKS * PER_TASK / (time.perf_counter() - started)
    assert hooks == TASKS * PER_TASK
    return sequential_us, cpu_us, per_second


async def _engine(label: str, url: str, path: str, rounds: int) -> None:
    db = open_database(url, path, pool_size=4)
    try:
        await _measure(db)   # warm-up
        results = [await _measure(db) for _ in range(rounds)]
    finally:
        db.close()
    seq = statistics.median(r[0] for r in results)
    cpu = statistics.median(r[1] for r in results)
    conc = statistics.median(r[2] for r in results)
    print(f"{label:10s} sequential {seq:7.1f} µs/unit wall, {cpu:6.1f} µs/unit CPU   "
          f"concurrent(32, hooked) {conc:8.0f} units/s   (median of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(_engine, "sqlite", "", str(Path(tmp) / "bench.sqlite3"), args.rounds)
    if args.postgres:
        from tests import pg_support
        server = pg_support.PostgresServer().start()
        try:
            trio.run(_engine, "postgresql", server.create_database("bench"), "", args.rounds)
        finally:
            server.destroy()


if __name__ == "__main__":
    main()
