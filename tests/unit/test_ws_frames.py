"""server/ws_frames.PlainCodec against wsproto as the reference: frames a wsproto client writes
parse to the same messages, frames the codec writes read back in a wsproto client, and every
protocol violation answers its close code."""
from __future__ import annotations

import struct

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from server.ws_frames import CLOSE, MESSAGE, PING, PONG, PlainCodec

CAP = 64 * 1024


def client() -> Connection:
    return Connection(ConnectionType.CLIENT)


def masked(first: int, payload: bytes, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    """A hand-built client frame (for the frames wsproto refuses to write)."""
    n = len(payload)
    header = bytes((first, 0x80 | n)) if n < 126 else struct.pack("!BBH", first, 0x80 | 126, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 65535, 65536 - 10])
def test_text_frames_of_every_length_class_parse(size):
    text = ("é" * size)[:size // 2] + "x" * (size - size // 2)
    data = client().send(TextMessage(data=text))
    events, error = PlainCodec(CAP * 2).feed(data)
    assert error is None and events == [(MESSAGE, text)]


def test_byte_by_byte_and_many_frames_per_read():
    ws = client()
    data = b"".join(ws.send(TextMessage(data=f"m{i}")) for i in range(5)) + ws.send(BytesMessage(data=b"\x00\xff"))
    codec = PlainCodec(CAP)
    got = []
    for i in range(len(data)):
        events, error = codec.feed(data[i:i + 1])
        assert error is None
        got += events
    assert got == [(MESSAGE, f"m{i}") for i in range(5)] + [(MESSAGE, b"\x00\xff")]
    events, error = PlainCodec(CAP).feed(data)
    assert error is None and events == got


def test_fragments_with_a_ping_in_between_are_joined():
    ws = client()
    data = (ws.send(TextMessage(data="he", message_finished=False)) + ws.send(Ping(payload=b"p"))
            + ws.send(TextMessage(data="llo", message_finished=True)))
    events, error = PlainCodec(CAP).feed(data)
    assert error is None and events == [(PING, b"p"), (MESSAGE, "hello")]


def test_close_and_pong_are_reported_and_parsing_stops_after_close():
    ws = client()
    data = ws.send(Pong(payload=b"")) + ws.send(CloseConnection(code=1001, reason="bye")) + b"junk"
    events, error = PlainCodec(CAP).feed(data)
    assert error is None and events == [(PONG,), (CLOSE, 1001, "bye")]


@pytest.mark.parametrize("frame, code", [
    (bytes((0x81, 0x02)) + b"hi", 1002),                 # unmasked client frame
    (masked(0xC1, b"hi"), 1002),                         # RSV1 without an extension
    (masked(0x83, b"hi"), 1002),                         # unknown data opcode
    (masked(0x8B, b""), 1002),                           # unknown control opcode
    (masked(0x80, b"hi"), 1002),                         # continuation with nothing to continue
    (masked(0x09, b"hi"), 1002),                         # fragmented ping
    (masked(0x89, b"x" * 126), 1002),                    # control frame over 125 bytes
    (masked(0x81, b"\xff\xfe"), 1007),                   # text that is not UTF-8
    (masked(0x88, b"\x03"), 1002),                       # close with a one-byte payload
    (masked(0x88, struct.pack("!H", 1005)), 1002),       # a close code never sent on the wire
    (masked(0x88, struct.pack("!H", 1000) + b"\xff"), 1007),   # close reason not UTF-8
    (masked(0x01, b"a") + masked(0x81, b"b"), 1002),     # a new message inside a fragmented one
])
def test_protocol_violations_answer_their_close_code(frame, code):
    assert PlainCodec(CAP).feed(frame)[1] == code


def test_oversize_is_refused_from_the_header_alone():
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, CAP + 1)   # no payload sent at all
    assert PlainCodec(CAP).feed(header) == ([], 1009)
    ws = client()
    first = ws.send(TextMessage(data="x" * (CAP - 10), message_finished=False))
    rest = ws.send(TextMessage(data="x" * 11, message_finished=True))
    codec = PlainCodec(CAP)
    assert codec.feed(first) == ([], None)
    assert codec.feed(rest) == ([], 1009)


def test_server_frames_read_back_in_a_wsproto_client():
    codec = PlainCodec(CAP)
    ws = client()
    ws.receive_data(codec.texts(["a", "é" * 200, "z" * 70_000]) + codec.binary(b"\x01") + codec.ping()
                    + codec.pong(b"q") + codec.close(1001, "going away"))
    events = list(ws.events())
    assert [e.data for e in events[:4]] == ["a", "é" * 200, "z" * 70_000, b"\x01"]
    assert isinstance(events[4], Ping) and isinstance(events[5], Pong) and events[5].payload == b"q"
    assert isinstance(events[6], CloseConnection) and (events[6].code, events[6].reason) == (1001, "going away")
    empty = client()
    empty.receive_data(codec.close(1005))       # "no status": an empty close payload
    assert [e.code for e in empty.events()] == [1005]
