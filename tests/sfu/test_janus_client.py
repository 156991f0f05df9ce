"""The trio Janus client against a real Janus: session, handles, videorooms, keep-alive, restart."""
from __future__ import annotations

import trio

from signaling.sfu.janus import JanusClient, JanusError, JanusGone


async def test_session_handles_and_videoroom_requests(janus, nursery):
    client = JanusClient(janus.url, timeout=5)
    await nursery.start(client.run)
    await client.wait_connected()
    assert client.server_info["version_string"] == "1.1.2"
    assert "janus.plugin.videoroom" in client.server_info["plugins"]
    handle = await client.attach()
    reply = await client.message(handle, {"request": "create", "room": 4242, "publishers": 6})
    assert reply.data["videoroom"] == "created" and reply.data["room"] == 4242
    listed = await client.message(handle, {"request": "listparticipants", "room": 4242})
    assert listed.data["participants"] == []
    try:
        await client.message(handle, {"request": "create", "room": 4242})
        raise AssertionError("creating the same room twice must fail")
    except JanusError as exc:
        assert exc.code == 427          # JANUS_VIDEOROOM_ERROR_ROOM_EXISTS
    await client.message(handle, {"request": "destroy", "room": 4242})
    exists = await client.message(handle, {"request": "exists", "room": 4242})
    assert exists.data["exists"] is False
    await client.detach(handle)
    try:
        await client.detach(handle)
        raise AssertionError("a detached handle must be unknown")
    except JanusError as exc:
        assert exc.code == 459          # JANUS_ERROR_HANDLE_NOT_FOUND


async def test_keepalives_hold_the_session_past_janus_session_timeout(janus, nursery):
    janus.stop()
    janus.config.write_text(janus.config.read_text().replace("session_timeout = 60", "session_timeout = 3"))
    janus.start()
    client = JanusClient(janus.url, timeout=5, keepalive=1.0)
    await nursery.start(client.run)
    await client.wait_connected()
    first = client.session_id
    handle = await client.attach()
    await trio.sleep(5)      # longer than Janus's session timeout: only keep-alives save it
    await client.message(handle, {"request": "list"})
    assert client.session_id == first and client.generation == 1


async def test_reconnects_with_a_new_session_after_a_janus_restart(janus, nursery):
    sessions: list[int] = []

    async def on_session(generation: int) -> None:
        sessions.append(generation)

    client = JanusClient(janus.url, timeout=5, max_backoff=0.5)
    client.on_session = on_session
    await nursery.start(client.run)
    await client.wait_connected()
    old_session = client.session_id
    await client.attach()
    janus.stop()
    with trio.fail_after(10):
        while client.connected:
            await trio.sleep(0.05)
    try:
        await client.attach()
        raise AssertionError("requests must fail while Janus is down")
    except JanusGone:
        pass
    janus.start()
    with trio.fail_after(20):
        await client.wait_connected()
    assert client.generation == 2 and sessions == [1, 2] and client.session_id != old_session
    handle = await client.attach()
    assert (await client.message(handle, {"request": "list"})).data["videoroom"] == "success"


async def test_parley_serves_and_answers_when_janus_is_unreachable(tmp_path):
    """Janus configured but down: Parley starts, advertises the SFU, and a media request neither
    crashes nor hangs the connection (the controller keeps trying to reconnect)."""
    from ..signaling_helpers import connect, custom_server, joined, settings
    async with custom_server(tmp_path, janus_url="ws://127.0.0.1:9", janus_timeout=1, stun_servers=()) as server:
        p1 = server.actor("participant1")
        assert (await settings(p1))["features"] == ["mcu"]
        token = await p1.create_room(3)
        s1 = await joined(p1, token)
        assert (await p1.post(f"/call/{token}")).status == 200
        async with connect(server, p1, token, s1) as sock:
            await sock.message(s1, {"to": s1, "type": "offer", "roomType": "video",
                                    "payload": {"type": "offer", "sdp": "v=0"}})
            reply = await sock.request({"type": "room", "room": {"roomid": token, "sessionid": s1}})
            assert reply["error"]["code"] == "already_joined"       # still served
        assert server.ctx.hub.sfu.handle_count() == 0 and not server.ctx.hub.sfu.janus.connected
