"""WebSocket frames (RFC 6455 §5) for the fast `/spreed` path: two codecs with one interface.

`PlainCodec` parses client frames and builds server frames itself. It serves connections that
negotiated no extension (the HPB's clients, trio-websocket, most tools): wsproto's layered
generators were a fifth of the server's CPU per relayed message on this path, and a frame here is
a header check, one unmasking XOR over a big integer and a slice. `WsprotoCodec` wraps wsproto for
connections with permessage-deflate (browsers ask for it), whose inflate/deflate state is
wsproto's business.

`feed(data)` returns `(events, error)`: the events parsed (complete messages as str or bytes,
pings, the peer's close) and, if the peer broke the protocol or the size cap, the close code to
answer with (1002 protocol error, 1007 bad UTF-8, 1009 too big); parsing stops there.
"""
from __future__ import annotations

import struct
from typing import Any

from wsproto.connection import Connection as WsConnection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage

MESSAGE, PING, PONG, CLOSE = "message", "ping", "pong", "close"
PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1002, 1007, 1009
NO_STATUS = 1005
Event = tuple[Any, ...]

_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked final frame, as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return _pack_short(0x80 | opcode, 126, n) + payload
    return _pack_long(0x80 | opcode, 127, n) + payload


def _unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if not n:
        return b""
    key = (mask * ((n + 3) // 4))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def _valid_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


def _close_payload(code: int | None, reason: str | None) -> bytes:
    if code is None or code == NO_STATUS:
        return b""
    return struct.pack("!H", code) + (reason or "").encode()[:123]


class PlainCodec:
    """Client frames in, server frames out, no extensions."""

    __slots__ = ("_buffer", "_opcode", "_parts", "_size", "max_message")

    def __init__(self, max_message: int) -> None:
        self._buffer = b""
        self._opcode = 0            # opcode of the fragmented message in progress, 0 = none
        self._parts: list[bytes] = []
        self._size = 0
        self.max_message = max_message

    def feed(self, data: bytes) -> tuple[list[Event], int | None]:
        buffer = self._buffer + data if self._buffer else data
        events: list[Event] = []
        position, end = 0, len(buffer)
        while end - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            opcode, length, header = first & 0x0F, second & 0x7F, 2
            if first & 0x70 or not second & 0x80:   # RSV bits without an extension; unmasked
                return events, PROTOCOL_ERROR
            if length == 126:
                if end - position < 4:
                    break
                length, header = (buffer[position + 2] << 8) | buffer[position + 3], 4
            elif length == 127:
                if end - position < 10:
                    break
                length, header = int.from_bytes(buffer[position + 2:position + 10], "big"), 10
            final = first & 0x80
            if opcode >= 0x8:
                if not final or length > 125 or opcode > _PONG:
                    return events, PROTOCOL_ERROR
            elif opcode > _BINARY or (opcode == 0) != bool(self._opcode):
                return events, PROTOCOL_ERROR   # unknown, or continuation (not) expected
            elif self._size + length > self.max_message:
                return events, TOO_BIG          # refused before any of it is buffered
            total = header + 4 + length
            if end - position < total:
                break
            start = position + header
            payload = _unmask(buffer[start + 4:start + 4 + length], buffer[start:start + 4])
            position += total
            if opcode == _TEXT or opcode == _BINARY:
                if final:
                    if opcode == _TEXT:
                        try:
                            events.append((MESSAGE, payload.decode()))
                        except UnicodeDecodeError:
                            return events, INVALID_DATA
                    else:
                        events.append((MESSAGE, payload))
                    continue
                self._opcode, self._parts, self._size = opcode, [payload], length
            elif opcode == 0:
                self._parts.append(payload)
                self._size += length
                if final:
                    whole = b"".join(self._parts)
                    kind, self._opcode, self._parts, self._size = self._opcode, 0, [], 0
                    if kind == _TEXT:
                        try:
                            events.append((MESSAGE, whole.decode()))
                        except UnicodeDecodeError:
                            return events, INVALID_DATA
                    else:
                        events.append((MESSAGE, whole))
            elif opcode == _PING:
                events.append((PING, payload))
            elif opcode == _PONG:
                events.append((PONG,))
            else:   # close
                if len(payload) == 1:
                    return events, PROTOCOL_ERROR
                code = struct.unpack("!H", payload[:2])[0] if payload else NO_STATUS
                if payload and not _valid_close_code(code):
                    return events, PROTOCOL_ERROR
                try:
                    reason = payload[2:].decode()
                except UnicodeDecodeError:
                    return events, INVALID_DATA
                events.append((CLOSE, code, reason))
                self._buffer = b""
                return events, None
        self._buffer = buffer[position:] if position < end else b""
        return events, None

    def text(self, text: str) -> bytes:
        return frame(_TEXT, text.encode())

    def texts(self, texts: list[str]) -> bytes:
        return b"".join([frame(_TEXT, t.encode()) for t in texts])

    def binary(self, data: bytes) -> bytes:
        return frame(_BINARY, data)

    def ping(self) -> bytes:
        return frame(_PING, b"")

    def pong(self, payload: bytes) -> bytes:
        return frame(_PONG, payload)

    def close(self, code: int | None, reason: str | None = None) -> bytes:
        return frame(_CLOSE, _close_payload(code, reason))


class WsprotoCodec:
    """The same interface over wsproto (permessage-deflate). The size cap counts characters of
    text, as hypercorn's does."""

    def __init__(self, connection: WsConnection, max_message: int) -> None:
        self._ws = connection
        self._parts: list[Any] = []
        self._size = 0
        self.max_message = max_message

    def feed(self, data: bytes) -> tuple[list[Event], int | None]:
        ws = self._ws
        ws.receive_data(data)
        events: list[Event] = []
        for event in ws.events():
            if isinstance(event, Message):
                self._size += len(event.data)
                if self._size > self.max_message:
                    return events, TOO_BIG
                self._parts.append(event.data)
                if event.message_finished:
                    empty = "" if isinstance(event, TextMessage) else b""
                    events.append((MESSAGE, empty.join(self._parts)))  # type: ignore[arg-type]
                    self._parts, self._size = [], 0
            elif isinstance(event, Ping):
                events.append((PING, event.payload))
            elif isinstance(event, Pong):
                events.append((PONG,))
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.OPEN:   # wsproto found a protocol error
                    return events, event.code
                events.append((CLOSE, event.code, event.reason or ""))
                return events, None
        return events, None

    def text(self, text: str) -> bytes:
        return self._ws.send(TextMessage(data=text))

    def texts(self, texts: list[str]) -> bytes:
        ws = self._ws
        return b"".join([ws.send(TextMessage(data=t)) for t in texts])

    def binary(self, data: bytes) -> bytes:
        return self._ws.send(BytesMessage(data=data))

    def ping(self) -> bytes:
        return self._ws.send(Ping())

    def pong(self, payload: bytes) -> bytes:
        return self._ws.send(Pong(payload=payload))

    def close(self, code: int | None, reason: str | None = None) -> bytes:
        if self._ws.state not in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            return b""
        return self._ws.send(CloseConnection(code=code if code is not None else NO_STATUS, reason=reason))
