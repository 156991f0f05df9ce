"""`parley backup` and `parley restore`: a consistent copy under chat write load, the round trip,
and every refusal (a running server, files that are not Parley databases)."""
import os
import sqlite3
import subprocess
import sys

import trio

from storage import migrations
from tests.api.chat_steps import send
from tests.api.test_cli import FAST_HASHING, fails, free_port, ok, parley, start_serving
from tests import support
from tests.support import serving


async def parley_async(data_dir, *args) -> subprocess.CompletedProcess:
    """The CLI as a subprocess, without blocking the test's own server (it shares the trio loop)."""
    env = {**os.environ, **FAST_HASHING}
    env.pop("PARLEY_CONFIG", None)
    return await trio.run_process([sys.executable, "-m", "server", *args, "--data-dir", str(data_dir)],
                                  capture_stdout=True, capture_stderr=True, check=False, env=env)


def stored_messages(db_file) -> dict[int, str]:
    """id → text of every chat message in a database file (after checking its integrity)."""
    conn = sqlite3.connect(db_file)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0]: row[1] for row in conn.execute("SELECT id, message FROM messages")}
    finally:
        conn.close()


async def test_backup_under_chat_load_holds_every_acknowledged_message(server, users, p1, tmp_path):
    token = await p1.create_room(3, name="busy")
    acked: list[int] = []
    backup_started = trio.Event()
    acked_during_backup: list[int] = []

    async def post_forever(n: int) -> None:
        i = 0
        while True:
            i += 1
            text = f"writer {n} message {i}"
            await send(p1, token, text)   # asserts the 201
            (acked_during_backup if backup_started.is_set() else acked).append(text)

    target = tmp_path / "backups" / "during-load.sqlite3"
    target.parent.mkdir()
    async with trio.open_nursery() as nursery:
        for n in range(3):
            nursery.start_soon(post_forever, n)
        while len(acked) < 30:
            await trio.sleep(0.01)
        # Everything in `acked` was answered 201 before the backup process even started.
        before = set(acked)
        backup_started.set()
        result = await parley_async(tmp_path, "backup", str(target))
        while len(acked_during_backup) < 5:   # the writers kept going around the backup
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == str(target)
    in_backup = stored_messages(target)
    assert before <= set(in_backup.values()), sorted(before - set(in_backup.values()))
    # A consistent snapshot: the ids form a prefix of the room's history, with no hole in it.
    assert set(in_backup) == set(range(min(in_backup), max(in_backup) + 1))
    live = stored_messages(tmp_path / "parley.sqlite3")
    assert all(live[i] == text for i, text in in_backup.items())
    assert not list(target.parent.glob(".*partial*"))   # no temporary file left behind


async def test_restore_round_trip_brings_the_chat_back(tmp_path):
    source, other = tmp_path / "source", tmp_path / "other"
    async with serving(support.test_config(str(source))) as server:
        from server.domain import accounts
        await accounts.add_user(server.ctx, "alice", "alice-pw")
        alice = server.actor("alice", password="alice-pw")
        token = await alice.create_room(3, name="kept")
        for text in ("one", "two", "three"):
            await send(alice, token, text)
    backup_file = tmp_path / "parley-backup.sqlite3"
    assert ok(parley(source, "backup", str(backup_file))).strip() == str(backup_file)
    ok(parley(other, "user", "add", "bob", "--password", "bob-pw"))   # a database to replace

    out = ok(parley(other, "restore", str(backup_file)))
    assert "restored" in out and "previous database is kept" in out
    kept = list(other.glob("parley.sqlite3.before-restore-*"))
    assert len(kept) == 1
    assert ok(parley(other, "user", "list")).split() == ["alice", "alice"]
    async with serving(support.test_config(str(other))) as server:
        alice = server.actor("alice", password="alice-pw")
        r = await alice.get(f"/chat/{token}", params={"lookIntoFuture": 0, "limit": 10})
        assert r.status == 200, r.text
        assert [m["message"] for m in r.data if m["actorType"] == "users"] == ["three", "two", "one"]
    # The replaced database is intact and still holds bob.
    conn = sqlite3.connect(kept[0])
    assert [row[0] for row in conn.execute("SELECT id FROM users")] == ["bob"]
    conn.close()


def test_restore_refuses_while_a_server_runs_on_the_data_dir(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    ok(parley(elsewhere, "user", "add", "carol", "--password", "carol-pw"))
    backup_file = tmp_path / "b.sqlite3"
    ok(parley(elsewhere, "backup", str(backup_file)))
    ok(parley(data, "user", "add", "alice", "--password", "alice-pw"))
    process, url = start_serving(data, free_port())
    try:
        fails(parley(data, "restore", str(backup_file)), "a Parley server is running on the data directory")
        # A second server on the same directory is refused as well, before it touches anything.
        fails(parley(data, "serve", "--bind", f"127.0.0.1:{free_port()}"),
              "a Parley server is running on the data directory")
        # A backup, on the other hand, is fine while it serves.
        ok(parley(data, "backup", str(tmp_path / "live.sqlite3")))
    finally:
        process.terminate()
        process.wait(timeout=15)
        process.stdout.close()
    assert ok(parley(data, "user", "list")).split()[0] == "alice"   # untouched
    ok(parley(data, "restore", str(backup_file)))   # once it stopped, the restore goes through
    assert ok(parley(data, "user", "list")).split()[0] == "carol"


def test_restore_refuses_files_that_are_not_parley_databases(tmp_path):
    data = tmp_path / "data"
    ok(parley(data, "user", "add", "alice", "--password", "alice-pw"))
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n" * 100)
    fails(parley(data, "restore", str(text)), "not a SQLite database")
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    fails(parley(data, "restore", str(other)), "not a Parley database")
    fails(parley(data, "restore", str(tmp_path / "missing.sqlite3")), "no such file")
    newer = tmp_path / "newer.sqlite3"
    ok(parley(data, "backup", str(newer)))
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {len(migrations.STEPS) + 1}")
    conn.commit()
    conn.close()
    fails(parley(data, "restore", str(newer)), "newer than this Parley")
    assert ok(parley(data, "user", "list")).split()[0] == "alice"
    assert not list(data.glob("*.restoring"))


def test_backup_errors_are_one_line(tmp_path):
    fails(parley(tmp_path / "empty", "backup", str(tmp_path / "b.sqlite3")), "no such file")
    assert not (tmp_path / "empty" / "parley.sqlite3").exists()   # nothing was created
    ok(parley(tmp_path / "data", "user", "add", "alice", "--password", "alice-pw"))
    fails(parley(tmp_path / "data", "backup", str(tmp_path / "no" / "dir" / "b.sqlite3")), "no such directory")
    # A directory as target: a dated file inside it.
    out = ok(parley(tmp_path / "data", "backup", str(tmp_path))).strip()
    assert out.startswith(str(tmp_path / "parley-")) and out.endswith(".sqlite3")
    assert stored_messages(out) == {}


def test_restore_keeps_the_replaced_database_permissions(tmp_path):
    data = tmp_path / "data"
    ok(parley(data, "user", "add", "alice", "--password", "alice-pw"))
    backup_file = tmp_path / "b.sqlite3"
    ok(parley(data, "backup", str(backup_file)))
    (data / "parley.sqlite3").chmod(0o600)
    backup_file.chmod(0o644)
    ok(parley(data, "restore", str(backup_file)))
    assert (data / "parley.sqlite3").stat().st_mode & 0o777 == 0o600
