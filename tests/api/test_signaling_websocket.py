"""The /spreed WebSocket (standalone signaling API v1 subset) over real sockets, alone and mixed
with polling clients."""
from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from signaling.ticket import make_ticket

from .. import cluster_mode
from ..signaling_helpers import (SignalingSocket, connect, custom_server, envelope, is_event, joined, messages,
                                 pull, pulled, send, settings, users_in_room, ws_url)


async def test_hello_answers_session_resume_and_features_without_mcu(p1, users):
    async with connect(users) as sock:
        ticket = (await settings(p1))["ticket"]
        reply = await sock.hello("participant1", ticket)
    assert reply["type"] == "hello"
    hello = reply["hello"]
    assert hello["version"] == "1.0" and hello["userid"] == "participant1"
    assert hello["sessionid"] and hello["resumeid"] and hello["sessionid"] != hello["resumeid"]
    assert "mcu" not in hello["server"]["features"]


async def test_guest_hello_with_guest_ticket(guest, users):
    async with connect(users) as sock:
        reply = await sock.hello(None, (await settings(guest))["ticket"])
    assert reply["type"] == "hello" and reply["hello"]["userid"] == ""


@pytest.mark.parametrize("case", ["forged", "other user", "expired", "garbage"])
async def test_hello_with_bad_ticket_is_refused_and_closed(p1, users, case):
    secret = users.ctx.secret
    now = int(users.clock())
    ticket = {"forged": make_ticket(b"not the secret", "participant1", now),
              "other user": make_ticket(secret, "participant2", now),
              "expired": make_ticket(secret, "participant1", now - 25 * 3600),
              "garbage": "garbage"}[case]
    async with connect(users) as sock:
        reply = await sock.hello("participant1", ticket)
        assert reply["type"] == "error" and reply["error"]["code"] == "invalid_ticket"
        with pytest.raises(ConnectionClosed):
            await sock.receive()


async def test_first_message_must_be_hello(users):
    async with connect(users) as sock:
        reply = await sock.request({"type": "room", "room": {"roomid": "abcd"}})
        assert reply["error"]["code"] == "hello_expected"
        with pytest.raises(ConnectionClosed):
            await sock.receive()


async def test_unsupported_hello_version(users):
    async with connect(users) as sock:
        reply = await sock.request({"type": "hello", "hello": {"version": "2.0"}})
        assert reply["error"]["code"] == "invalid_hello_version"


async def test_hello_deadline_closes_silent_connections(tmp_path):
    async with custom_server(tmp_path, hello_timeout=0.2) as server:
        async with connect(server) as sock:
            frame = await sock.receive(timeout=3)
            assert frame["type"] == "error" and frame["error"]["code"] == "hello_timeout"
            with pytest.raises(ConnectionClosed):
                await sock.receive()


async def test_room_join_answers_properties_and_lists_everyone(p1, p2, users):
    token = await p1.create_room(3, name="lobby")
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1) as sock:
        reply = await sock.join_room(token, s1)
        assert reply["type"] == "room"
        assert reply["room"] == {"roomid": token, "sessionid": s1, "properties": {"name": "lobby", "type": 3}}
        join = await sock.receive_until(is_event("room", "join"))
        assert {e["sessionid"] for e in join["event"]["join"]} == {s1, s2}
        assert {e.get("userid") for e in join["event"]["join"]} == {"participant1", "participant2"}
        update = await sock.receive_until(is_event("participants", "update"))
        users_list = update["event"]["update"]["users"]
        assert {u["sessionId"]: u["inCall"] for u in users_list} == {s1: False, s2: False}
        assert set(users_list[0]) == {"inCall", "lastPing", "sessionId", "participantType", "userId"}


async def test_room_join_with_someone_elses_session_is_refused(p1, p2, users):
    token = await p1.create_room(3)
    await joined(p1, token)
    s2 = await joined(p2, token)
    async with connect(users, p1) as sock:
        reply = await sock.join_room(token, s2)
        assert reply["type"] == "error" and reply["error"]["code"] == "no_such_room"
        reply = await sock.join_room("zzzz9999", "x")
        assert reply["error"]["code"] == "no_such_room"


async def test_websocket_peers_exchange_session_and_room_messages(p1, p2, p3, users):
    token = await p1.create_room(3)
    s1, s2, s3 = [await joined(a, token) for a in (p1, p2, p3)]
    async with connect(users, p1, token, s1) as a, connect(users, p2, token, s2) as b, \
            connect(users, p3, token, s3) as c:
        await a.message(s2, {"to": s2, "type": "offer", "payload": {"sdp": "v=0"}})
        got = await b.receive_until(lambda f: f["type"] == "message")
        assert got["message"] == {"sender": {"type": "session", "sessionid": s1, "userid": "participant1"},
                                  "data": {"to": s2, "type": "offer", "payload": {"sdp": "v=0"}}}
        await b.message(None, {"type": "hello all"}, kind="room")
        for sock in (a, c):
            got = await sock.receive_until(lambda f: f["type"] == "message")
            assert got["message"]["sender"]["sessionid"] == s2 and got["message"]["data"] == {"type": "hello all"}


async def test_messages_never_cross_rooms(p1, p2, users):
    room_a, room_b = await p1.create_room(3), await p2.create_room(3)
    s1, s2 = await joined(p1, room_a), await joined(p2, room_b)
    async with connect(users, p1, room_a, s1) as a, connect(users, p2, room_b, s2) as b:
        await a.message(s2, {"type": "offer"})
        await a.message(None, {"type": "broadcast"}, kind="room")
        with trio.move_on_after(0.5):
            await b.receive_until(lambda f: f["type"] == "message")
            raise AssertionError("a message crossed rooms")


async def test_protocol_errors_keep_the_connection(p1, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    async with connect(users, p1) as sock:
        r = await sock.request({"type": "message", "message": {"recipient": {"type": "session", "sessionid": s1},
                                                                "data": {}}})
        assert r["error"]["code"] == "not_in_room"
        r = await sock.request({"type": "nonsense"})
        assert r["error"]["code"] == "invalid_format"
        await sock.ws.send_message("{not json")
        assert (await sock.receive())["error"]["code"] == "invalid_format"
        assert (await sock.join_room(token, s1))["type"] == "room"
        r = await sock.request({"type": "message", "message": {"recipient": {"type": "carrier-pigeon"}, "data": {}}})
        assert r["error"]["code"] == "invalid_format"


async def test_frames_over_64_kib_close_the_connection(p1, users):
    async with connect(users, p1) as sock:
        await sock.ws.send_message(json.dumps({"type": "message", "pad": "x" * 70_000}))
        with pytest.raises(ConnectionClosed):
            for _ in range(3):
                await sock.receive()


async def test_websocket_disabled_refuses_the_upgrade(tmp_path):
    async with custom_server(tmp_path, websocket=False) as server:
        with pytest.raises(Exception):
            async with open_websocket_url(ws_url(server)):
                pass


# -- mixed with polling -------------------------------------------------------------------------


async def test_polling_and_websocket_clients_exchange_messages(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)     # p1 on WebSocket, p2 polling
    async with connect(users, p1, token, s1) as sock:
        assert {u["sessionId"] for u in users_in_room(await pull(p2, token))} == {s1, s2}
        await send(p2, token, envelope(s2, {"to": s1, "type": "offer", "payload": {"sdp": "v=0"}}))
        got = await sock.receive_until(lambda f: f["type"] == "message")
        assert got["message"]["sender"] == {"type": "session", "sessionid": s2, "userid": "participant2"}
        assert got["message"]["data"]["type"] == "offer" and got["message"]["data"]["from"] == s2
        await sock.message(s2, {"to": s2, "type": "answer", "payload": {"sdp": "v=0"}})
        assert messages(await pull(p2, token)) == [{"to": s2, "type": "answer", "payload": {"sdp": "v=0"},
                                                     "from": s1}]


async def test_websocket_client_sees_polling_peers_join_call_and_leave(p1, p2, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    async with connect(users, p1, token, s1) as sock:
        await sock.receive_until(is_event("room", "join"))
        s2 = await joined(p2, token)
        join = await sock.receive_until(is_event("room", "join"))
        assert [e["sessionid"] for e in join["event"]["join"]] == [s2]
        await sock.receive_until(is_event("participants", "update"))   # the join's update
        await p2.post(f"/call/{token}")
        update = await sock.receive_until(is_event("participants", "update"))
        assert {u["sessionId"]: u["inCall"] for u in update["event"]["update"]["users"]} == {s1: False, s2: True}
        assert [u["sessionId"] for u in update["event"]["update"]["changed"]] == [s2]
        await p2.delete(f"/room/{token}/participants/active")
        leave = await sock.receive_until(is_event("room", "leave"))
        assert leave["event"]["leave"] == [s2]


async def test_polling_client_sees_websocket_peer_leave_on_bye(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as sock:
        await pull(p2, token)
        r = await sock.request({"type": "bye", "bye": {}})
        assert r["type"] == "bye"
    reply = await pull(p2, token)                       # woken by the leave, not after 30 s
    assert {u["sessionId"] for u in users_in_room(reply)} == {s2}


async def test_chat_post_tells_websocket_clients_to_refresh(p1, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    async with connect(users, p1, token, s1) as sock:
        await sock.receive_until(is_event("participants", "update"))
        users.ctx.hub.chat_posted(token, 1, {"id": 1})
        users.ctx.hub.chat_posted(token, 2, {"id": 2})
        event = await sock.receive_until(is_event("room", "message"))
        assert event["event"]["message"] == {"roomid": token, "data": {"type": "chat", "chat": {"refresh": True}}}


async def test_kicked_guest_is_told_it_left_the_room(p1, guest, users):
    token = await p1.create_room(3)
    await joined(p1, token)
    sg = await joined(guest, token)
    async with connect(users, guest, token, sg) as sock:
        await sock.receive_until(is_event("participants", "update"))
        assert (await p1.delete(f"/room/{token}/participants/guests", participant=sg)).status == 200
        frame = await sock.receive_until(lambda f: f["type"] == "room")
        assert frame["room"]["roomid"] == ""


# -- resume -------------------------------------------------------------------------------------


async def test_resume_within_window_keeps_session_and_queued_messages(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as sock:
        hello_id, resume_id = sock.hello_reply["hello"]["sessionid"], sock.hello_reply["hello"]["resumeid"]
    # Until the server has seen the close, a message may still be written to the dying socket and
    # lost (there are no acks in this protocol); the queue for a resume starts once it is detached.
    with trio.fail_after(10):
        while cluster_mode.websocket_connected(users, s1):
            await trio.sleep(0.01)
    await send(p2, token, envelope(s2, {"to": s1, "type": "offer", "n": 1}))   # while disconnected
    async with open_websocket_url(ws_url(users)) as ws:
        sock = SignalingSocket(ws)
        reply = await sock.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
        assert reply["type"] == "hello" and reply["hello"]["resumeid"] == resume_id
        assert reply["hello"]["sessionid"] == s1 != hello_id      # the Talk session id once in a room
        got = await sock.receive_until(lambda f: f["type"] == "message")
        assert got["message"]["data"]["n"] == 1


async def test_resume_after_window_fails_and_ends_the_talk_session(p1, p2, users):
    for node in cluster_mode.nodes_of(users):   # the session lives on either node
        node.ctx.hub.websockets.resume_window = 0.2
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as sock:
        hello = sock.hello_reply
    await pulled(p2, token)
    reply = await pull(p2, token)          # wakes when the expired session leaves the room
    assert {u["sessionId"] for u in users_in_room(reply)} == {s2}
    async with open_websocket_url(ws_url(users)) as ws:
        sock = SignalingSocket(ws)
        r = await sock.request({"type": "hello", "hello": {"version": "1.0", "resumeid": hello["hello"]["resumeid"]}})
        assert r["type"] == "error" and r["error"]["code"] == "no_such_session"
        # like a Talk client, fall back to a full hello on the same connection
        r = await sock.hello("participant1", (await settings(p1))["ticket"])
        assert r["type"] == "hello" and r["hello"]["sessionid"] != s1


async def test_resume_from_a_new_socket_takes_over_the_old_one(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as old:
        resume_id = old.hello_reply["hello"]["resumeid"]
        async with open_websocket_url(ws_url(users)) as ws:
            new = SignalingSocket(ws)
            reply = await new.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
            assert reply["hello"]["sessionid"] == s1
            with pytest.raises(ConnectionClosed):
                for _ in range(10):
                    await old.receive()
            await send(p2, token, envelope(s2, {"to": s1, "type": "offer"}))
            got = await new.receive_until(lambda f: f["type"] == "message")
            assert got["message"]["sender"]["sessionid"] == s2
