"""A trio client for Janus's WebSocket API (subprotocol `janus-protocol`): one Janus session,
kept alive, re-created after Janus restarts.

Janus answers every request that carries a `transaction` with `success` or `error` (synchronous
requests, e.g. videoroom `create`), or with `ack` followed later by an `event` with the same
transaction (asynchronous plugin requests: `join`, `configure`, `start`). Events without a
transaction (`webrtcup`, `hangup`, `detached`, plugin notifications) go to `on_event`.

Every request is bounded by `timeout`: a Janus that stops answering costs a caller at most that,
and the connection is then considered broken. When the connection drops, every pending request
fails with `JanusGone`; `run()` reconnects with a capped backoff, creates a new session and calls
`on_session(generation)` so the owner can forget handles of the old one (they died with it).
"""
from __future__ import annotations

import itertools
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

log = logging.getLogger("parley.sfu")

VIDEOROOM = "janus.plugin.videoroom"
KEEPALIVE = 25.0        # Janus drops a session after `session_timeout` (60 s default) of silence
TIMEOUT = 10.0


class JanusError(Exception):
    """Janus (or its videoroom plugin) refused a request."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"janus error {code}: {reason}")
        self.code, self.reason = code, reason


class JanusGone(Exception):
    """No connection or session to Janus right now (or it went away during the request)."""


@dataclass
class _Pending:
    wants_event: bool
    done: trio.Event = field(default_factory=trio.Event)
    reply: dict[str, Any] | None = None
    error: BaseException | None = None

    def settle(self, reply: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        if not self.done.is_set():
            self.reply, self.error = reply, error
            self.done.set()


@dataclass(frozen=True, slots=True)
class PluginReply:
    data: dict[str, Any]            # plugindata.data
    jsep: dict[str, Any] | None


EventHandler = Callable[[dict[str, Any]], None]
SessionHandler = Callable[[int], Awaitable[None]]


class JanusClient:
    def __init__(self, url: str, *, timeout: float = TIMEOUT, keepalive: float = KEEPALIVE,
                 max_backoff: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.keepalive = keepalive
        self.max_backoff = max_backoff
        self.session_id: int | None = None
        self.generation = 0                     # +1 per Janus session created
        self.server_info: dict[str, Any] = {}
        self.on_event: EventHandler = lambda message: None
        self.on_session: SessionHandler | None = None
        self._ws: WebSocketConnection | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._ready = trio.Event()
        self._prefix = secrets.token_hex(4)

    @property
    def connected(self) -> bool:
        return self._ws is not None and self.session_id is not None

    async def wait_connected(self) -> None:
        await self._ready.wait()

    # -- requests --------------------------------------------------------------------------------

    async def request(self, body: dict[str, Any], *, session: bool = True, wants_event: bool = False,
                      timeout: float | None = None) -> dict[str, Any]:
        """Send one request and return Janus's final answer (`success`, or the `event` of an
        acknowledged asynchronous plugin request). Raises JanusError, JanusGone, trio.TooSlowError."""
        ws = self._ws
        if ws is None or (session and self.session_id is None):
            raise JanusGone("not connected to Janus")
        transaction = f"{self._prefix}-{next(self._ids)}"
        message = {**body, "transaction": transaction}
        if session:
            message["session_id"] = self.session_id
        pending = self._pending[transaction] = _Pending(wants_event)
        try:
            with trio.fail_after(self.timeout if timeout is None else timeout):
                try:
                    await ws.send_message(json.dumps(message))
                except ConnectionClosed:
                    raise JanusGone("the Janus connection closed") from None
                await pending.done.wait()
        except trio.TooSlowError:
            log.warning("janus did not answer %s within the timeout", body.get("janus"))
            raise
        finally:
            self._pending.pop(transaction, None)
        if pending.error is not None:
            raise pending.error
        assert pending.reply is not None
        return pending.reply

    async def attach(self) -> int:
        reply = await self.request({"janus": "attach", "plugin": VIDEOROOM})
        return int(reply["data"]["id"])

    async def detach(self, handle: int) -> None:
        await self.request({"janus": "detach", "handle_id": handle})

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                      *, wants_event: bool = False) -> PluginReply:
        """A videoroom request on `handle`; plugin errors (`error_code`) raise JanusError."""
        request: dict[str, Any] = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self.request(request, wants_event=wants_event)
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(int(data["error_code"]), str(data.get("error", "")))
        return PluginReply(data, reply.get("jsep"))

    async def trickle(self, handle: int, candidate: dict[str, Any] | None) -> None:
        """One candidate, or None for the end of candidates."""
        await self.request({"janus": "trickle", "handle_id": handle,
                            "candidate": candidate if candidate is not None else {"completed": True}})

    # -- the connection ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, keep the session alive, and reconnect whenever the connection breaks. Forever."""
        backoff = 0.2
        started = False
        while True:
            try:
                async with open_websocket_url(self.url, subprotocols=["janus-protocol"],
                                              connect_timeout=self.timeout,
                                              disconnect_timeout=1.0) as ws:
                    async with trio.open_nursery() as nursery:
                        self._ws = ws
                        nursery.start_soon(self._reader, ws, nursery.cancel_scope)
                        await self._open_session()
                        backoff = 0.2
                        if not started:
                            task_status.started()
                            started = True
                        nursery.start_soon(self._keepalive, nursery.cancel_scope)
            except Exception as exc:   # refused, handshake, lost, timed out (maybe grouped by trio)
                log.warning("janus connection to %s failed: %r", self.url, exc)
            finally:
                self._lost()
            if not started:
                task_status.started()     # the owner runs on without Janus; requests fail fast
                started = True
            await trio.sleep(backoff)     # ok: reconnect backoff after a failed or lost connection
            backoff = min(self.max_backoff, backoff * 2)

    async def _open_session(self) -> None:
        self.server_info = await self.request({"janus": "info"}, session=False)
        if VIDEOROOM not in self.server_info.get("plugins", {}):
            raise JanusError(0, "this Janus has no videoroom plugin")
        reply = await self.request({"janus": "create"}, session=False)
        self.session_id = int(reply["data"]["id"])
        self.generation += 1
        log.info("janus session %s created on %s (%s)", self.session_id, self.url,
                 self.server_info.get("version_string"))
        if self.on_session is not None:
            await self.on_session(self.generation)
        self._ready.set()

    def _lost(self) -> None:
        self._ws = None
        self.session_id = None
        if self._ready.is_set():
            self._ready = trio.Event()
        for pending in list(self._pending.values()):
            pending.settle(error=JanusGone("the Janus connection was lost"))

    async def _keepalive(self, scope: trio.CancelScope) -> None:
        while True:
            await trio.sleep(self.keepalive)   # ok: Janus needs a keepalive per session every < 60 s
            try:
                await self.request({"janus": "keepalive"})
            except (JanusGone, JanusError, trio.TooSlowError):
                scope.cancel()                  # broken: reconnect
                return

    async def _reader(self, ws: WebSocketConnection, scope: trio.CancelScope) -> None:
        try:
            while True:
                raw = await ws.get_message()
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self._dispatch(message)
        except ConnectionClosed:
            log.warning("janus closed the connection")
        scope.cancel()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("janus")
        pending = self._pending.get(message.get("transaction", "")) if "transaction" in message else None
        if pending is not None:
            if kind == "error":
                error = message.get("error", {})
                pending.settle(error=JanusError(int(error.get("code", 0)), str(error.get("reason", ""))))
            elif kind == "ack" and pending.wants_event:
                return            # the event with this transaction follows
            elif kind in ("success", "ack", "server_info", "event"):
                pending.settle(message)
            return
        if kind == "timeout":
            log.warning("janus timed out our session")
        try:
            self.on_event(message)
        except Exception:   # a bad handler must not break the connection
            log.exception("handling a janus event failed")
