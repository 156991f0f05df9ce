"""storage/db.py: one thread, one connection, one transaction per unit of work."""
import pytest

from storage.db import Database


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
