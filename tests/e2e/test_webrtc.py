"""Real WebRTC peers (aiortc) negotiate a data channel through Parley and exchange a message:
both on polling, one polling and one on the WebSocket, and relayed through coturn with TURN
credentials from /signaling/settings."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from server.config import TurnServer

from ..signaling_helpers import custom_server, settings
from .conftest import require

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "123456"


async def run_peer(server, token: str, user: str, mode: str, *extra: str) -> dict:
    command = [sys.executable, "-m", "tests.e2e.webrtc_peer", "--url", server.url, "--token", token,
               "--mode", mode, "--user", user, "--password", PASSWORD, "--name", user, *extra]
    with trio.fail_after(90):
        done = await trio.run_process(command, cwd=ROOT, capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


async def call_between(server, modes: tuple[str, str], *extra: str) -> tuple[dict, dict]:
    owner = server.actor("participant1")
    token = await owner.create_room(3)
    results: dict[str, dict] = {}

    async def peer(user: str, mode: str) -> None:
        results[user] = await run_peer(server, token, user, mode, *extra)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer, "participant1", modes[0])
        nursery.start_soon(peer, "participant2", modes[1])
    a, b = results["participant1"], results["participant2"]
    assert a["received"] == "hello from participant2"
    assert b["received"] == "hello from participant1"
    assert a["peer"] == b["session"] and b["peer"] == a["session"]
    offerer, answerer = (a, b) if a["session"] > b["session"] else (b, a)
    assert {"answer", "candidate"} <= set(offerer["types"]) and {"offer", "candidate"} <= set(answerer["types"])
    return a, b


@pytest.fixture
def rtc():
    require("aiortc", module="aiortc")


async def test_two_polling_peers_open_a_data_channel(rtc, tmp_path):
    async with custom_server(tmp_path, stun_servers=()) as server:
        await call_between(server, ("polling", "polling"))


async def test_polling_and_websocket_peers_open_a_data_channel(rtc, tmp_path):
    async with custom_server(tmp_path, stun_servers=()) as server:
        await call_between(server, ("polling", "websocket"))


# -- TURN ---------------------------------------------------------------------------------------


def free_port() -> int:
    """A port free for both UDP and TCP (coturn listens on both), below the kernel's ephemeral
    range so no outgoing connection of the test run can take it meanwhile."""
    import random
    for _ in range(200):
        port = random.randint(20000, 28999)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            try:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port for coturn")


@pytest.fixture
def coturn(tmp_path):
    """coturn on 127.0.0.1 with the TURN REST scheme (use-auth-secret), no TLS, no CLI."""
    require("coturn", binary="turnserver")
    port, secret = free_port(), "parley-turn-secret"
    relay_base = 29000 + (port % 18) * 200    # relay ports, also below the ephemeral range
    process = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
         f"--min-port={relay_base}", f"--max-port={relay_base + 200}", "--use-auth-secret",
         f"--static-auth-secret={secret}", "--realm=parley.test", "--fingerprint", "--no-tls", "--no-dtls",
         "--no-cli", "--allow-loopback-peers", f"--userdb={tmp_path / 'turndb'}",
         f"--pidfile={tmp_path / 'turn.pid'}", "--log-file=stdout", "--simple-log"],
        stdout=open(tmp_path / "turn.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_for_udp_listener(port, process)
        yield port, secret
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_udp_listener(port: int, process: subprocess.Popen) -> None:
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "turnserver exited at start-up"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return          # taken: coturn is listening
        time.sleep(0.05)        # ok: waiting for an external process to bind its port
    raise AssertionError("turnserver did not start listening")


async def uclient(port: int, username: str, password: str) -> int:
    done = await trio.run_process(["turnutils_uclient", "-u", username, "-w", password, "-y", "-n", "2", "-m", "1",
                                   "-l", "100", "-p", str(port), "127.0.0.1"],
                                  capture_stdout=True, capture_stderr=True, check=False)
    return done.returncode


async def test_turn_credentials_from_settings_are_accepted_by_coturn(coturn, tmp_path):
    port, secret = coturn
    turn = (TurnServer(f"127.0.0.1:{port}", secret, ("udp", "tcp")),)
    async with custom_server(tmp_path, stun_servers=(), turn_servers=turn) as server:
        entry = (await settings(server.actor("participant1")))["turnservers"][0]
    with trio.fail_after(60):
        assert await uclient(port, entry["username"], entry["credential"]) == 0
        assert await uclient(port, entry["username"], "d3JvbmcgcGFzc3dvcmQ=") != 0
        expired = "1000000000:someone"
        from signaling.turn import credential
        assert await uclient(port, expired, credential(secret, expired)) != 0


async def test_peers_restricted_to_relay_candidates_connect_through_coturn(rtc, coturn, tmp_path):
    port, secret = coturn
    turn = (TurnServer(f"127.0.0.1:{port}", secret, ("udp",)),)
    async with custom_server(tmp_path, stun_servers=(), turn_servers=turn) as server:
        a, b = await call_between(server, ("polling", "websocket"), "--relay-only")
    assert a["local_candidate_types"] == ["relay"] and b["local_candidate_types"] == ["relay"]
