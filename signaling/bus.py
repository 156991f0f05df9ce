"""The cluster bus: every node's hub events, relayed to the hubs of all other nodes over Redis.

Only this module imports coredis, and only `parley` configured with `[cluster] redis_url` imports
this module: a single node never loads a Redis client.

Theory: the hub hands every event it publishes to `Bus.post` as a small dict (synchronous, never
blocks: it lands in a bounded in-memory outbox). One task publishes the outbox to one Redis
channel in order; another task listens on that channel and applies other nodes' events to the
local hub (`Hub.apply_remote`). Each message carries the sending node's random id, so a node
skips its own echoes. Messages are compact JSON.

Faults: Redis pub/sub keeps nothing for a disconnected subscriber, so after any disconnection
(or an outbox overflow) a node cannot know what it missed. It therefore (1) resubscribes,
(2) makes every parked waiter of its own hub re-check the database (`Hub.resync`), and (3) once
its publisher is connected again, publishes a `resync` message so that every other node does the
same for whatever this node could not send. Chat and rosters live in the database, so a re-check
finds everything that committed; only in-flight WebRTC signals may be lost (clients renegotiate).
"""
from __future__ import annotations

import itertools
import json
import logging
import secrets
from typing import Any, Callable

import anyio
import coredis
import trio

log = logging.getLogger("parley.bus")

OUTBOX = 10_000           # events queued while Redis is slow or away; beyond, resync instead
RECONNECT_DELAY = 0.5     # seconds between connection attempts
LEASE_TIMEOUT = 2.0       # seconds a lease request may take (a partitioned Redis must not stall housekeeping)
# Take the lease if free, renew it if ours: 1; held by another node: 0.
_LEASE_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
CONNECTION_ERRORS = (OSError, coredis.exceptions.ConnectionError,
                     TimeoutError, EOFError, trio.BrokenResourceError, trio.ClosedResourceError,
                     anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)


def _channel(url: str) -> str:
    # Pub/sub ignores the database number; put it in the channel name so that two clusters
    # sharing one Redis on different databases stay apart.
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return f"parley:{tail if tail.isdigit() else 0}:hub"


class Bus:
    def __init__(self, url: str, on_message: Callable[[dict[str, Any]], None],
                 on_resync: Callable[[], None]) -> None:
        self.url = url
        self.node = secrets.token_hex(8)
        self.channel = _channel(url)
        self._on_message = on_message
        self._on_resync = on_resync
        self._send, self._outbox = trio.open_memory_channel[str](OUTBOX)
        self._pending: str | None = None    # taken from the outbox, not yet published
        self._owe_resync = False            # something may not have reached the other nodes
        self._seq = itertools.count(1)
        self._client: Any = None
        self._progress = trio.Event()       # set (and replaced) after each publish
        self.posted = 0
        self.subscribed = trio.Event()      # first subscription done (start-up waits for it)
        self.published = 0
        self.received = 0
        self.resyncs = 0

    # -- publishing (sync, never blocks) --------------------------------------------------------

    def new_id(self) -> str:
        """A cluster-wide unique id (for signals: see Mailboxes.deliver)."""
        return f"{self.node}-{next(self._seq)}"

    def post(self, message: dict[str, Any]) -> None:
        message["n"] = self.node
        try:
            self._send.send_nowait(json.dumps(message, separators=(",", ":")))
            self.posted += 1
        except trio.WouldBlock:
            self._owe_resync = True   # the others will re-check instead of hearing this event

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything posted so far is published (the CLI, before it exits)."""
        target = self.posted
        with trio.move_on_after(timeout):
            while self.published < target:
                await self._progress.wait()
            return True
        return False

    async def lease(self, name: str, ttl_ms: int) -> bool:
        """Hold the cluster-wide lease `name` for `ttl_ms` more milliseconds, if nobody else
        holds it (the holder renews). False while Redis is unreachable or slow to answer: then
        no node does the leased work, which is the safe side for work that must not run twice.
        Take-or-renew is one script, so a lease that lapses between a check and a renewal is
        never renewed on behalf of a node that has just taken it over."""
        client = self._client
        if client is None:
            return False
        key = f"{self.channel}:lease:{name}"
        with trio.move_on_after(LEASE_TIMEOUT):
            try:
                return bool(await client.eval(_LEASE_SCRIPT, keys=[key], args=[self.node, ttl_ms]))
            except CONNECTION_ERRORS:
                pass
        return False

    # -- the connection ---------------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Publish and subscribe until cancelled, reconnecting whenever Redis goes away. Reports
        started after the first subscription, or after the first failed attempt (the node then
        serves alone and joins the bus when Redis comes up)."""
        started = False
        first = True
        while True:
            try:
                client = coredis.Redis.from_url(self.url)
                async with client:
                    async with client.pubsub(channels=[self.channel], retry_policy=None,
                                             ignore_subscribe_messages=True) as pubsub:
                        self._client = client
                        if not first:
                            self.resyncs += 1
                            self._on_resync()   # we may have missed anything while away
                            self._owe_resync = True
                        first = False
                        if not started:
                            started = True
                            self.subscribed.set()
                            task_status.started()
                        log.info("bus connected to %s (node %s)", self.url, self.node)
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._publish, client)
                            # Not `async for`: that ends whenever coredis' "subscribed" flag
                            # blinks; a dead connection raises from the pubsub's own task group.
                            while True:
                                self._receive(await pubsub.get_message())
            except CONNECTION_ERRORS as exc:
                log.warning("bus: Redis unreachable (%s); retrying", exc)
            except BaseExceptionGroup as group:
                # coredis' own tasks end with connection errors when torn down; if we are being
                # cancelled, the sleep below raises Cancelled afresh.
                if group.subgroup(lambda e: not isinstance(e, CONNECTION_ERRORS + (trio.Cancelled, BaseExceptionGroup))):
                    raise
                log.warning("bus: Redis connection lost; retrying")
            finally:
                self._client = None
            first = False
            if not started:
                started = True
                task_status.started()
            await trio.sleep(RECONNECT_DELAY)   # ok: reconnect backoff, not a wait for an event

    async def _publish(self, client: Any) -> None:
        if self._owe_resync:
            await client.publish(self.channel, json.dumps({"k": "resync", "n": self.node}))
            self._owe_resync = False
        while True:
            if self._pending is None:
                self._pending = await self._outbox.receive()
            # Kept in `_pending` until Redis took it: a failure here re-sends it after reconnecting.
            await client.publish(self.channel, self._pending)
            self._pending = None
            self.published += 1
            self._progress.set()
            self._progress = trio.Event()

    def _receive(self, message: Any) -> None:
        if not isinstance(message, dict) or message.get("type") != "message":
            return
        try:
            body = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("bus: ignoring a malformed message")
            return
        if not isinstance(body, dict) or body.get("n") == self.node:
            return   # our own echo
        self.received += 1
        if body.get("k") == "resync":
            self._on_resync()
            return
        try:
            self._on_message(body)
        except Exception:   # one bad message must not take the bus down
            log.exception("bus: could not apply %s", body.get("k"))
