"""`/spreed` served below ASGI (server/ws_fast.py, server/fast_socket.py): the WebSocket details
the fast path owns (fragments, ping/pong, the 1009 cap, half-open peers, closes, wss), what the
ASGI layers still see, and the hypercorn fallback (`fast_websocket = false`)."""
from __future__ import annotations

import json

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from server.routes import signaling as signaling_routes
from server.ws_fast import FAST_SOCKET

from ..signaling_helpers import SignalingSocket, connect, custom_server, joined, settings, ws_url


class RawClient:
    """A WebSocket client on wsproto that does only what a test tells it (no automatic pongs,
    no reading unless asked): for fragments, pings and peers that stop answering."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream, self.ws, self.events = stream, ws, []
        self.raw = b""     # every byte received, for assertions on the wire format

    @classmethod
    async def open(cls, server, extensions: list | None = None) -> "RawClient":
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        client = cls(await trio.open_tcp_stream(host, int(port)), WSConnection(ConnectionType.CLIENT))
        await client.put(Request(host=f"{host}:{port}", target="/spreed", extensions=extensions or []))
        client.accept = await client.next_event()
        assert isinstance(client.accept, AcceptConnection), client.accept
        return client

    async def put(self, event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def next_event(self, timeout: float = 5):
        with trio.fail_after(timeout):
            while not self.events:
                data = await self.stream.receive_some(65536)
                self.raw += data
                self.ws.receive_data(data or None)
                self.events.extend(self.ws.events())
            return self.events.pop(0)

    async def next_message(self, timeout: float = 5) -> dict:
        parts = []
        while True:
            event = await self.next_event(timeout)
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    return json.loads("".join(parts))

    async def join(self, token: str, session: str) -> None:
        """Join the room with the Talk session `session`, until the join is answered."""
        await self.put(TextMessage(json.dumps({"type": "room", "id": "r", "room": {"roomid": token,
                                                                               "sessionid": session}})))
        while (await self.next_message()).get("id") != "r":
            pass

    async def hello(self, actor) -> dict:
        ticket = (await settings(actor))["ticket"]
        await self.put(TextMessage(json.dumps({"type": "hello", "id": "h", "hello": {"version": "1.0", "auth": {
            "url": "", "params": {"userid": actor.user, "ticket": ticket}}}})))
        return await self.next_message()


def participants(server):
    return server.actor("participant1"), server.actor("participant2")


async def test_fragmented_message_is_joined_and_answered(p1, users):
    ticket = (await settings(p1))["ticket"]
    text = json.dumps({"type": "hello", "id": "7", "hello": {"version": "1.0", "auth": {
        "url": "", "params": {"userid": "participant1", "ticket": ticket}}}})
    client = await RawClient.open(users)
    third = len(text) // 3
    for start, end, last in ((0, third, False), (third, 2 * third, False), (2 * third, len(text), True)):
        await client.put(TextMessage(data=text[start:end], message_finished=last))
    reply = await client.next_message()
    assert reply["type"] == "hello" and reply["id"] == "7" and reply["hello"]["userid"] == "participant1"


async def test_permessage_deflate_is_negotiated_and_frames_are_compressed(p1, users):
    client = await RawClient.open(users, extensions=[PerMessageDeflate()])
    assert [type(e) for e in client.accept.extensions] == [PerMessageDeflate]   # as browsers ask
    reply = await client.hello(p1)
    assert reply["type"] == "hello" and reply["hello"]["userid"] == "participant1"
    first_frame = client.raw.partition(b"\r\n\r\n")[2]
    assert first_frame[0] == 0xC1      # FIN, RSV1 (compressed), text


async def test_bye_and_close_in_one_write_on_a_deflate_socket_is_no_error(p1, users, caplog):
    """The browser's bye and its close frame can arrive in one read: the close is answered first,
    after which wsproto's (deflate) codec refuses to encode; the bye's answer must then count as
    a message to a closed socket, not an error in the connection."""
    client = await RawClient.open(users, extensions=[PerMessageDeflate()])
    await client.hello(p1)
    await client.stream.send_all(client.ws.send(TextMessage(json.dumps({"type": "bye", "bye": {}})))
                                 + client.ws.send(CloseConnection(code=1000)))
    while not isinstance(event := await client.next_event(), CloseConnection):
        pass
    assert event.code == 1000
    await trio.sleep(0.2)   # let the connection's task finish (an error would be logged by then)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_ping_is_answered_with_its_payload(users):
    client = await RawClient.open(users)
    await client.put(Ping(payload=b"are you there"))
    event = await client.next_event()
    assert isinstance(event, Pong) and event.payload == b"are you there"


@pytest.mark.parametrize("fast", [True, False])
async def test_message_over_64_kib_closes_with_1009_on_both_paths(tmp_path, fast):
    async with custom_server(tmp_path, fast_websocket=fast) as server:
        client = await RawClient.open(server)
        # in fragments, so that no single frame is large: the cap is on the message
        for _ in range(17):
            await client.put(TextMessage(data="x" * 4096, message_finished=False))
        await client.put(TextMessage(data="}", message_finished=True))
        while True:
            event = await client.next_event()
            if isinstance(event, CloseConnection):
                break
        assert event.code == 1009


async def test_silent_peer_is_pinged_and_dropped_but_an_answering_one_stays(tmp_path):
    async with custom_server(tmp_path, websocket_ping_interval=0.2, hello_timeout=30) as server:
        p1, _ = participants(server)
        token = await p1.create_room(3)
        s1 = await joined(p1, token)
        # trio-websocket answers pings by itself (while its reader is not held up by unread
        # messages, hence the drain): it stays connected across many intervals
        async with connect(server, p1, token, s1) as alive, trio.open_nursery() as nursery:
            frames: list[dict] = []

            async def drain() -> None:
                while True:
                    frames.append(await alive.receive(timeout=30))
            nursery.start_soon(drain)
            silent = await RawClient.open(server)
            await trio.sleep(1.0)
            await alive.send({"type": "room", "id": "again", "room": {"roomid": token, "sessionid": s1}})
            with trio.fail_after(5):
                while not any(f.get("id") == "again" for f in frames):
                    await trio.sleep(0.01)
            reply = next(f for f in frames if f.get("id") == "again")
            assert reply["error"]["code"] == "already_joined"     # still served
            # the raw client never reads, so never answers: after two silent intervals it is gone
            with trio.fail_after(10):
                data = b""
                while True:
                    chunk = await silent.stream.receive_some(65536)
                    if not chunk:
                        break
                    data += chunk
            silent.ws.receive_data(data)
            assert any(isinstance(e, Ping) for e in silent.ws.events())   # it was asked first
            nursery.cancel_scope.cancel()


async def test_half_open_client_is_detached_and_its_session_resumable(tmp_path):
    async with custom_server(tmp_path, websocket_ping_interval=0.2) as server:
        p1, p2 = participants(server)
        token = await p1.create_room(3)
        s1, s2 = await joined(p1, token), await joined(p2, token)
        client = await RawClient.open(server)
        hello = await client.hello(p1)
        await client.join(token, s1)
        assert server.ctx.hub.websockets.connected(s1)
        # from here on the client neither reads nor answers (as if its network vanished)
        with trio.fail_after(10):
            while server.ctx.hub.websockets.connected(s1):
                await trio.sleep(0.05)
        async with connect(server, p2, token, s2) as other:
            await other.message(s1, {"type": "offer", "n": 5})
        async with open_websocket_url(ws_url(server)) as ws:
            sock = SignalingSocket(ws)
            reply = await sock.request({"type": "hello", "hello": {"version": "1.0",
                                                                  "resumeid": hello["hello"]["resumeid"]}})
            assert reply["type"] == "hello" and reply["hello"]["sessionid"] == s1
            got = await sock.receive_until(lambda f: f["type"] == "message")
            assert got["message"]["data"] == {"type": "offer", "n": 5}


async def test_peer_that_stops_reading_is_dropped_after_the_write_timeout_and_keeps_its_messages(tmp_path, caplog):
    async with custom_server(tmp_path) as server:
        p1, p2 = participants(server)
        token = await p1.create_room(3)
        s1, s2 = await joined(p1, token), await joined(p2, token)
        client = await RawClient.open(server)
        hello = await client.hello(p1)
        await client.join(token, s1)
        (connection,) = [c for c in server.ctx.hub.websockets.connections if c.session.talk_session == s1]
        connection._send_raw.__self__.write_timeout = 0.5     # the default (10 s) is too long for a test
        # p1 no longer reads; p2 sends more than the socket buffers hold (each message ~50 KB)
        pad = "x" * 50_000
        async with connect(server, p2, token, s2) as other:
            for n in range(300):
                await other.message(s1, {"type": "offer", "n": n, "pad": pad})
            with trio.fail_after(20):
                while server.ctx.hub.websockets.connected(s1):
                    await trio.sleep(0.05)
        async with open_websocket_url(ws_url(server), max_message_size=1 << 20) as ws:
            sock = SignalingSocket(ws)
            reply = await sock.request({"type": "hello", "hello": {"version": "1.0",
                                                                  "resumeid": hello["hello"]["resumeid"]}})
            assert reply["type"] == "hello" and reply["hello"]["sessionid"] == s1
            seen = []
            while not seen or seen[-1] != 299:   # what the blocked write held back arrives, up to the last
                seen.append((await sock.receive_until(lambda f: f["type"] == "message"))["message"]["data"]["n"])
            assert seen == sorted(seen) and len(seen) > 1
    assert not [r for r in caplog.records if r.levelname == "ERROR"]   # a failed write is no error


async def test_shutdown_does_not_wait_for_a_write_blocked_on_a_peer_that_stopped_reading(tmp_path):
    async with custom_server(tmp_path) as server:
        p1, p2 = participants(server)
        token = await p1.create_room(3)
        s1, s2 = await joined(p1, token), await joined(p2, token)
        client = await RawClient.open(server)
        await client.hello(p1)
        await client.join(token, s1)
        (connection,) = [c for c in server.ctx.hub.websockets.connections if c.session.talk_session == s1]
        socket = connection._send_raw.__self__
        box = server.ctx.hub.mailboxes._boxes[s1]
        async with connect(server, p2, token, s2) as other:
            with trio.fail_after(20):
                n = 0
                # until a write to p1 is parked for good: buffers full, more waiting behind it
                while not (socket._write_lock.locked() and len(box.queue) > 20):
                    await other.message(s1, {"type": "offer", "n": n, "pad": "x" * 50_000})
                    n += 1
                    await trio.sleep(0)
            await trio.sleep(0.5)
            assert socket._write_lock.locked()
            with trio.fail_after(5):   # the write timeout is 10 s: the stop does not wait for it
                server.ctx.hub.shut_down()
                while connection in server.ctx.hub.websockets.connections:
                    await trio.sleep(0.05)
        assert socket.closed and not server.ctx.hub.websockets.connected(s1)


async def test_message_sent_right_after_the_client_closed_is_kept_for_the_resume(p1, p2, users, caplog):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    async with connect(users, p2, token, s2) as other:
        async with connect(users, p1, token, s1) as sock:
            resume_id = sock.hello_reply["hello"]["resumeid"]
        # no waiting for the server to notice: the close was answered, so it is marked closed
        await other.message(s1, {"type": "offer", "n": 1})
        await other.message(s1, {"type": "offer", "n": 2})
        async with open_websocket_url(ws_url(users)) as ws:
            sock = SignalingSocket(ws)
            reply = await sock.request({"type": "hello", "hello": {"version": "1.0", "resumeid": resume_id}})
            assert reply["type"] == "hello" and reply["hello"]["sessionid"] == s1
            got = [(await sock.receive_until(lambda f: f["type"] == "message"))["message"]["data"]["n"]
                   for _ in range(2)]
            assert got == [1, 2]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_shutdown_closes_with_1001_and_does_not_wait_for_a_peer_that_never_answers(tmp_path):
    async with custom_server(tmp_path, hello_timeout=30) as server:
        polite = await RawClient.open(server)
        mute = await RawClient.open(server)
        with trio.fail_after(10):   # the server's close handshake waits about a second, not forever
            server.ctx.hub.shut_down()
            event = await polite.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1001
            await polite.put(event.response())
            data = b""
            while chunk := await mute.stream.receive_some(65536):
                data += chunk
        mute.ws.receive_data(data)
        assert [e.code for e in mute.ws.events() if isinstance(e, CloseConnection)] == [1001]


@pytest.mark.parametrize("fast", [True, False])
async def test_websocket_disabled_answers_403_on_both_paths(tmp_path, fast):
    async with custom_server(tmp_path, websocket=False, fast_websocket=fast) as server:
        with pytest.raises(ConnectionRejected) as refused:
            async with open_websocket_url(ws_url(server)):
                pass
        assert refused.value.status_code == 403


@pytest.mark.parametrize("fast", [True, False])
async def test_signaling_sees_the_client_behind_a_trusted_proxy_on_both_paths(tmp_path, monkeypatch, fast):
    seen = []
    original = signaling_routes.SpreedSocketMiddleware.__call__

    async def recording(self, scope, receive, send):
        if scope["type"] == "websocket":
            seen.append((scope["client"], scope["scheme"], FAST_SOCKET in scope))
        await original(self, scope, receive, send)

    monkeypatch.setattr(signaling_routes.SpreedSocketMiddleware, "__call__", recording)
    async with custom_server(tmp_path, trusted_proxies=("127.0.0.1",), fast_websocket=fast) as server:
        p1, p2 = participants(server)
        token = await p1.create_room(3)
        s1, s2 = await joined(p1, token), await joined(p2, token)
        headers = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")]
        async with open_websocket_url(ws_url(server), extra_headers=headers) as ws:
            sock = SignalingSocket(ws)
            assert (await sock.hello("participant1", (await settings(p1))["ticket"]))["type"] == "hello"
            assert (await sock.join_room(token, s1))["type"] == "room"
            async with connect(server, p2, token, s2) as other:     # and relaying works on this path
                await other.message(s1, {"type": "candidate", "n": 1})
                got = await sock.receive_until(lambda f: f["type"] == "message")
                assert got["message"]["data"] == {"type": "candidate", "n": 1}
    assert seen[0] == (("203.0.113.7", 0), "wss", fast)
    assert seen[1][2] is fast and seen[1][0][0] == "127.0.0.1"     # no proxy headers: the TCP peer


async def test_large_messages_relay_over_wss(tmp_path, tls_server):
    server = tls_server
    p1, p2 = participants(server)
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    url = server.url.replace("https://", "wss://") + "/spreed"
    async with open_websocket_url(url, ssl_context=server.ssl_context) as a, \
            open_websocket_url(url, ssl_context=server.ssl_context) as b:
        sa, sb = SignalingSocket(a), SignalingSocket(b)
        for sock, actor, session in ((sa, p1, s1), (sb, p2, s2)):
            assert (await sock.hello(actor.user, (await settings(actor))["ticket"]))["type"] == "hello"
            assert (await sock.join_room(token, session))["type"] == "room"
        sdp = "a=candidate " * 5000          # ~60 KB: several TLS records and reads per frame
        for n in range(3):
            await sa.message(s2, {"type": "offer", "n": n, "sdp": sdp})
        got = [(await sb.receive_until(lambda f: f["type"] == "message"))["message"]["data"] for _ in range(3)]
        assert [g["n"] for g in got] == [0, 1, 2] and all(g["sdp"] == sdp for g in got)


@pytest.fixture
async def tls_server(tmp_path):
    from ..support import PASSWORD, serving, test_config
    from ..tls_support import make_tls_files
    from server.domain import accounts
    files = make_tls_files(tmp_path)
    config = test_config(str(tmp_path / "data"), tls_cert=str(files.cert), tls_key=str(files.key))
    async with serving(config) as running:
        running.ssl_context = files.client_context()
        for n in (1, 2):
            await accounts.add_user(running.ctx, f"participant{n}", PASSWORD, f"participant{n}-displayname")
        yield running


async def test_fallback_path_relays_and_closes_like_the_fast_one(tmp_path):
    async with custom_server(tmp_path, fast_websocket=False) as server:
        p1, p2 = participants(server)
        token = await p1.create_room(3)
        s1, s2 = await joined(p1, token), await joined(p2, token)
        async with connect(server, p1, token, s1) as a, connect(server, p2, token, s2) as b:
            await a.message(s2, {"type": "offer", "n": 1})
            got = await b.receive_until(lambda f: f["type"] == "message")
            assert got["message"]["sender"]["sessionid"] == s1
            server.ctx.hub.shut_down()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await a.receive()
            assert closed.value.reason.code == 1001


async def test_upgrade_without_a_key_is_answered_400(users):
    host, port = users.url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.send_all(f"GET /spreed HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    answer = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
