"""One server-side WebSocket on a trio stream, with no ASGI or hypercorn framing in between.

`server/ws_fast.py` hands this class the stream of a connection whose HTTP/1.1 upgrade asked for
`/spreed`. It answers the upgrade (101, or an HTTP error), then reads and writes frames directly
on the stream, through a codec (server/ws_frames.py: its own for plain connections, wsproto for
permessage-deflate):

- reading: one read (plain sockets: a non-blocking `os.read`, parking on `wait_readable` only
  when nothing is there) feeds the codec; every complete message is queued, so several frames
  from one read cost one wake-up. Fragmented messages are joined; past `max_message` the
  connection closes with 1009, on a protocol error with 1002/1007. Pings are answered; the peer's
  close frame is answered and ends reading.
- writing: a write is one non-blocking `os.write` when the socket takes it whole, which is nearly
  always; only a partial write parks, under a FIFO lock, bounded by `write_timeout` (a peer that
  stopped reading is dropped, not waited for). A parked write that fails, times out or is
  cancelled hangs up at once: a frame cut in half leaves nothing else to say on that stream.
  `send_many` frames a batch into one write.
- liveness: with `ping_interval`, a connection that sent nothing for one interval is pinged, and
  one silent for two intervals is dropped (a half-open peer: gone without a FIN).

A send after the peer closed, after our close, or on a broken socket raises `ConnectionClosed`
instead of vanishing: the signaling pump then keeps the message for a resume. The peer's close is
marked before it is answered, so a client that saw its close answered cannot miss a later message.
"""
from __future__ import annotations

import os
from collections import deque
from typing import Any, Iterable

import h11
import trio

from signaling.websocket import ConnectionClosed

from .ws_frames import CLOSE, MESSAGE, PING, PlainCodec, WsprotoCodec

MAX_RECV = 65536
CLOSE_TIMEOUT = 1.0        # seconds our close waits for the peer's close frame before hanging up
WRITE_TIMEOUT = 10.0       # seconds a blocked write may take (the HPB's writeWait)
_STEPS_BEFORE_YIELD = 32   # reads and messages without parking before letting other tasks run


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
        self._codec: PlainCodec | WsprotoCodec | None = None
        self._messages: deque[str | bytes] = deque()
        self._write_lock = trio.Lock()
        self._reads = 0            # reads so far (the keep-alive compares it across ticks)
        self._since_yield = 0      # messages handed out since the reader last let others run
        self.accepted = False
        self.opened = trio.Event()  # set once the upgrade was answered with 101
        self.responded = False     # an HTTP answer (101 or an error) went out
        self.status = 0            # its status, for the access log
        self.closed = False        # no more data frames: we or the peer closed, or the socket broke
        self._eof = False          # no more messages will be read
        self._peer_close_seen = False
        self._close_sent = False
        self._dead = False         # the socket is closed: its fd number must not be used again

    # -- the handshake ---------------------------------------------------------------------------

    async def accept(self, subprotocol: str | None = None,
                     headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        status, response, ws = self._handshake.accept(subprotocol, list(headers))
        if any(name == b"sec-websocket-extensions" for name, _ in response):   # permessage-deflate
            self._codec = WsprotoCodec(ws, self._max_message)
        else:
            self._codec = PlainCodec(self._max_message)
        data = self._h11.send(h11.InformationalResponse(status_code=status,
                                                        headers=response + self._response_headers))
        self.accepted = self.responded = True
        self.status = status
        self.opened.set()
        await self._write(data)
        trailing = self._h11.trailing_data[0]
        if trailing:   # frames the client sent right behind its upgrade request
            await self._process(trailing)

    async def reject(self, status: int) -> None:
        """Decline the upgrade with an empty HTTP response; the connection then closes."""
        if self.responded:
            return
        self.responded, self.status = True, status
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
            await self._process(data)
        await self._fair()
        return messages.popleft()

    async def _fair(self) -> None:
        """Reads that find data do not yield: a client flooding one socket (messages, pings)
        must not hold the event loop, so every so many steps the reader lets others run."""
        self._since_yield += 1
        if self._since_yield >= _STEPS_BEFORE_YIELD:
            self._since_yield = 0
            await trio.lowlevel.checkpoint()

    async def _read(self) -> bytes:
        if self._dead:
            return b""
        try:
            if self._tls:
                return await self._stream.receive_some(MAX_RECV)
            await self._fair()
            try:
                return os.read(self._fd, MAX_RECV)
            except BlockingIOError:
                pass
            self._since_yield = 0
            await trio.lowlevel.wait_readable(self._socket)
            return os.read(self._fd, MAX_RECV)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    async def _process(self, data: bytes) -> None:
        """Queue the messages in `data`; answer pings, the peer's close and protocol errors."""
        events, error = self._codec.feed(data)  # type: ignore[union-attr]
        for event in events:
            kind = event[0]
            if kind is MESSAGE:
                if not self._eof:   # after our close (e.g. 1009): discarded until the peer's close
                    self._messages.append(event[1])
            elif kind is PING:
                if not self.closed:
                    await self._write(self._codec.pong(event[1]))  # type: ignore[union-attr]
            elif kind is CLOSE:
                self._peer_close_seen = True
                self.closed = self._eof = True   # before answering: see the module docstring
                if not self._close_sent:
                    self._close_sent = True
                    await self._write(self._codec.close(event[1]), check=False, quiet=True)  # type: ignore[union-attr]
                return
            # a pong: `_reads` already counted it as a sign of life
        if error is not None:
            await self.close(error)
            self._eof = True

    def _lost(self) -> None:
        self.closed = self._eof = True

    # -- writing -------------------------------------------------------------------------------

    # Each checks before encoding: once a close went either way, wsproto's codec (deflate)
    # refuses to encode, and a message for a closed socket must be ConnectionClosed (it goes back
    # to the resume queue), whichever codec the connection has.

    async def send_text(self, text: str) -> None:
        self._check_open()
        await self._write(self._codec.text(text))  # type: ignore[union-attr]

    async def send_many(self, texts: list[str]) -> None:
        """Several text messages in one write (all of them, or ConnectionClosed)."""
        self._check_open()
        await self._write(self._codec.texts(texts))  # type: ignore[union-attr]

    async def send_bytes(self, data: bytes) -> None:
        self._check_open()
        await self._write(self._codec.binary(data))  # type: ignore[union-attr]

    def _check_open(self) -> None:
        if self._dead or self.closed:
            raise ConnectionClosed()

    async def _write(self, data: bytes | memoryview, *, check: bool = True, quiet: bool = False,
                     timeout: float | None = None) -> None:
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
        written = False
        try:
            async with self._write_lock:   # FIFO: frames go out in the order they were sent
                with trio.move_on_after(self.write_timeout if timeout is None else timeout):
                    await self._stream.send_all(data)
                    written = True
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            if not written:
                # Timed out (the peer stopped reading), broken, or cancelled (the connection is
                # being torn down): part of a frame may be on the wire and nothing can follow it.
                self._abort()
        if not written and not quiet:
            raise ConnectionClosed()

    def _abort(self) -> None:
        """Hang up at once; a parked reader wakes with ClosedResourceError (read as EOF)."""
        self.closed = self._eof = self._dead = True
        self._socket.close()

    # -- closing -------------------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Send our close frame (once); `finish` then waits briefly for the peer's and hangs up."""
        self.closed = True
        if self._codec is None or self._close_sent or self._dead:
            return
        self._close_sent = True
        await self._write(self._codec.close(code, reason), check=False, quiet=True, timeout=CLOSE_TIMEOUT)

    async def finish(self) -> None:
        """After the app returned: complete the closing handshake (bounded) and close the stream."""
        with trio.CancelScope(shield=True):
            if self.accepted and not self._close_sent:
                await self.close(1011)   # the app ended without closing (hypercorn does the same)
            if self._close_sent and not self._peer_close_seen:
                with trio.move_on_after(CLOSE_TIMEOUT):
                    while not self._peer_close_seen:
                        data = await self._read()
                        if not data:
                            break
                        await self._process(data)
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
                await self._write(self._codec.ping(), quiet=True)  # type: ignore[union-attr]
