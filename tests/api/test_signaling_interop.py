"""Frames of the HPB's protocol document (strukturag nextcloud-spreed-signaling,
docs/standalone-signaling-api-v1.md) and of its load client, sent as written there, against a real
Parley: empty `resumeid`, recipients `user` / `call`, `control`, `transient` data, `bye`."""
from __future__ import annotations

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from .. import cluster_mode
from ..signaling_helpers import SignalingSocket, connect, is_event, joined, settings, ws_url


def is_type(kind: str):
    return lambda f: f.get("type") == kind


async def nothing_of(sock: SignalingSocket, kind: str, wait: float = 0.5) -> None:
    with trio.move_on_after(wait):
        frame = await sock.receive_until(is_type(kind))
        raise AssertionError(f"unexpected {kind}: {frame}")


# -- hello -------------------------------------------------------------------------------------


async def test_load_client_hello_with_empty_resumeid_is_a_fresh_hello(p1, users):
    ticket = (await settings(p1))["ticket"]
    async with open_websocket_url(ws_url(users)) as ws:
        sock = SignalingSocket(ws)
        # the HPB load client's frame, plus the ticket a Talk backend would validate
        await sock.send({"type": "hello", "hello": {"version": "1.0", "resumeid": "", "auth": {
            "params": {"userid": "participant1", "ticket": ticket}, "url": "http://[::]:1/auth"}}})
        reply = await sock.receive()
    assert reply["type"] == "hello", reply
    assert reply["hello"]["userid"] == "participant1" and reply["hello"]["resumeid"]


async def test_load_client_hello_without_ticket_is_an_auth_error_not_a_resume(users):
    async with open_websocket_url(ws_url(users)) as ws:
        sock = SignalingSocket(ws)
        await sock.send({"type": "hello", "hello": {"version": "1.0", "resumeid": "", "auth": {
            "params": {}, "url": "http://[::]:1/auth"}}})
        reply = await sock.receive()
    assert reply["type"] == "error" and reply["error"]["code"] == "invalid_ticket", reply


async def test_hello_advertises_transient_data_and_no_mcu_without_janus(p1, users):
    async with connect(users, p1) as sock:
        features = sock.hello_reply["hello"]["server"]["features"]
    assert "transient-data" in features and "mcu" not in features
    assert (await settings(p1))["features"] == []


async def test_bye_is_answered_with_its_id_and_ends_the_session(p1, users):
    async with connect(users, p1) as sock:
        resume_id = sock.hello_reply["hello"]["resumeid"]
        await sock.send({"id": "unique-request-id", "type": "bye", "bye": {}})
        assert await sock.receive() == {"id": "unique-request-id", "type": "bye", "bye": {}}
    async with open_websocket_url(ws_url(users)) as ws:
        sock = SignalingSocket(ws)
        reply = await sock.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
        assert reply["error"]["code"] == "no_such_session"


async def test_bye_before_hello_is_answered_then_closed(users):
    async with open_websocket_url(ws_url(users)) as ws:
        sock = SignalingSocket(ws)
        await sock.send({"id": "1", "type": "bye", "bye": {}})
        assert await sock.receive() == {"id": "1", "type": "bye", "bye": {}}
        with pytest.raises(ConnectionClosed):
            await sock.receive()


# -- recipients -------------------------------------------------------------------------------------


async def test_recipient_user_reaches_every_session_of_that_user_in_the_room(p1, p2, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    s2 = await joined(p2, token)
    async with connect(users, p1, token, s1) as a, connect(users, p2, token, s2) as b:
        await a.send({"id": "unique-request-id", "type": "message", "message": {
            "recipient": {"type": "user", "userid": "participant2"}, "data": {"type": "hi"}}})
        got = await b.receive_until(is_type("message"))
        assert got["message"] == {"sender": {"type": "session", "sessionid": s1, "userid": "participant1"},
                                  "data": {"type": "hi"}}
        await a.send({"type": "message", "message": {"recipient": {"type": "user", "userid": "nobody"},
                                                    "data": {"type": "lost"}}})
        await nothing_of(b, "message")


async def test_recipient_call_reaches_only_sessions_in_the_call(p1, p2, p3, users):
    token = await p1.create_room(3)
    s1, s2, s3 = [await joined(a, token) for a in (p1, p2, p3)]
    for actor in (p1, p2):
        assert (await actor.post(f"/call/{token}")).status == 200
    async with connect(users, p1, token, s1) as a, connect(users, p2, token, s2) as b, \
            connect(users, p3, token, s3) as c:
        await a.send({"type": "message", "message": {"recipient": {"type": "call"}, "data": {"type": "in call"}}})
        got = await b.receive_until(is_type("message"))
        assert got["message"]["data"] == {"type": "in call"} and got["message"]["sender"]["sessionid"] == s1
        await nothing_of(c, "message")
        await nothing_of(a, "message", 0.1)        # not echoed to the sender


async def test_unknown_recipient_type_is_an_error_that_keeps_the_connection(p1, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    async with connect(users, p1, token, s1) as a:
        reply = await a.request({"type": "message", "message": {"recipient": {"type": "everyone"}, "data": {}}})
        assert reply["error"]["code"] == "invalid_format" and "user" in reply["error"]["message"]
        reply = await a.request({"type": "room", "room": {"roomid": "", "sessionid": ""}})
        assert reply["type"] == "room"


# -- control ----------------------------------------------------------------------------------------


async def test_control_from_a_moderator_is_relayed_like_a_message(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as a, connect(users, p2, token, s2) as b:
        await a.send({"id": "unique-request-id", "type": "control", "control": {
            "recipient": {"type": "session", "sessionid": s2}, "data": {"type": "mute", "mute": {"audio": True}}}})
        got = await b.receive_until(is_type("control"))
        assert got["control"] == {"sender": {"type": "session", "sessionid": s1, "userid": "participant1"},
                                  "data": {"type": "mute", "mute": {"audio": True}}}


async def test_control_from_a_plain_participant_is_refused(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as a, connect(users, p2, token, s2) as b:
        reply = await b.request({"type": "control", "control": {
            "recipient": {"type": "session", "sessionid": s1}, "data": {"type": "hangup"}}})
        assert reply["error"]["code"] == "not_allowed"
        await nothing_of(a, "control")


async def test_control_is_not_kept_for_a_resume_but_messages_are(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as a:
        async with connect(users, p2, token, s2) as b:
            resume_id = b.hello_reply["hello"]["resumeid"]
        # b is detached (within its resume window) while a sends both kinds
        with trio.fail_after(5):
            while cluster_mode.websocket_connected(users, s2):
                await trio.sleep(0.01)
        for kind in ("control", "message"):
            await a.send({"type": kind, kind: {"recipient": {"type": "session", "sessionid": s2},
                                               "data": {"type": kind}}})
        await a.request({"type": "room", "room": {"roomid": token, "sessionid": s1}})   # a round trip
    async with open_websocket_url(ws_url(users)) as ws:
        b = SignalingSocket(ws)
        reply = await b.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
        assert reply["type"] == "hello"
        got = await b.receive_until(lambda f: f["type"] in ("message", "control"))
        assert got["type"] == "message" and got["message"]["data"] == {"type": "message"}
        await nothing_of(b, "control")


# -- transient data ----------------------------------------------------------------------------------


async def test_transient_set_remove_and_initial_state(p1, p2, users):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p1, token, s1) as a:
        await a.send({"type": "transient", "transient": {"type": "set", "key": "sample-key",
                                                         "value": "any-json-object"}})
        got = await a.receive_until(is_type("transient"))        # the sender is told too
        assert got["transient"] == {"type": "set", "key": "sample-key", "value": "any-json-object"}
        async with connect(users, p2, token, s2) as b:
            initial = await b.receive_until(is_type("transient"))
            assert initial["transient"] == {"type": "initial", "data": {"sample-key": "any-json-object"}}
            await a.send({"type": "transient", "transient": {"type": "set", "key": "sample-key",
                                                             "value": {"n": 2}}})
            got = await b.receive_until(is_type("transient"))
            assert got["transient"] == {"type": "set", "key": "sample-key", "value": {"n": 2},
                                        "oldvalue": "any-json-object"}
            # the same value again, and removing a missing key: silently ignored
            await a.send({"type": "transient", "transient": {"type": "set", "key": "sample-key",
                                                             "value": {"n": 2}}})
            await a.send({"type": "transient", "transient": {"type": "remove", "key": "other-key"}})
            await b.send({"type": "transient", "transient": {"type": "remove", "key": "sample-key"}})
            got = await b.receive_until(is_type("transient"))
            assert got["transient"] == {"type": "remove", "key": "sample-key", "oldvalue": {"n": 2}}
            got = await a.receive_until(is_type("transient"))
            assert got["transient"]["type"] == "set" and got["transient"]["value"] == {"n": 2}
            got = await a.receive_until(is_type("transient"))
            assert got["transient"] == {"type": "remove", "key": "sample-key", "oldvalue": {"n": 2}}


async def test_transient_data_is_forgotten_when_the_last_session_leaves(p1, p2, users):
    token = await p1.create_room(3)
    s1 = await joined(p1, token)
    async with connect(users, p1, token, s1) as a:
        await a.send({"type": "transient", "transient": {"type": "set", "key": "k", "value": 1}})
        await a.receive_until(is_type("transient"))
        await a.request({"type": "room", "room": {"roomid": "", "sessionid": ""}})   # leave
    s2 = await joined(p2, token)
    async with connect(users, p2, token, s2) as b:
        await b.receive_until(is_event("room", "join"))
        await nothing_of(b, "transient")


async def test_transient_outside_a_room_or_malformed_is_an_error(p1, users):
    async with connect(users, p1) as a:
        reply = await a.request({"type": "transient", "transient": {"type": "set", "key": "k", "value": 1}})
        assert reply["error"]["code"] == "not_in_room"
        reply = await a.request({"type": "transient", "transient": {"type": "set", "key": 5}})
        assert reply["error"]["code"] == "invalid_format"
