"""The MCU flow end to end: Parley drives a real Janus, aiortc peers publish and subscribe over
both transports (a user on the WebSocket, a guest on polling), media arrives, and leaving the
call, ending it or deleting the room leaves no handle or videoroom behind in Janus."""
from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from signaling.sfu.controller import CallRoom
from signaling.sfu.janus import JanusClient

from ..e2e.conftest import require
from ..signaling_helpers import connect, custom_server, joined, settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "123456"


@pytest.fixture
def rtc():
    require("aiortc", module="aiortc")


class Peer:
    def __init__(self, process: trio.Process, name: str) -> None:
        self.process, self.name = process, name
        self._buffer = b""

    async def line(self, timeout: float = 60) -> dict:
        with trio.fail_after(timeout):
            while b"\n" not in self._buffer:
                chunk = await self.process.stdout.receive_some(65536)
                if not chunk:
                    raise AssertionError(f"{self.name} exited before answering")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    async def say(self, word: str) -> None:
        await self.process.stdin.send_all(word.encode() + b"\n")


async def start_peer(nursery, server, veth, token: str, user: str | None, mode: str, expect: int,
                     publish: bool = True) -> Peer:
    command = [sys.executable, "-m", "tests.sfu.sfu_peer", "--url", server.url, "--token", token,
               "--mode", mode, "--host-ip", veth.host_ip, "--expect", str(expect), "--timeout", "60"]
    if user:
        command += ["--user", user, "--password", PASSWORD]
    if publish:
        command.append("--publish")
    process = await nursery.start(partial(trio.run_process, command, cwd=ROOT, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, check=False))
    return Peer(process, user or "guest")


async def videoroom_count(janus_url: str) -> int:
    """Videorooms Parley created in this Janus (their description starts with "parley ")."""
    client = JanusClient(janus_url, timeout=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        await client.wait_connected()
        handle = await client.attach()
        rooms = (await client.message(handle, {"request": "list"})).data["list"]
        await client.detach(handle)
        nursery.cancel_scope.cancel()
    return sum(1 for r in rooms if str(r.get("description", "")).startswith("parley "))


async def eventually(predicate, timeout: float = 15) -> None:
    with trio.fail_after(timeout):
        while not await predicate():
            await trio.sleep(0.1)


async def test_hello_and_settings_advertise_mcu_with_janus(janus, tmp_path):
    async with custom_server(tmp_path, janus_url=janus.url, stun_servers=()) as server:
        p1 = server.actor("participant1")
        assert (await settings(p1))["features"] == ["mcu"]
        async with connect(server, p1) as sock:
            assert "mcu" in sock.hello_reply["hello"]["server"]["features"]


async def test_websocket_user_and_polling_guest_publish_subscribe_and_leave_clean(rtc, janus, veth, tmp_path):
    async with custom_server(tmp_path, janus_url=janus.url, stun_servers=()) as server:
        sfu = server.ctx.hub.sfu
        token = await server.actor("participant1").create_room(3)
        async with trio.open_nursery() as nursery:
            a = await start_peer(nursery, server, veth, token, "participant1", "websocket", expect=1)
            b = await start_peer(nursery, server, veth, token, None, "polling", expect=1)
            ready_a, ready_b = await a.line(), await b.line()
            assert ready_a["ready"] and ready_b["ready"]
            assert ready_a["frames"][ready_b["session"]] >= 10 and ready_a["sizes"][ready_b["session"]] == [160, 120]
            assert ready_b["frames"][ready_a["session"]] >= 10 and ready_b["sizes"][ready_a["session"]] == [160, 120]
            participants = await sfu.list_participants(token)
            assert len(participants) == 2 and all(p["publisher"] for p in participants)
            assert sfu.handle_count() == 4           # two publishers, two subscribers
            # media keeps flowing (10 fps: a second and a half brings more frames)
            await trio.sleep(1.5)
            await a.say("report")
            later = await a.line()
            assert later["frames"][ready_b["session"]] > ready_a["frames"][ready_b["session"]]
            await b.say("leave")
            assert (await b.line())["left"]

            async def only_a_left() -> bool:
                listed = await sfu.list_participants(token)
                return sfu.handle_count() == 1 and listed is not None and len(listed) == 1
            await eventually(only_a_left)
            await a.say("leave")
            assert (await a.line())["left"]
        await eventually(lambda: _true(sfu.handle_count() == 0 and token not in sfu.rooms))
        assert await videoroom_count(janus.url) == 0


async def _true(value: bool) -> bool:
    return value


async def test_requestoffer_from_outside_the_call_is_ignored_and_room_delete_tears_down(janus, tmp_path):
    async with custom_server(tmp_path, janus_url=janus.url, stun_servers=()) as server:
        sfu = server.ctx.hub.sfu
        p1, p2 = server.actor("participant1"), server.actor("participant2")
        token = await p1.create_room(3)
        s1, s2 = await joined(p1, token), await joined(p2, token)
        assert (await p1.post(f"/call/{token}")).status == 200
        async with connect(server, p2, token, s2) as sock:      # p2 is in the room, not the call
            await sock.message(s1, {"to": s1, "type": "requestoffer", "roomType": "video"})
            await sock.message(s2, {"to": s2, "type": "offer", "roomType": "video",
                                    "payload": {"type": "offer", "sdp": "v=0"}})
            await sock.request({"type": "room", "room": {"roomid": token, "sessionid": s2}})  # round trip
        await eventually(lambda: _true(sfu.handled >= 2))
        room = sfu.rooms.get(token)
        assert room is None or (not room.publishers and not room.subscribers and not room.waiting)
        assert await videoroom_count(janus.url) == 0
        # a videoroom exists once someone in the call asks for one; deleting the room removes it
        await sfu._ensure_janus_room(sfu.rooms.setdefault(token, CallRoom(token)))
        assert await videoroom_count(janus.url) == 1
        assert (await p1.delete(f"/room/{token}")).status == 200
        await eventually(lambda: _true(token not in sfu.rooms))
        assert await videoroom_count(janus.url) == 0


async def test_after_a_janus_restart_clients_are_told_to_republish_and_media_flows_again(rtc, janus, veth, tmp_path):
    async with custom_server(tmp_path, janus_url=janus.url, stun_servers=()) as server:
        sfu = server.ctx.hub.sfu
        token = await server.actor("participant1").create_room(3)
        async with trio.open_nursery() as nursery:
            a = await start_peer(nursery, server, veth, token, "participant1", "websocket", expect=1)
            b = await start_peer(nursery, server, veth, token, "participant2", "websocket", expect=1)
            assert (await a.line())["ready"] and (await b.line())["ready"]
            generation = sfu.janus.generation
            janus.stop()
            janus.start()
            for peer in (a, b):
                assert (await peer.line())["restarted"]
            for peer in (a, b):
                again = await peer.line()
                assert again["ready"] and list(again["sizes"].values()) == [[160, 120]]
            assert sfu.janus.generation == generation + 1
            assert len(await sfu.list_participants(token)) == 2 and sfu.handle_count() == 4
            for peer in (a, b):
                await peer.say("leave")
                assert (await peer.line())["left"]
        await eventually(lambda: _true(sfu.handle_count() == 0 and token not in sfu.rooms))
        assert await videoroom_count(janus.url) == 0
