"""`parley migrate-to URL`: an SQLite data dir copied into PostgreSQL, verified, and served from there."""
from __future__ import annotations

import os
import subprocess
import sys

from .. import support
from ..api.chat_steps import joined, read, send
from ..api.files_helpers import upload
from ..support import add_background_users, serving

FAST_HASHING = {"PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}


def _migrate(data_dir, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **FAST_HASHING}
    for key in ("PARLEY_CONFIG", "PARLEY_DATABASE_URL"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "server", "migrate-to", url, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, env=env, timeout=120)


async def test_round_trip_keeps_everything_and_refuses_a_second_copy(tmp_path, fresh_db):
    sqlite_config = support.test_config(str(tmp_path), database_url="")
    async with serving(sqlite_config) as server:
        await add_background_users(server)
        p1, p2 = server.actor("participant1"), server.actor("participant2")
        token = await p1.create_room(3, invite="attendees1", name="moving")
        await joined(p1, token)
        await joined(p2, token)
        for n in range(5):
            await send(p1 if n % 2 else p2, token, f"message {n}")
        shared = await upload(p1, token, "quarterly-report.txt", b"numbers")
        assert shared.status == 201
        first = [m for m in (await read(p1, token, limit=50)).data if not m["systemMessage"]][-1]["id"]
        assert (await p2.post(f"/reaction/{token}/{first}", reaction="👍")).status == 201
        before = await read(p1, token, limit=50)
        await read(p2, token, limit=50, setReadMarker=1)
        rooms_before = (await p2.rooms())
        newest = before.data[0]["id"]

    result = _migrate(tmp_path, fresh_db)
    assert result.returncode == 0, result.stderr
    counts = dict(line.split("\t") for line in result.stdout.splitlines() if "\t" in line)
    assert counts["users"] == "4" and counts["group_members"] == "1"
    assert counts["attachments"] == "1" and counts["reactions"] == "1"
    assert counts["message_search"] == "6"   # 5 comments + the file message, rebuilt on the target
    assert "counts verified" in result.stdout

    async with serving(support.test_config(str(tmp_path / "unused"), database_url=fresh_db)) as server:
        p1, p2 = server.actor("participant1"), server.actor("participant2")
        after = await read(p1, token, limit=50)
        assert [(m["id"], m["message"], m["actorId"]) for m in after.data] == \
               [(m["id"], m["message"], m["actorId"]) for m in before.data]
        assert [m["reactions"] for m in after.data] == [m["reactions"] for m in before.data]
        hits = await p1.get("/search", params={"term": "quarterly"})
        assert hits.status == 200 and len(hits.data) == 1   # the file's name, indexed by PostgreSQL
        assert len((await p1.get(f"/chat/{token}/search", params={"term": "mess"})).data) == 5
        rooms_after = await p2.rooms()
        assert [(r["token"], r["name"], r["unreadMessages"]) for r in rooms_after] == \
               [(r["token"], r["name"], r["unreadMessages"]) for r in rooms_before]
        await joined(p1, token)
        await send(p1, token, "on postgres")
        latest = (await read(p1, token, limit=1)).data[0]
        assert latest["message"] == "on postgres" and latest["id"] > newest   # sequences moved past copied ids

    again = _migrate(tmp_path, fresh_db)
    assert again.returncode == 1 and "not empty" in again.stderr


def test_a_missing_data_dir_is_refused(tmp_path, fresh_db):
    result = _migrate(tmp_path / "nothing-here", fresh_db)
    assert result.returncode == 1 and "no database" in result.stderr
