"""What makes two nodes behave as one server (issue 13, item 3), each over a real Redis and two
real nodes: WebSocket resume on the other node, the login and room-password limits counted once
for the cluster, pings seen by every node, and the ordering that keeps a removed guest's parked
poll on one node from being served a message posted on the other."""
from __future__ import annotations

import httpx
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from ..api.chat_steps import comments, joined as chat_joined, read, send as chat_send
from ..signaling_helpers import SignalingSocket, connect, envelope, joined, send, ws_url
from ..support import PASSWORD, ManualClock, add_background_users, serving
from ..support import test_config as config_for

OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}


async def wait_until(condition, seconds: float = 10) -> None:
    with trio.fail_after(seconds):
        while not condition():
            await trio.sleep(0.01)


async def test_a_websocket_session_dropped_on_a_resumes_on_b_with_its_queued_messages(nodes):
    a, b = nodes
    p1a, p2a = a.actor("participant1"), a.actor("participant2")
    token = await p1a.create_room(3)
    s1, s2 = await joined(p1a, token), await joined(p2a, token)
    async with connect(a, p1a, token, s1) as sock:
        resume_id = sock.hello_reply["hello"]["resumeid"]
    await wait_until(lambda: not a.ctx.hub.websockets.connected(s1))   # A saw the close: detached
    await send(p2a, token, envelope(s2, {"to": s1, "type": "offer", "n": 1}))   # queued on A
    async with open_websocket_url(ws_url(b)) as ws:
        sock = SignalingSocket(ws)
        reply = await sock.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
        assert reply["type"] == "hello", reply
        assert (reply["hello"]["sessionid"], reply["hello"]["resumeid"]) == (s1, resume_id)
        got = await sock.receive_until(lambda f: f["type"] == "message")
        assert got["message"]["data"]["n"] == 1 and got["message"]["sender"]["sessionid"] == s2
        # B holds it now, A has let go without leaving the room (no expiry will end it there).
        assert b.ctx.hub.websockets.connected(s1) and len(a.ctx.hub.websockets) == 0
        # A message sent through A after the move reaches the client on B.
        await send(p2a, token, envelope(s2, {"to": s1, "type": "offer", "n": 2}))
        got = await sock.receive_until(lambda f: f["type"] == "message")
        assert got["message"]["data"]["n"] == 2
    # The Talk session is still in the room: the move was not a leave.
    room = await p1a.get(f"/room/{token}")
    assert room.data["sessionId"] == s1


async def test_resuming_on_b_takes_over_a_socket_a_still_serves(nodes):
    a, b = nodes
    p1a = a.actor("participant1")
    token = await p1a.create_room(3)
    s1 = await joined(p1a, token)
    async with connect(a, p1a, token, s1) as old:
        resume_id = old.hello_reply["hello"]["resumeid"]
        async with open_websocket_url(ws_url(b)) as ws:
            new = SignalingSocket(ws)
            reply = await new.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
            assert reply["type"] == "hello" and reply["hello"]["sessionid"] == s1
            closed = False
            try:
                with trio.fail_after(10):
                    while True:
                        await old.receive()
            except ConnectionClosed:
                closed = True
            assert closed
            assert b.ctx.hub.websockets.connected(s1) and not a.ctx.hub.websockets.connected(s1)


async def test_an_unknown_resume_id_is_no_such_session_on_any_node(nodes):
    _, b = nodes
    async with open_websocket_url(ws_url(b)) as ws:
        sock = SignalingSocket(ws)
        reply = await sock.request({"type": "hello", "hello": {"version": "1.0", "resumeid": "nobody-has-it"}})
        assert reply["type"] == "error" and reply["error"]["code"] == "no_such_session"


async def test_wrong_room_passwords_are_counted_once_for_the_cluster(nodes):
    a, b = nodes
    p1a = a.actor("participant1")
    token = await p1a.create_room(3, name="lobby")
    assert (await p1a.put(f"/room/{token}/password", password="foobar")).status == 200
    guests = [a.actor("guest-a"), b.actor("guest-b")]
    for n in range(5):   # the guesser alternates nodes: 3 tries on A, 2 on B
        assert (await guests[n % 2].join(token, "wrong")).status == 403
    for guest in guests:   # each node alone saw fewer than 5: only a shared count refuses
        r = await guest.join(token, "foobar")
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1


async def test_failed_logins_are_counted_once_for_the_cluster(nodes):
    a, b = nodes
    statuses = []
    for n in range(6):
        async with httpx.AsyncClient(base_url=(a, b)[n % 2].url, auth=("participant1", "wrong")) as client:
            statuses.append((await client.get("/ocs/v2.php/cloud/user", headers=OCS)).status_code)
    assert statuses == [401] * 5 + [429]


async def test_login_limits_fall_back_to_each_node_while_redis_is_down(nodes, redis):
    a, _ = nodes
    redis.stop()
    await wait_until(lambda: a.ctx.bus._client is None)
    statuses = []
    async with httpx.AsyncClient(base_url=a.url, auth=("participant1", "wrong")) as client:
        for _ in range(6):
            statuses.append((await client.get("/ocs/v2.php/cloud/user", headers=OCS)).status_code)
    assert statuses == [401] * 5 + [429]   # A's own throttle, not nobody's
    assert a.ctx.passwords.shared.fallbacks > 0
    async with httpx.AsyncClient(base_url=a.url, auth=("participant1", PASSWORD)) as client:
        assert (await client.get("/ocs/v2.php/cloud/user", headers=OCS)).status_code == 429


async def test_a_ping_on_a_counts_on_b(tmp_path, redis):
    clock = ManualClock()   # one clock for both nodes, pushed forward by the test
    config = config_for(str(tmp_path / "data"), redis_url=redis.url)
    async with serving(config, clock) as a:
        await add_background_users(a)
        async with serving(config, clock) as b:
            p1a, p2b = a.actor("participant1"), b.actor("participant2")
            token = await p1a.create_room(3, name="lobby")
            assert (await p1a.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
            await joined(p1a, token)
            clock.advance(60)   # the join's ping is now too old to count as active
            assert (await p1a.post(f"/call/{token}/ping")).status == 200   # through A only
            # Nothing stored it yet (no housekeeping round ran): only the bus can tell B.
            await wait_until(lambda: len(b.ctx.hub.presence) > 0)
            assert (await p2b.get(f"/room/{token}")).data["count"] == 1


async def test_a_guest_removed_on_b_never_gets_a_message_posted_on_a_while_parked_on_a(nodes):
    """The removal committed on B before the post on A; B's event and A's own post reach A's
    parked poll by different paths (Redis, and A's own hub). The poll must not be served the post:
    B answered the removal only once its event was in Redis, and A's woken poll passes a barrier
    through Redis before it trusts its access check."""
    a, b = nodes
    p1a, p1b = a.actor("participant1"), b.actor("participant1")
    for attempt in range(3):   # the race, if there were one, would need some luck
        token = await p1a.create_room(3, name=f"public {attempt}")
        guest = a.actor(f"guest{attempt}")
        session = await chat_joined(guest, token)
        await chat_send(guest, token, "I am here")
        last = comments(await read(guest, token))[0]["id"]
        replies = []

        async def poll():
            replies.append(await read(guest, token, lookIntoFuture=1, lastKnownMessageId=last, timeout=10))
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(poll)
                await wait_until(lambda: a.ctx.hub.chat.waiting() == 1)
                r = await p1b.delete(f"/room/{token}/participants/guests", participant=session)
                assert r.status == 200
                await chat_send(p1a, token, "secret after the kick")
        assert replies[0].status == 404, replies[0].text


async def test_a_password_changed_on_a_is_refused_by_b_at_once(nodes):
    """The change is answered only once every node confirmed it forgot the cached login, so
    the very next request, to B, is checked again (repeated: a race would need some luck)."""
    a, b = nodes
    for round_ in range(3):
        old, new = (PASSWORD, "second") if round_ % 2 == 0 else ("second", PASSWORD)
        async with httpx.AsyncClient(base_url=b.url, auth=("participant1", old)) as client:
            assert (await client.get("/ocs/v2.php/cloud/user", headers=OCS)).status_code == 200   # cached on B
        async with httpx.AsyncClient(base_url=a.url, auth=("admin", "admin")) as admin:
            r = await admin.put("/ocs/v2.php/cloud/users/participant1", headers=OCS,
                                data={"key": "password", "value": new})
            assert r.status_code == 200, r.text
        async with httpx.AsyncClient(base_url=b.url, auth=("participant1", old)) as client:
            assert (await client.get("/ocs/v2.php/cloud/user", headers=OCS)).status_code == 401
