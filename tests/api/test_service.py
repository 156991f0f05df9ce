"""`parley serve` as systemd runs it: readiness on $NOTIFY_SOCKET, SIGTERM with parked polls,
pulls and WebSockets, JSON logs and the access log. A real subprocess, real sockets."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from ..signaling_helpers import SignalingSocket
from .test_cli import FAST_HASHING, free_port

API = "/ocs/v2.php/apps/spreed/api/v1"
CHAT_POLLS, PULLS, SOCKETS = 100, 5, 3
HEADERS = {"OCS-APIRequest": "true", "Accept": "application/json"}


class Service:
    """`python -m server serve` with a notify socket the test bound (path or abstract)."""

    def __init__(self, tmp_path: Path, abstract: bool, **env: str) -> None:
        self.dir, self.port = tmp_path, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.notify = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"parley-test-{secrets.token_hex(8)}"
            self.address, self.notify_env = "\0" + name, "@" + name
        else:
            self.address = self.notify_env = str(tmp_path / "notify.sock")
        self.env = {**os.environ, **FAST_HASHING, "NOTIFY_SOCKET": self.notify_env,
                    "PARLEY_HOUSEKEEPING_INTERVAL": "3600", **env}
        self.env.pop("PARLEY_CONFIG", None)
        self.stderr = open(tmp_path / "stderr.log", "w+")

    async def start(self) -> None:
        await self.notify.bind(self.address)
        subprocess.run([sys.executable, "-m", "server", "user", "add", "alice", "--password", "secret",
                        "--data-dir", str(self.dir)], env=self.env, check=True, capture_output=True, timeout=60)
        self.process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--bind", f"127.0.0.1:{self.port}",
                                         "--data-dir", str(self.dir)], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=self.stderr)

    async def state(self) -> str:
        with trio.fail_after(60):   # start-up and stop are bounded by the test, not measured
            return (await self.notify.recv(4096)).decode()

    async def exit_code(self) -> int:
        with trio.fail_after(60):
            while self.process.poll() is None:
                await trio.sleep(0.05)
        return self.process.returncode

    def stderr_lines(self) -> list[str]:
        text = (self.dir / "stderr.log").read_text()
        return [line for line in text.splitlines() if line.strip()]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.notify.close()
        self.stderr.close()


def client(service: Service, auth=None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, auth=auth, headers=HEADERS, timeout=90,
                             limits=httpx.Limits(max_connections=CHAT_POLLS + 10))


async def metric(http: httpx.AsyncClient, name: str) -> float:
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize("abstract, stop_signal", [(True, signal.SIGTERM), (False, signal.SIGINT)],
                         ids=["abstract-socket-sigterm", "path-socket-sigint"])
async def test_serve_notifies_systemd_when_ready_and_when_stopping(tmp_path, abstract, stop_signal):
    service = Service(tmp_path, abstract)
    try:
        await service.start()
        ready = await service.state()
        assert ready.split("\n")[0] == "READY=1"
        assert f"127.0.0.1:{service.port}" in ready          # STATUS=serving on http://…
        async with client(service) as http:                   # ready means ready: the DB answers
            assert (await http.get("/readyz")).status_code == 200
        service.process.send_signal(stop_signal)
        assert await service.state() == "STOPPING=1"
        assert await service.exit_code() == 0
    finally:
        service.close()


async def test_sigterm_answers_parked_polls_pulls_and_websockets_then_exits_0(tmp_path):
    access_log = tmp_path / "access.log"
    service = Service(tmp_path, abstract=True, PARLEY_LOG_FORMAT="json", PARLEY_ACCESS_LOG=str(access_log))
    polls: list[httpx.Response] = []
    pulls: list[httpx.Response] = []
    closes: list[int | None] = []
    try:
        await service.start()
        assert (await service.state()).startswith("READY=1")
        alice = client(service, ("alice", "secret"))
        token = (await alice.post(f"{API}/room", data={"roomType": 3, "roomName": "team"})).json()["ocs"]["data"]["token"]
        assert (await alice.post(f"{API}/chat/{token}", data={"message": "hi"})).status_code == 201
        last = (await alice.get(f"{API}/chat/{token}")).json()["ocs"]["data"][0]["id"]
        guests = [client(service) for _ in range(PULLS + SOCKETS)]
        sessions = []
        for guest in guests:
            joined = await guest.post(f"{API}/room/{token}/participants/active")
            assert joined.status_code == 200, joined.text
            sessions.append(joined.json()["ocs"]["data"]["sessionId"])
        for guest in guests[:PULLS]:
            assert (await guest.get(f"{API}/signaling/{token}")).status_code == 200   # the first pull answers at once

        async def poll() -> None:
            polls.append(await alice.get(f"{API}/chat/{token}", params={
                "lookIntoFuture": 1, "lastKnownMessageId": last, "timeout": 60}))

        async def parked_pull(guest: httpx.AsyncClient) -> None:
            pulls.append(await guest.get(f"{API}/signaling/{token}"))

        async def websocket(guest: httpx.AsyncClient, session: str, ready: trio.Event) -> None:
            ticket = (await guest.get(f"{API}/signaling/settings")).json()["ocs"]["data"]["ticket"]
            async with open_websocket_url(service.url.replace("http", "ws") + "/spreed") as ws:
                sock = SignalingSocket(ws)
                assert (await sock.hello(None, ticket))["type"] == "hello"
                assert (await sock.join_room(token, session))["type"] == "room"
                ready.set()
                try:
                    while True:
                        await ws.get_message()
                except ConnectionClosed as closed:
                    closes.append(closed.reason.code)

        with trio.fail_after(60):   # the chat polls wait 60 s and the pulls 30 s unless released
            async with trio.open_nursery() as clients:
                for _ in range(CHAT_POLLS):
                    clients.start_soon(poll)
                for guest in guests[:PULLS]:
                    clients.start_soon(parked_pull, guest)
                for guest, session in zip(guests[PULLS:], sessions[PULLS:]):
                    ready = trio.Event()
                    clients.start_soon(websocket, guest, session, ready)
                    await ready.wait()
                async with client(service) as probe:
                    while (await metric(probe, "parley_chat_polls_parked") < CHAT_POLLS
                           or await metric(probe, "parley_signaling_pulls_parked") < PULLS):
                        await trio.sleep(0.05)
                    assert await metric(probe, "parley_websocket_connections") == SOCKETS
                service.process.send_signal(signal.SIGTERM)
            assert await service.exit_code() == 0
        assert await service.state() == "STOPPING=1"
        for http in [alice, *guests]:
            await http.aclose()
    finally:
        service.close()

    assert [r.status_code for r in polls] == [304] * CHAT_POLLS
    assert [r.status_code for r in pulls] == [200] * PULLS
    assert all(r.json()["ocs"]["data"][-1]["type"] == "usersInRoom" for r in pulls)
    assert closes == [1001] * SOCKETS
    assert not (tmp_path / "parley.sqlite3-wal").exists()   # the database was closed (WAL checkpointed)

    records = [json.loads(line) for line in service.stderr_lines()]   # every stderr line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert any("shutting down" in r["msg"] for r in records)
    assert records[-1]["msg"] == "stopped"

    access = [json.loads(line) for line in access_log.read_text().splitlines()]
    chat = [a for a in access if a["route"] == f"{API}/chat/<token:token>" and a["method"] == "GET"]
    assert len(chat) == CHAT_POLLS + 1 and sum(a["status"] == 304 for a in chat) == CHAT_POLLS
    assert all({"ts", "client", "duration", "status"} <= set(a) and a["client"] == "127.0.0.1" for a in access)
    assert token not in access_log.read_text()
