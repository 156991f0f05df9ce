"""The `parley` command, run as a real subprocess on a temporary data directory: user and group
management, its error messages and exit codes, and `parley serve` starting and stopping."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
from argon2 import PasswordHasher

from .. import pg_support

# Cheap password hashing for the CLI runs (the defaults cost ~100 ms per hash).
FAST_HASHING = {"PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}


def parley(data_dir, *args, stdin=None, env=None):
    """Run `python -m server ARGS --data-dir DATA_DIR`; returns the CompletedProcess."""
    full_env = {**os.environ, **FAST_HASHING, **pg_support.env_for_data_dir(data_dir), **(env or {})}
    full_env.pop("PARLEY_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "server", *args, "--data-dir", str(data_dir)],
                          input=stdin, capture_output=True, text=True, env=full_env, timeout=60)


def ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(result, *words, code=1):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


def query(data_dir, sql, params=()):
    """Rows straight from the database the CLI wrote (SQLite file, or PostgreSQL in that test mode)."""
    if pg_support.wanted():
        import psycopg
        with psycopg.connect(pg_support.url_for_data_dir(str(data_dir))) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()
    with sqlite3.connect(data_dir / "parley.sqlite3") as conn:
        return conn.execute(sql, params).fetchall()


def password_matches(data_dir, user_id, password):
    (stored,) = query(data_dir, "SELECT password_hash FROM users WHERE id = ?", (user_id,))[0]
    try:
        return PasswordHasher().verify(stored, password)
    except Exception:
        return False


def test_user_add_list_passwd_and_delete(tmp_path):
    assert ok(parley(tmp_path, "user", "add", "alice", "--password", "first", "--admin",
                     "--display-name", "Alice A")) == "created user alice (admin)\n"
    assert ok(parley(tmp_path, "user", "add", "bob", "--password", "bob-pw")) == "created user bob\n"
    assert ok(parley(tmp_path, "user", "list")).splitlines() == ["alice\tAlice A\tadmin", "bob\tbob"]
    assert password_matches(tmp_path, "alice", "first")

    ok(parley(tmp_path, "user", "passwd", "alice", "--password", "second"))
    assert password_matches(tmp_path, "alice", "second") and not password_matches(tmp_path, "alice", "first")
    assert "alice" in ok(parley(tmp_path, "user", "passwd", "alice", stdin="third\n"))
    assert password_matches(tmp_path, "alice", "third")

    assert ok(parley(tmp_path, "user", "delete", "bob")) == "deleted user bob\n"
    assert ok(parley(tmp_path, "user", "list")).splitlines() == ["alice\tAlice A\tadmin"]


def test_user_errors_exit_non_zero_with_a_clear_message(tmp_path):
    ok(parley(tmp_path, "user", "add", "alice", "--password", "pw"))
    fails(parley(tmp_path, "user", "add", "alice", "--password", "pw"), "user alice already exists")
    fails(parley(tmp_path, "user", "passwd", "nobody", "--password", "pw"), "user nobody does not exist")
    fails(parley(tmp_path, "user", "delete", "nobody"), "user nobody does not exist")
    fails(parley(tmp_path, "user", "add", "bad id", "--password", "pw"), "user id must be")
    fails(parley(tmp_path, "user", "add", "x" * 65, "--password", "pw"), "user id must be")
    fails(parley(tmp_path, "user", "add", "carol", "--password", ""), "password must not be empty")
    fails(parley(tmp_path, "user", "passwd", "alice", stdin="\n"), "password must not be empty")
    fails(parley(tmp_path, "user", "add", "dave"), "--password", code=2)   # argparse: required option
    assert ok(parley(tmp_path, "user", "list")).splitlines() == ["alice\talice"]


def test_group_add_and_adduser(tmp_path):
    ok(parley(tmp_path, "user", "add", "alice", "--password", "pw"))
    assert ok(parley(tmp_path, "group", "add", "team")) == "created group team\n"
    assert ok(parley(tmp_path, "group", "adduser", "team", "alice")) == "added alice to team\n"
    assert query(tmp_path, "SELECT group_id, user_id FROM group_members") == [("team", "alice")]
    fails(parley(tmp_path, "group", "add", "team"), "group team already exists")
    fails(parley(tmp_path, "group", "add", "two words"), "group id must be")
    fails(parley(tmp_path, "group", "adduser", "nogroup", "alice"), "group nogroup does not exist")
    fails(parley(tmp_path, "group", "adduser", "team", "nobody"), "user nobody does not exist")


def test_unusable_data_dir_and_config_file_are_reported_without_traceback(tmp_path):
    sqlite = {"PARLEY_DATABASE_URL": ""}   # these are SQLite data-dir faults, in every test mode
    blocker = tmp_path / "file"
    blocker.write_text("")
    fails(parley(blocker / "data", "user", "list", env=sqlite), "Not a directory", str(blocker / "data"))
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "parley.sqlite3").write_text("garbage " * 200)
    fails(parley(corrupt, "user", "list", env=sqlite), "parley.sqlite3", "not a database")
    fails(parley(tmp_path, "user", "list", "--config", str(tmp_path / "missing.toml")),
          "cannot read config file", code=2)
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nnot_a_key = 1\n")
    fails(parley(tmp_path, "user", "list", "--config", str(bad)), "unknown key [server] not_a_key", code=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serving(data_dir, port):
    env = {**os.environ, **FAST_HASHING, **pg_support.env_for_data_dir(data_dir)}
    env.pop("PARLEY_CONFIG", None)
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--bind", f"127.0.0.1:{port}",
                                "--data-dir", str(data_dir)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/ocs/v2.php/cloud/capabilities", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"parley serve did not start: {process.communicate()[0]}")
            time.sleep(0.05)


def test_serve_answers_capabilities_and_stops_on_sigterm(tmp_path):
    process, url = start_serving(tmp_path, free_port())
    try:
        r = httpx.get(url + "/ocs/v1.php/cloud/capabilities", headers={"Accept": "application/json"})
        assert r.status_code == 200
        assert r.json()["ocs"]["data"]["capabilities"]["spreed"]["features"][2] == "chat-v2"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        output = process.stdout.read()
        assert f"Parley is serving on {url}" in output
        assert "stopped" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_on_a_port_in_use_fails_with_a_clear_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = parley(tmp_path, "serve", "--bind", f"127.0.0.1:{port}")
    fails(result, f"cannot listen on 127.0.0.1:{port}")


def test_room_survives_kill_9(tmp_path):
    ok(parley(tmp_path, "user", "add", "alice", "--password", "alice-pw"))
    headers = {"OCS-APIRequest": "true", "Accept": "application/json"}
    rooms = "/ocs/v2.php/apps/spreed/api/v1/room"
    process, url = start_serving(tmp_path, free_port())
    try:
        r = httpx.post(url + rooms, data={"roomType": "3", "roomName": "durable"}, headers=headers,
                       auth=("alice", "alice-pw"))
        assert r.status_code == 201
        token = r.json()["ocs"]["data"]["token"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
    process, url = start_serving(tmp_path, free_port())
    try:
        r = httpx.get(url + rooms, headers=headers, auth=("alice", "alice-pw"))
        assert r.status_code == 200
        assert [(room["token"], room["name"]) for room in r.json()["ocs"]["data"]] == [(token, "durable")]
    finally:
        process.terminate()
        process.wait(timeout=15)
        process.stdout.close()


async def test_password_changed_by_the_cli_takes_effect_at_once_in_a_running_server(tmp_path, users, p1):
    """The server caches verified Basic credentials; a change made by another process must still
    end the old password immediately (the cache is keyed on the stored hash)."""
    import trio
    assert (await p1.get("/room")).status == 200                       # the old password is cached now
    done = await trio.to_thread.run_sync(lambda: parley(tmp_path, "user", "passwd", "participant1",
                                                        "--password", "changed"))
    ok(done)
    assert (await p1.get("/room")).status == 401
    assert (await users.actor("participant1", password="changed").get("/room")).status == 200
