"""The presence timer: store pings, expire idle sessions, end abandoned calls.

Runs every `housekeeping_interval` seconds and once at start-up (so a restart never resurrects a
stale session). Takes `now` so tests can drive it with any clock.
"""
from __future__ import annotations

import logging
import sqlite3

import trio

from signaling.events import ParticipantsChanged, RoomChanged
from storage import rooms as rooms_db
from storage.records import ParticipantType

from .calls import end_call_if_empty
from .chat_post import SYSTEM, Outbox
from .context import Ctx

log = logging.getLogger("parley.housekeeping")


async def run_once(ctx: Ctx, now: int, expire: bool = True) -> int:
    """One round; returns how many sessions were expired. With `expire=False` it only stores the
    pings gathered in memory (a cluster node that does not hold the expiry lease)."""
    pings = ctx.hub.presence.drain()
    cutoff = now - ctx.config.session_timeout
    out = Outbox(ctx.hub)   # call summaries of calls that ended here, posted by the server

    def unit(conn: sqlite3.Connection):
        if pings:
            rooms_db.store_pings(conn, pings)
        if not expire:
            return {}, [], []
        touched: dict[int, str] = {}
        expired: list[str] = []
        for p in rooms_db.stale_sessions(conn, cutoff):
            if ctx.hub.presence.effective(p.session_id, p.last_ping) > cutoff:
                continue  # pinged while this round was queued
            if p.is_guest or p.type == ParticipantType.USER_SELF_JOINED:
                rooms_db.delete_participant(conn, p.id)
            else:
                rooms_db.end_session(conn, p.id)
            expired.append(p.session_id)  # type: ignore[arg-type]
            room = rooms_db.room_by_id(conn, p.room_id)
            if room is not None:
                touched[room.id] = room.token
        for p in rooms_db.stale_guests_without_session(conn):
            rooms_db.delete_participant(conn, p.id)
        ended = [room_id for room_id in touched if end_call_if_empty(conn, room_id, out, SYSTEM, now)]
        # Calls whose last in-call session vanished without an event (e.g. across a restart).
        for room in rooms_db.rooms_with_call(conn):
            if end_call_if_empty(conn, room.id, out, SYSTEM, now):
                touched[room.id] = room.token
                ended.append(room.id)
        if expired:
            rooms_db.drop_dead_cookie_sessions(conn)
        return touched, expired, ended
    touched, expired, ended = await ctx.db.run(unit, after_commit=out.hook())
    for session in expired:
        ctx.hub.presence.forget(session)
    for room_id, token in touched.items():
        ctx.hub.publish(ParticipantsChanged(token, room_id))
        if room_id in ended:
            ctx.hub.publish(RoomChanged(token, room_id))
    if expired:
        log.info("expired %d idle session(s)", len(expired))
    return len(expired)


async def may_expire(ctx: Ctx) -> bool:
    """Whether this node runs the expiry part of a round now. In a cluster every node stores its
    own pings, but only the holder of the Redis lease expires sessions, so two nodes never expire
    (and announce) the same session twice; that includes a node's start-up round, while another
    node holds the lease. The lease outlives three rounds: a dead holder is replaced within that."""
    if ctx.bus is None:
        return True
    # At least 100 ms: Redis refuses a zero expiry, and tests run rounds every few milliseconds.
    return await ctx.bus.lease("housekeeping", max(100, int(ctx.config.housekeeping_interval * 3000)))


async def run_forever(ctx: Ctx) -> None:
    while True:
        try:
            await run_once(ctx, ctx.now(), expire=await may_expire(ctx))
        except Exception:  # a failed round must not stop presence for good
            log.exception("housekeeping round failed")
        await trio.sleep(ctx.config.housekeeping_interval)  # ok: periodic timer, not a wait for an event


class Timer:
    """`run_forever` as a task that shutdown can stop and wait for.

    quart-trio runs `after_serving` while background tasks may still be running (it only sets a
    deadline on their nursery), so the app stops this timer before its last round and before it
    closes the database: a round that started after the close would wait for the DB forever.
    """

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._scope = trio.CancelScope()
        self._done = trio.Event()

    async def run(self) -> None:
        try:
            with self._scope:
                await run_forever(self._ctx)
        finally:
            self._done.set()

    async def stop(self) -> None:
        self._scope.cancel()
        await self._done.wait()
