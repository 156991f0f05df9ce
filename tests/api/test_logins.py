"""Logins under load, over real sockets: the bounded hashers (503 + Retry-After), the per-address
throttle and the global failure budget (429 before hashing), unknown users costing one verify like
wrong passwords, and re-hashing with new argon2 parameters at login."""
import dataclasses
import sqlite3
import threading

import httpx
import trio
from argon2 import PasswordHasher

from server.domain import accounts

from .. import pg_support, support
from ..support import PASSWORD, serving
from .test_ops_endpoints import scrape, value

def config_for(data_dir, **overrides):
    return dataclasses.replace(support.test_config(data_dir), **overrides)


USER_PATH = "/ocs/v2.php/cloud/user"
OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}


async def get(server, path, auth, *, source="127.0.0.1"):
    """One request from the loopback address `source` (the server sees it as the client)."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=server.url, auth=auth, transport=transport) as client:
        response = await client.get(path, headers=OCS)
    assert response.status_code < 500 or response.status_code == 503, response.text
    return response


async def add_users(server, *names):
    for name in names:
        await accounts.add_user(server.ctx, name, PASSWORD)


async def test_a_full_hash_queue_answers_503_with_retry_after_then_serves_again(tmp_path):
    async with serving(config_for(str(tmp_path), password_hash_workers=1, password_queue_max=0)) as server:
        await add_users(server, "alice")
        release = threading.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.ctx.passwords.workers.run, release.wait, 30)   # the one worker is busy
            with trio.fail_after(10):
                while server.ctx.passwords.workers.running == 0:
                    await trio.sleep(0.005)
            for path in (USER_PATH, "/ocs/v1.php/cloud/user"):
                r = await get(server, path, ("alice", PASSWORD))
                assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
                assert r.json()["ocs"]["meta"]["statuscode"] == 503
                assert "busy" in r.json()["ocs"]["meta"]["message"]
            _, samples = await scrape(server)
            assert value(samples, "parley_password_hashes_running") == 1
            assert value(samples, "parley_password_checks_busy_total") == 2
            release.set()
        r = await get(server, USER_PATH, ("alice", PASSWORD))
        assert r.status_code == 200 and r.json()["ocs"]["data"]["id"] == "alice"
        assert server.ctx.passwords.stats.busy == 2
        assert server.ctx.passwords.workers.peak_running == 1


async def test_an_address_that_keeps_failing_is_refused_before_hashing_while_cached_logins_work(tmp_path):
    async with serving(config_for(str(tmp_path), login_address_burst=3, login_address_rate=0.001)) as server:
        await add_users(server, "alice", "bob")
        assert (await get(server, USER_PATH, ("alice", PASSWORD))).status_code == 200   # now cached
        hashed = server.ctx.passwords.workers.completed
        for name in ("bob", "carol", "dave"):       # a wrong password and two unknown users
            assert (await get(server, USER_PATH, (name, "guess"))).status_code == 401
        assert server.ctx.passwords.workers.completed == hashed + 3
        r = await get(server, USER_PATH, ("bob", PASSWORD))          # even right: not yet checked
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert "address" in r.json()["ocs"]["meta"]["message"]
        assert server.ctx.passwords.workers.completed == hashed + 3   # refused without hashing
        assert (await get(server, USER_PATH, ("alice", PASSWORD))).status_code == 200
        assert (await get(server, USER_PATH, ("bob", PASSWORD), source="127.0.0.2")).status_code == 200
        stats = server.ctx.passwords.stats
        assert (stats.failed, stats.throttled) == (3, 1)
        _, samples = await scrape(server)             # what /metrics reports
        assert value(samples, "parley_logins_failed_total") == 3
        assert value(samples, "parley_logins_throttled_total") == 1


async def test_a_spent_failure_budget_refuses_failing_addresses_but_serves_clean_ones(tmp_path):
    config = config_for(str(tmp_path), login_failure_budget=2, login_failure_rate=0.001)
    async with serving(config) as server:
        await add_users(server, "alice")
        for source in ("127.0.0.2", "127.0.0.3"):
            assert (await get(server, USER_PATH, ("mallory", "x"), source=source)).status_code == 401
        r = await get(server, USER_PATH, ("mallory", "y"), source="127.0.0.2")
        assert r.status_code == 429 and "server" in r.json()["ocs"]["meta"]["message"]
        r = await get(server, USER_PATH, ("alice", PASSWORD), source="127.0.0.4")
        assert r.status_code == 200


async def test_unknown_users_cost_one_verification_like_wrong_passwords(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:
        await add_users(server, "alice")
        workers = server.ctx.passwords.workers
        before = workers.completed
        wrong = await get(server, USER_PATH, ("alice", "wrong"))
        after_wrong = workers.completed
        unknown = await get(server, USER_PATH, ("nobody", "wrong"))
        assert (wrong.status_code, unknown.status_code) == (401, 401)
        assert wrong.json()["ocs"]["meta"] == unknown.json()["ocs"]["meta"]
        assert after_wrong - before == workers.completed - after_wrong == 1


def stored_hash(data_dir, user_id):
    if pg_support.wanted():   # PARLEY_TEST_DB=postgres: the data dir's database is in PostgreSQL
        import psycopg
        with psycopg.connect(pg_support.url_for_data_dir(str(data_dir))) as conn:
            return conn.execute("SELECT password_hash FROM users WHERE id = %s", (user_id,)).fetchone()[0]
    with sqlite3.connect(f"{data_dir}/parley.sqlite3") as conn:
        return conn.execute("SELECT password_hash FROM users WHERE id = ?", (user_id,)).fetchone()[0]


async def test_a_hash_with_old_parameters_is_redone_at_the_next_successful_login(tmp_path):
    async with serving(config_for(str(tmp_path))) as server:      # t=1, 1 MiB
        await add_users(server, "alice")
    old = stored_hash(tmp_path, "alice")
    assert "m=1024,t=1" in old
    stronger = config_for(str(tmp_path), argon2_time_cost=2, argon2_memory_kib=2048)
    async with serving(stronger) as server:
        assert (await get(server, USER_PATH, ("alice", "wrong"))).status_code == 401
        assert stored_hash(tmp_path, "alice") == old                  # a failure changes nothing
        assert (await get(server, USER_PATH, ("alice", PASSWORD))).status_code == 200
        new = stored_hash(tmp_path, "alice")
        assert "m=2048,t=2" in new and PasswordHasher().verify(new, PASSWORD)
    async with serving(stronger) as server:                           # the new hash is the one used
        assert (await get(server, USER_PATH, ("alice", PASSWORD))).status_code == 200
        assert stored_hash(tmp_path, "alice") == new
