"""PostgreSQL storage beyond what the API suite checks in PARLEY_TEST_DB=postgres mode: concurrent
commits to one room, PostgreSQL going away and coming back, the CLI on a database URL."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import trio

from ..api.chat_steps import joined, read, send
from .. import support
from ..support import add_background_users, serving

FAST_HASHING = {"PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}


async def test_racing_posts_reach_a_waiter_in_commit_order_without_gaps(tmp_path, fresh_db):
    async with serving(support.test_config(str(tmp_path), database_url=fresh_db, database_pool_size=4)) as server:
        await add_background_users(server)
        p1, p2, p3 = (server.actor(f"participant{n}") for n in (1, 2, 3))
        token = await p1.create_room(3, name="race")
        for actor in (p1, p2, p3):
            await joined(actor, token)
        seen: list[int] = []
        posts_seen = 0
        total = 3 * 12

        async def watch() -> None:
            nonlocal posts_seen
            last = 0
            while posts_seen < total:   # the room's system messages are seen too, but not counted
                r = await read(p1, token, lookIntoFuture=1, lastKnownMessageId=last, timeout=10, limit=100)
                assert r.status in (200, 304), r.text
                if r.status == 200:
                    ids = [m["id"] for m in r.data]
                    seen.extend(ids)
                    posts_seen += sum(1 for m in r.data if not m["systemMessage"])
                    last = ids[-1]

        async def post(actor, n: int) -> None:
            for k in range(12):
                await send(actor, token, f"{n}-{k}")

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                for n, actor in enumerate((p1, p2, p3)):
                    nursery.start_soon(post, actor, n)
        history = await read(p1, token, limit=200)
        stored = sorted(m["id"] for m in history.data if m["message"].count("-") == 1)
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        assert [i for i in seen if i in set(stored)] == stored   # every post seen, none skipped
        texts = [m["message"] for m in sorted(history.data, key=lambda m: m["id"])]
        for n in range(3):   # each poster's own messages in the order it sent them
            assert [t for t in texts if t.startswith(f"{n}-")] == [f"{n}-{k}" for k in range(12)]


async def test_postgres_restart_gives_503_then_recovers_without_restarting_parley(tmp_path, postgres):
    url = postgres.create_database("restart")
    async with serving(support.test_config(str(tmp_path), database_url=url, database_pool_size=2)) as server:
        await add_background_users(server)
        p1 = server.actor("participant1")
        token = await p1.create_room(2, name="before")
        rooms_url = f"/ocs/v2.php{support.API}/room"
        postgres.stop()
        try:
            for _ in range(3):   # a broken pooled connection, then refused connects: all 503
                r = await p1.client.get(rooms_url)
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"].isdigit()
                assert r.json()["ocs"]["meta"]["statuscode"] == 503
            r = await p1.client.post(f"/ocs/v2.php{support.API}/chat/{token}", data={"message": "while down"})
            assert r.status_code == 503, r.text
        finally:
            postgres.start()
        with trio.fail_after(30):
            while (r := await p1.client.get(rooms_url)).status_code != 200:
                assert r.status_code == 503, r.text   # until the workers reconnect
                await trio.sleep(0.2)
        assert [room["name"] for room in r.json()["ocs"]["data"]] == ["before"]
        assert (await p1.post(f"/chat/{token}", message="after")).status == 201


def _parley(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **FAST_HASHING, **env}
    full_env.pop("PARLEY_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "server", *args], capture_output=True, text=True,
                          env=full_env, timeout=60)


def test_every_subcommand_honours_the_database_url(tmp_path, fresh_db):
    env = {"PARLEY_DATABASE_URL": fresh_db}
    added = _parley("user", "add", "ada", "--password", "pw", "--data-dir", str(tmp_path), env=env)
    assert added.returncode == 0, added.stderr
    listed = _parley("user", "list", "--data-dir", str(tmp_path / "elsewhere"), env=env)
    assert listed.returncode == 0 and listed.stdout.split("\t")[0] == "ada", listed.stderr
    assert not (tmp_path / "parley.sqlite3").exists()   # nothing went to SQLite
    flag = _parley("group", "add", "team", "--database-url", fresh_db, env={})
    assert flag.returncode == 0, flag.stderr
    import psycopg
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT id FROM users").fetchall() == [("ada",)]
        assert conn.execute("SELECT id FROM groups").fetchall() == [("team",)]


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    from ..pg_support import free_port
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    result = _parley("user", "list", "--database-url", url, env={})
    assert result.returncode == 1
    assert "cannot connect to PostgreSQL" in result.stderr and "Traceback" not in result.stderr


async def test_racing_check_then_insert_units_do_not_fail(tmp_path, fresh_db):
    """Eight simultaneous joins of one user to one room: on SQLite they queue; on PostgreSQL they
    race to insert the same participant row, and the losers must be re-run, not answered 500."""
    async with serving(support.test_config(str(tmp_path), database_url=fresh_db, database_pool_size=4)) as server:
        await add_background_users(server)
        p1 = server.actor("participant1")
        token = await p1.create_room(3, name="open")
        joiners = [server.actor(f"p2-{n}", "participant2") for n in range(8)]
        statuses: list[int] = []

        async def join(actor) -> None:
            statuses.append((await actor.join(token)).status)   # Actor asserts < 500

        async with trio.open_nursery() as nursery:
            for actor in joiners:
                nursery.start_soon(join, actor)
        assert statuses == [200] * 8
        users = await server.ctx.db.run(lambda conn: conn.execute(
            "SELECT COUNT(*) FROM participants p JOIN rooms r ON r.id = p.room_id "
            "WHERE r.token = ? AND p.user_id = ?", (token, "participant2")).fetchone()[0])
        assert users == 1


def test_backup_and_restore_point_to_postgres_tools_with_a_database_url(tmp_path, fresh_db):
    for command in ("backup", "restore"):
        result = _parley(command, str(tmp_path / "x.sqlite3"), "--database-url", fresh_db, env={})
        assert result.returncode == 1 and "pg_dump" in result.stderr and "Traceback" not in result.stderr
