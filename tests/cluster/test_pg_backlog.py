"""The PostgreSQL engine's backlog bound: a burst as large as one chat fan-out's re-polls is served,
and only a backlog beyond the configured bound is refused (503 upstream)."""
from __future__ import annotations

import trio

from storage.db import DatabaseUnavailable
from storage.pg import QUEUE_LIMIT, PgDatabase


async def _burst(db: PgDatabase, n: int) -> tuple[int, int]:
    """`n` units submitted at once; (answered, refused)."""
    answered = refused = 0

    async def one(i: int) -> None:
        nonlocal answered, refused
        try:
            assert await db.run(lambda conn: conn.execute("SELECT ?", (i,)).fetchone()[0]) == i
            answered += 1
        except DatabaseUnavailable:
            refused += 1
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    return answered, refused


async def test_a_fan_out_sized_burst_is_served_and_only_a_configured_bound_refuses(fresh_db):
    # 2,000 parked polls re-poll at once after a post (bench/cluster.py): the old bound of
    # 64 x pool_size refused most of them with 503.
    assert QUEUE_LIMIT >= 5000
    db = PgDatabase(fresh_db, pool_size=1)
    try:
        assert await _burst(db, 2000) == (2000, 0)
    finally:
        db.close()
    small = PgDatabase(fresh_db, pool_size=1, queue_limit=10)
    try:
        answered, refused = await _burst(small, 200)
        assert refused > 0 and answered >= 10 and answered + refused == 200
    finally:
        small.close()
