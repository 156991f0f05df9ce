"""One server-side WebSocket on a trio stream, with no ASGI or hypercorn framing in between.

`server/ws_fast.py` hands this class the stream of a connection whose HTTP/1.1 upgrade asked for
`/spreed`. It answers the upgrade (101, or an HTTP error), then reads and writes frames with
wsproto, directly on the stream:

- reading: one `receive_some` (plain sockets: a non-blocking `os.read`, parking on
  `wait_readable` only when nothing is there) feeds wsproto; every complete message it yields is
  queued, so several frames from one read cost one wake-up. Fragmented messages are joined;
  past `max_message` characters (hypercorn's measure) the connection closes with 1009. Pings are
  answered, the peer's close frame is answered and ends reading.
- writing: text frames are framed here (server frames are unmasked; wsproto is used only when
  permessage-deflate was negotiated). A write is one non-blocking `os.write` when the socket takes
  it whole, which is nearly always; only a partial write parks, under a FIFO lock, shielded
  (a frame cut in half would corrupt the stream) and bounded by `write_timeout` (a peer that
  stopped reading is dropped, not waited for). `send_many` frames a batch into one write.
- liveness: with `ping_interval`, a connection that sent nothing for one interval is pinged, and
  one silent for two intervals is dropped (a half-open peer: gone without a FIN).

A send after the peer closed, after our close, or on a broken socket raises `ConnectionClosed`
instead of vanishing: the signaling pump then keeps the message for a resume. The peer's close is
marked before it is answered, so a client that saw its close answered cannot miss a later message.
"""
from __future__ import annotations

import os
import struct
from collections import deque
from typing import Any, Iterable

import h11
import trio
from wsproto.connection import Connection as WsConnection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason

from signaling.websocket import ConnectionClosed

MAX_RECV = 65536
CLOSE_TIMEOUT = 1.0        # seconds our close waits for the peer's close frame before hanging up
WRITE_TIMEOUT = 10.0       # seconds a blocked write may take (the HPB's writeWait)
_READS_BEFORE_YIELD = 16   # synchronous reads in a row before letting other tasks run


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (RFC 6455 §5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class FastWebSocket:
    def __init__(self, stream: trio.abc.Stream, h11_connection: h11.Connection, handshake: Any,
                 response_headers: list[tuple[bytes, bytes]], *, max_message: int,
                 ping_interval: float = 0.0, write_timeout: float = WRITE_TIMEOUT) -> None:
        self._stream = stream
        self._h11 = h11_connection
        self._handshake = handshake          # hypercorn's ws_stream.Handshake (validates, accepts)
        self._response_headers = response_headers
        self._max_message = max_message
        self.ping_interval = ping_interval
        self.write_timeout = write_timeout
        socket = getattr(stream, "socket", None)
        self._tls = socket is None
        self._socket = stream.transport_stream.socket if socket is None else socket  # type: ignore[attr-defined]
        self._fd = -1 if self._tls else self._socket.fileno()
        self._ws: WsConnection | None = None
        self._deflate = False
        self._messages: deque[str | bytes] = deque()
        self._parts: list[str | bytes] = []
        self._part_length = 0
        self._write_lock = trio.Lock()
        self._reads = 0            # reads so far (the keep-alive compares it across ticks)
        self._in_a_row = 0
        self.accepted = False
        self.opened = trio.Event()  # set once the upgrade was answered with 101
        self.responded = False     # an HTTP answer (101 or an error) went out
        self.closed = False        # no more data frames: we or the peer closed, or the socket broke
        self._eof = False          # no more messages will be read
        self._peer_close_seen = False
        self._dead = False         # the socket is closed: its fd number must not be used again

    # -- the handshake ---------------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None,
                     headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        status, response, self._ws = self._handshake.accept(subprotocol, list(headers))
        self._deflate = any(name == b"sec-websocket-extensions" for name, _ in response)
        data = self._h11.send(h11.InformationalResponse(status_code=status,
                                                        headers=response + self._response_headers))
        self.accepted = self.responded = True
        self.opened.set()
        await self._write(data)
        trailing = self._h11.trailing_data[0]
        if trailing:   # frames the client sent right behind its upgrade request
            self._ws.receive_data(trailing)
            await self._process()

    async def reject(self, status: int) -> None:
        """Decline the upgrade with an empty HTTP response; the connection then closes."""
        if self.responded:
            return
        self.responded = True
        headers = [(b"content-length", b"0"), (b"connection", b"close")] + self._response_headers
        data = self._h11.send(h11.Response(status_code=status, headers=headers))
        data += self._h11.send(h11.EndOfMessage())
        self.closed = self._eof = True
        try:
            await self._write(data, check=False)
        except ConnectionClosed:
            pass

    # -- reading -------------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next complete message; raises `ConnectionClosed` once the peer is gone."""
        messages = self._messages
        while not messages:
            if self._eof:
                raise ConnectionClosed()
            data = await self._read()
            if not data:
                self._lost()
                raise ConnectionClosed()
            self._reads += 1
            self._ws.receive_data(data)  # type: ignore[union-attr]
            await self._process()
        return messages.popleft()

    async def _read(self) -> bytes:
        if self._dead:
            return b""
        try:
            if self._tls:
                return await self._stream.receive_some(MAX_RECV)
            if self._in_a_row < _READS_BEFORE_YIELD:
                try:
                    data = os.read(self._fd, MAX_RECV)
                    self._in_a_row += 1
                    return data
                except BlockingIOError:
                    pass
            self._in_a_row = 0
            await trio.lowlevel.wait_readable(self._socket)
            return os.read(self._fd, MAX_RECV)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    async def _process(self) -> None:
        """Turn what wsproto parsed into queued messages and control answers."""
        ws = self._ws
        assert ws is not None
        for event in ws.events():
            if isinstance(event, Message):
                if self._eof:
                    continue          # after our close (e.g. 1009): discard until the peer's close
                self._part_length += len(event.data)
                if self._part_length > self._max_message:
                    self._parts.clear()
                    await self._close_now(CloseReason.MESSAGE_TOO_BIG)
                    continue
                if event.message_finished and not self._parts:
                    self._messages.append(event.data)
                else:
                    self._parts.append(event.data)
                    if event.message_finished:
                        joined = "" if isinstance(event, TextMessage) else b""
                        self._messages.append(joined.join(self._parts))  # type: ignore[arg-type]
                        self._parts.clear()
                if event.message_finished:
                    self._part_length = 0
            elif isinstance(event, Ping):
                if not self.closed:
                    await self._write(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._peer_close_seen = True
                was_open = not self.closed
                self.closed = self._eof = True   # before answering: see the module docstring
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    await self._write(ws.send(event.response()), check=False, quiet=True)
                elif ws.state is ConnectionState.OPEN and was_open:   # wsproto found a protocol error
                    await self._write(ws.send(CloseConnection(code=event.code)), check=False, quiet=True)
                return
            elif isinstance(event, Pong):
                pass              # `_reads` already counted it as a sign of life

    def _lost(self) -> None:
        self.closed = self._eof = True

    # -- writing -------------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        if self._deflate:
            await self._write(self._ws.send(TextMessage(data=text)))  # type: ignore[union-attr]
        else:
            await self._write(text_frame(text.encode()))

    async def send_many(self, texts: list[str]) -> None:
        """Several text messages in one write (all of them, or ConnectionClosed)."""
        if self._deflate:
            ws = self._ws
            await self._write(b"".join(ws.send(TextMessage(data=t)) for t in texts))  # type: ignore[union-attr]
        else:
            await self._write(b"".join([text_frame(t.encode()) for t in texts]))

    async def send_bytes(self, data: bytes) -> None:
        await self._write(self._ws.send(BytesMessage(data=data)))  # type: ignore[union-attr]

    async def _write(self, data: bytes | memoryview, *, check: bool = True, quiet: bool = False) -> None:
        """Write `data` whole or raise ConnectionClosed (never part of it and return)."""
        if self._dead or (check and self.closed):
            if quiet:
                return
            raise ConnectionClosed()
        if not self._tls and not self._write_lock.locked():
            try:
                sent = os.write(self._fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._abort()
                if quiet:
                    return
                raise ConnectionClosed() from None
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        async with self._write_lock:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + self.write_timeout
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    self._abort()
                    if quiet:
                        return
                    raise ConnectionClosed() from None
            if scope.cancelled_caught:   # the peer stopped reading: drop it
                self._abort()
                if not quiet:
                    raise ConnectionClosed()

    def _abort(self) -> None:
        """Hang up at once; a parked reader wakes with ClosedResourceError (read as EOF)."""
        self.closed = self._eof = self._dead = True
        self._socket.close()

    # -- closing -------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Send our close frame (once); `finish` then waits briefly for the peer's and hangs up."""
        if self._ws is None or self.closed or self._ws.state is not ConnectionState.OPEN:
            self.closed = True
            return
        self.closed = True
        await self._write(self._ws.send(CloseConnection(code=code, reason=reason)), check=False, quiet=True)

    async def _close_now(self, code: int) -> None:
        await self.close(code)
        self._eof = True

    async def finish(self) -> None:
        """After the app returned: complete the closing handshake (bounded) and close the stream."""
        with trio.CancelScope(shield=True):
            if self.accepted and not self.closed:
                await self.close(CloseReason.INTERNAL_ERROR)   # the app ended without closing
            ws = self._ws
            if ws is not None and not self._peer_close_seen and ws.state is ConnectionState.LOCAL_CLOSING:
                with trio.move_on_after(CLOSE_TIMEOUT):
                    while not self._peer_close_seen:
                        data = await self._read()
                        if not data:
                            break
                        ws.receive_data(data)
                        await self._process()
            with trio.move_on_after(CLOSE_TIMEOUT):
                try:
                    await self._stream.aclose()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    pass
            self._dead = True

    async def keepalive(self) -> None:
        """Ping a silent peer; drop one that stayed silent for two intervals. Runs until cancelled."""
        await self.opened.wait()
        interval = self.ping_interval
        pinged = False
        while not self._eof:
            seen = self._reads
            await trio.sleep(interval)   # ok: the keep-alive ping timer (the HPB pings the same way)
            if self._eof:
                return
            if self._reads != seen:
                pinged = False
            elif pinged:
                self._abort()
                return
            elif not self.closed:
                pinged = True
                await self._write(self._ws.send(Ping()), quiet=True)  # type: ignore[union-attr]
