"""storage/db.py: one thread, one connection, one transaction per unit of work."""
import threading

import pytest
import trio
import trio.testing

from storage.db import Database, DatabaseUnavailable


async def test_a_unit_runs_in_one_transaction_and_rolls_back_when_it_raises(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    try:
        def failing(conn):
            conn.execute("INSERT INTO groups (id) VALUES ('team')")
            raise ValueError("boom")
        with pytest.raises(ValueError):
            await db.run(failing)
        assert await db.run(lambda conn: conn.execute("SELECT COUNT(*) FROM groups").fetchone()[0]) == 0
        await db.run(lambda conn: conn.execute("INSERT INTO groups (id) VALUES ('team')"))
        assert await db.run(lambda conn: conn.execute("SELECT id FROM groups").fetchall()[0][0]) == "team"
    finally:
        db.close()


async def test_run_after_close_fails_at_once_instead_of_waiting_forever(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    db.close()
    db.close()   # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await db.run(lambda conn: None)


async def test_hooks_run_in_commit_order_before_their_callers_resume(tmp_path):
    db = Database(tmp_path / "t.sqlite3")
    try:
        events: list[str] = []

        async def post(n: int) -> None:
            def unit(conn):
                conn.execute("INSERT INTO groups (id) VALUES (?)", (f"g{n}",))
                return n
            result = await db.run(unit, after_commit=lambda r: events.append(f"hook {r}"))
            events.append(f"resumed {result}")

        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(post, n)
        committed = await db.run(lambda conn: [r[0] for r in conn.execute("SELECT id FROM groups ORDER BY rowid")])
        hooks = [e.split()[1] for e in events if e.startswith("hook")]
        assert [f"g{h}" for h in hooks] == committed   # hooks in commit order
        for n in range(20):   # each caller resumes only after its own hook ran
            assert events.index(f"hook {n}") < events.index(f"resumed {n}")
        failed = []
        with pytest.raises(ValueError):
            await db.run(lambda conn: (_ for _ in ()).throw(ValueError("no")), after_commit=failed.append)
        assert failed == []   # never after a rollback
    finally:
        db.close()


async def test_a_full_backlog_is_refused_at_once_with_database_unavailable(tmp_path):
    db = Database(tmp_path / "t.sqlite3", queue_limit=2)
    running, release = threading.Event(), threading.Event()

    def hold(conn) -> None:
        running.set()
        release.wait(10)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(db.run, hold)   # holds the thread
            await trio.to_thread.run_sync(running.wait, 10)
            for _ in range(2):
                nursery.start_soon(db.run, lambda conn: None)
            await trio.testing.wait_all_tasks_blocked()
            assert db.queue_depth() == 2
            with pytest.raises(DatabaseUnavailable):
                await db.run(lambda conn: None)
            release.set()
        assert await db.run(lambda conn: 7) == 7   # the backlog drained: accepted again
    finally:
        release.set()
        db.close()
