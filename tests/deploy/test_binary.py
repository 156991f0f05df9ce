"""Smoke test of the one-file binary as an operator runs it: from an empty directory, with a
minimal PATH and no Python environment variables, nothing but dist/parley does the work, over
HTTPS and WSS with a certificate from a test CA (trustme)."""
from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import trio

import server
from trio_websocket import open_websocket_url

from tests.signaling_helpers import SignalingSocket, joined, settings
from tests.support import ManualClock, RunningServer

HEADERS = {"OCS-APIRequest": "true", "Accept": "application/json"}
ROOMS = "/ocs/v2.php/apps/spreed/api/v1/room"
CHAT = "/ocs/v2.php/apps/spreed/api/v1/chat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Operator:
    """Runs the binary in `workdir` with the environment of a bare server."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        # No PYTHONPATH/PYTHONHOME, no venv on PATH, HOME inside the test's directory.
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8"}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary), *args], cwd=self.workdir, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def start(self, *args: str, log: Path, **env: str) -> subprocess.Popen:
        return subprocess.Popen([str(self.binary), *args], cwd=self.workdir, env={**self.env, **env},
                                stdout=log.open("w"), stderr=subprocess.STDOUT)


async def wait_for_line(log: Path, pattern: str, process: subprocess.Popen, timeout: float = 60) -> re.Match:
    """The first match of `pattern` in the server's output (start-up unpacks the bundle: allow time)."""
    with trio.move_on_after(timeout):
        while True:
            match = re.search(pattern, log.read_text())
            if match:
                return match
            assert process.poll() is None, f"the binary exited early:\n{log.read_text()}"
            await trio.sleep(0.05)
    raise AssertionError(f"no {pattern!r} in the output:\n{log.read_text()}")


async def test_the_binary_serves_a_team_from_an_empty_directory(binary, tmp_path, tls_files):
    workdir = tmp_path / "empty"
    workdir.mkdir()
    op = Operator(binary, workdir)

    assert op.ok("--version").strip() == f"parley {server.__version__}"
    for command in ("serve", "user", "group", "backup", "restore"):
        assert command in op.ok("--help")

    # First start on an empty data dir (the default ./data): a one-time setup link is printed.
    port = free_port()
    log = tmp_path / "serve.log"
    # systemd's readiness socket (Type=notify), played by the test: READY=1 must come from the
    # Python process the one-file bootloader starts, hence NotifyAccess=all in the unit.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    process = op.start("serve", "--bind", f"127.0.0.1:{port}", "--tls-cert", str(tls_files.cert),
                       "--tls-key", str(tls_files.key), log=log, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    tls = tls_files.client_context()
    try:
        url = (await wait_for_line(log, r"Parley is serving on (https://\S+)", process)).group(1)
        assert url == f"https://127.0.0.1:{port}"
        setup = (await wait_for_line(log, r"(https://\S+/setup#[A-Za-z0-9_-]{40,})", process)).group(1)
        ready = trio.socket.from_stdlib_socket(notify)
        with trio.fail_after(30):
            states = (await ready.recv(4096)).decode()
        assert "READY=1" in states.splitlines(), states
        async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60, verify=tls) as web:
            assert (await web.get("/healthz")).status_code == 200
            assert (await web.get("/readyz")).status_code == 200
            page = await web.get(setup.split("#")[0])
            assert page.status_code == 200 and 'src="/web/js/main.js"' in page.text
            script = await web.get("/web/js/main.js")   # the web client is inside the binary
            assert script.status_code == 200 and "showSetup" in script.text

            # The admin is created with the binary itself, while it serves (WAL: no lock needed).
            assert "created user admin (admin)" in op.ok("user", "add", "admin", "--password", "admin-pw", "--admin")
            op.ok("user", "add", "bob", "--password", "bob-pw", "--display-name", "Bob")
            assert op.ok("user", "list").split() == ["admin", "admin", "admin", "bob", "Bob"]
            assert "created group team" in op.ok("group", "add", "team")
            assert "added bob to team" in op.ok("group", "adduser", "team", "bob")
            op.ok("user", "add", "temp", "--password", "temp-pw")
            assert "deleted user temp" in op.ok("user", "delete", "temp")
            passwd = op.run("user", "passwd", "bob", stdin="bob-new-pw\n")   # read from stdin: no tty
            assert passwd.returncode == 0 and "password of bob changed" in passwd.stdout, passwd.stderr
            r = await web.post("/setup", json={"token": setup.split("#")[1], "userId": "x", "password": "y"})
            assert r.status_code == 404   # an account exists: the link is spent

            # Log in like the web client, then chat: a long-poll is answered by a post.
            r = await web.post("/login", data={"user": "admin", "password": "admin-pw"})
            assert r.status_code == 200 and r.json()["isAdmin"] is True
            assert "secure" in r.headers["set-cookie"].lower()   # HTTPS: the login cookie is Secure
            r = await web.post(ROOMS, data={"roomType": "2", "roomName": "team", "invite": ""})
            assert r.status_code == 201, r.text
            token = r.json()["ocs"]["data"]["token"]
            assert (await web.post(f"{ROOMS}/{token}/participants", data={"newParticipant": "bob"})).status_code == 200

        running = RunningServer(url=url, app=None, clock=ManualClock(), ssl_context=tls)
        bob = running.actor("bob", password="bob-new-pw")
        admin = running.actor("admin", password="admin-pw")
        history = await bob.get(f"/chat/{token}", params={"lookIntoFuture": 0})
        assert history.status in (200, 304), history.text   # 304: no message yet
        last = int(history.headers.get("X-Chat-Last-Given", 0))
        polled: list = []

        async def long_poll() -> None:
            r = await bob.get(f"/chat/{token}", params={"lookIntoFuture": 1, "lastKnownMessageId": last,
                                                        "timeout": 30})
            polled.append(r)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_poll)
            await trio.sleep(0.3)   # let the poll park first (it is answered either way)
            r = await admin.post(f"/chat/{token}", message="hello from the binary")
            assert r.status == 201, r.text
        assert polled[0].status == 200
        assert [m["message"] for m in polled[0].data] == ["hello from the binary"]

        # Signaling over WSS: the URL /signaling/settings names, a hello with its ticket, the room.
        session = await joined(bob, token)
        signaling = await settings(bob)
        assert signaling["server"] == url.replace("https://", "wss://")
        async with open_websocket_url(signaling["server"] + "/spreed", ssl_context=tls) as ws:
            sock = SignalingSocket(ws)
            hello = await sock.hello("bob", signaling["ticket"])
            assert hello["type"] == "hello" and hello["hello"]["userid"] == "bob", hello
            room = await sock.join_room(token, session)
            assert room["type"] == "room" and room["room"]["roomid"] == token, room

        # Prometheus metrics (loopback is allowed by default), built with prometheus-client.
        async with httpx.AsyncClient(base_url=url, timeout=60, verify=tls) as scraper:
            metrics = await scraper.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert re.search(r"^parley_chat_messages_posted_total 1\.0$", metrics.text, re.M), metrics.text[:2000]
        assert 'route="/login"' in metrics.text and "parley_http_request_duration_seconds_bucket" in metrics.text

        # A backup while serving, written by the binary, holds the message.
        backup = tmp_path / "backup.sqlite3"
        assert op.ok("backup", str(backup)).strip() == str(backup)
        conn = sqlite3.connect(backup)
        assert conn.execute("SELECT count(*) FROM messages WHERE message = 'hello from the binary'").fetchone() == (1,)
        conn.close()
        refused = op.run("restore", str(backup))
        assert refused.returncode == 1 and "a Parley server is running" in refused.stderr
        for actor in running.actors:
            await actor.aclose()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in log.read_text()
        assert "Traceback" not in log.read_text()
    finally:
        notify.close()
        if process.poll() is None:
            process.kill()
            process.wait()

    # Stopped: the restore goes through, and the data dir is the default one in the working directory.
    assert "restored" in op.ok("restore", str(backup))
    assert (workdir / "data" / "parley.sqlite3").is_file()
    assert op.ok("user", "list").split()[0] == "admin"
