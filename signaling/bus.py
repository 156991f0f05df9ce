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
# Give the lease up if ours (a node stopping cleanly), so a restarted cluster does not wait for it
# to lapse before anyone expires sessions.
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
CONNECTION_ERRORS = (OSError, coredis.exceptions.ConnectionError,
                     TimeoutError, EOFError, trio.BrokenResourceError, trio.ClosedResourceError,
                     anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)
# What a request made through the client can raise besides: while a lost connection is being torn
# down, `_client` is still set but coredis' pool has exited, and it says so with a RuntimeError.
CALL_ERRORS = CONNECTION_ERRORS + (RuntimeError, coredis.exceptions.RedisError)


BATCH_MAX = 512           # posted messages published together at most
BATCH_BYTES = 256 * 1024  # and about this many bytes of JSON
EVAL_TIMEOUT = 2.0        # seconds a script may take before the caller gives up on Redis


class BusUnavailable(Exception):
    """Redis cannot be asked right now (not connected, or it did not answer in time)."""


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
        self._pending_count = 0             # how many posted messages `_pending` holds
        self._owe_resync = False            # something may not have reached the other nodes
        self._seq = itertools.count(1)
        self._client: Any = None
        self._progress = trio.Event()       # set (and replaced) after each publish
        self.posted = 0
        # Barriers (see `barrier`): pings of our own, by id, until their echo comes back.
        self._barriers: dict[str, trio.Event] = {}
        self._barrier_open: tuple[str, str] | None = None   # (id, text) of a ping not yet sent
        # Confirmed messages (see `post_confirmed`): id -> [nodes that received it, confirmations]
        self._acks: dict[str, list[Any]] = {}
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

    def post_confirmed(self, message: dict[str, Any]) -> None:
        """`post`, and every other node confirms once it has applied the message: `settle` then
        waits for all of them (how many received it, Redis's PUBLISH answers). For what must hold
        on every node before the answer goes out: a changed password, a deleted user."""
        ack = self.new_id()
        message["ack"] = ack
        self._acks[ack] = [None, 0]
        self.post(message)

    def _unconfirmed(self) -> bool:
        return any(needed is None or got < needed for needed, got in self._acks.values())

    async def settle(self, timeout: float = 1.0) -> bool:
        """Wait until everything this node posted so far has reached Redis (and every confirmed
        message was applied by every node): a request's events go out before its answer, so
        whatever its client does next (on any node) is ordered after them in the channel.
        Returns False at once while Redis is away (nothing would arrive)."""
        target = self.posted
        if self.published >= target and not self._acks:
            return True
        if self._client is None:
            self._acks.clear()
            return False
        with trio.move_on_after(timeout):
            while self.published < target or self._unconfirmed():
                await self._progress.wait()
            self._acks.clear()
            return True
        self._acks.clear()   # a node that does not confirm in time: do not wait for it again
        return False

    async def barrier(self, timeout: float = 1.0) -> bool:
        """Wait until this node has received every message Redis had when this was called.

        A ping of our own goes through the channel; Redis delivers in order, so once its echo is
        back, everything published before it has been applied here. Callers woken together share
        one ping as long as it has not left the outbox (it then still reaches Redis after their
        call). False when Redis is away or slow: the caller must not rely on having heard
        everything (a woken chat poll then re-reads the database)."""
        if self._client is None:
            return False
        if self._barrier_open is None:
            barrier_id = self.new_id()
            text = json.dumps({"k": "barrier", "b": barrier_id, "n": self.node}, separators=(",", ":"))
            try:
                self._send.send_nowait(text)
            except trio.WouldBlock:
                self._owe_resync = True
                return False
            self.posted += 1
            self._barriers[barrier_id] = trio.Event()
            self._barrier_open = (barrier_id, text)
        event = self._barriers[self._barrier_open[0]]
        with trio.move_on_after(timeout):
            await event.wait()
            return True
        return False

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
            except CALL_ERRORS:
                pass
        return False

    async def release(self, name: str) -> None:
        """Give up the lease `name` if this node holds it (a clean stop); best effort."""
        client = self._client
        if client is None:
            return
        with trio.move_on_after(LEASE_TIMEOUT):
            try:
                await client.eval(_RELEASE_SCRIPT, keys=[f"{self.channel}:lease:{name}"], args=[self.node])
            except CALL_ERRORS:
                pass

    async def eval(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run a Lua script on Redis (the shared login limits, server/domain/shared_limits.py).
        Raises `BusUnavailable` while Redis is unreachable: the caller falls back to its own."""
        client = self._client
        if client is None:
            raise BusUnavailable("Redis is unreachable")
        try:
            with trio.fail_after(EVAL_TIMEOUT):
                return await client.eval(script, keys=keys, args=args)
        except (CALL_ERRORS + (trio.TooSlowError,)) as exc:
            raise BusUnavailable(str(exc) or type(exc).__name__) from None

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
                # Everything waiting goes out as one Redis message (a JSON list): one round trip
                # for a burst (a signaling send of many messages, a fan-out) instead of one each.
                batch = [await self._outbox.receive()]
                size = len(batch[0])
                while len(batch) < BATCH_MAX and size < BATCH_BYTES:
                    try:
                        batch.append(self._outbox.receive_nowait())
                    except trio.WouldBlock:
                        break
                    size += len(batch[-1])
                if self._barrier_open is not None and any(text is self._barrier_open[1] for text in batch):
                    self._barrier_open = None   # later callers need a ping of their own
                self._pending = batch[0] if len(batch) == 1 else "[" + ",".join(batch) + "]"
                self._pending_count = len(batch)
            # Kept in `_pending` until Redis took it: a failure here re-sends it after reconnecting.
            receivers = await client.publish(self.channel, self._pending)
            for ack, state in self._acks.items():
                if state[0] is None and f'"ack":"{ack}"' in self._pending:
                    state[0] = max(0, int(receivers) - 1)   # every subscriber but this node
            self._pending = None
            self.published += self._pending_count
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
        for one in body if isinstance(body, list) else [body]:   # a batch, or a single event
            if isinstance(one, dict):
                self._apply(one)

    def _apply(self, body: dict[str, Any]) -> None:
        if body.get("k") == "barrier":
            if body.get("n") == self.node:
                event = self._barriers.pop(str(body.get("b")), None)
                if event is not None:
                    event.set()
            return   # other nodes' barriers are theirs alone
        if body.get("k") == "acked":
            state = self._acks.get(str(body.get("a"))) if body.get("to") == self.node else None
            if state is not None:
                state[1] += 1
                self._progress.set()
                self._progress = trio.Event()
            return
        if body.get("n") == self.node:
            return   # our own echo
        self.received += 1
        if body.get("k") == "resync":
            self._on_resync()
            return
        try:
            self._on_message(body)
        except Exception:   # one bad message must not take the bus down
            log.exception("bus: could not apply %s", body.get("k"))
        if body.get("ack"):
            self.post({"k": "acked", "a": body["ack"], "to": body.get("n")})
