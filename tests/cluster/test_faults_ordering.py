"""Two nodes posting to one room at the same instant, on PostgreSQL (a bug the kill -9 test found).

A post reads the room, then takes the room row's lock to allocate its id. If another node commits
a message in between, the post's true predecessor is that message, and the hub must be told so:
told the id it read before the lock, the hub ringed the new message as if it followed directly,
and a parked poll took message n+2 from the ring while n+1 (not yet heard over the bus, or never:
its node was killed) was skipped for good.

"Another node" here is a second connection pool on the same database whose events reach nobody,
which is what a node looks like whose bus message is late or lost.
"""
from __future__ import annotations

import threading

import trio

from storage import messages as messages_db
from storage import rooms as rooms_db
from storage.db import open_database

from .. import support
from ..api.chat_steps import newest
from ..support import add_background_users, serving
from .subprocess_nodes import faults_postgres  # noqa: F401  (a fixture)


async def test_a_post_racing_another_nodes_commit_never_lets_a_waiter_skip_it(tmp_path, faults_postgres):
    fresh_db = faults_postgres.create_database("faults_ordering")
    async with serving(support.test_config(str(tmp_path / "a"), database_url=fresh_db,
                                           database_pool_size=3)) as node:
        await add_background_users(node)
        p1, p2 = node.actor("participant1"), node.actor("participant2")
        token = await p1.create_room(2, invite="attendees1")
        start = await newest(p1, token)
        other = open_database(fresh_db, tmp_path / "unused.sqlite3", 2)
        inserted, release = threading.Event(), threading.Event()
        got: dict = {}

        def other_node_posts(conn) -> int:
            # Takes the room row's lock and inserts, then keeps its transaction open until released.
            room = rooms_db.room_by_token(conn, token)
            message_id = messages_db.insert(conn, room.id, room.last_message_id, "users", "participant2",
                                            "from the other node", "[]", 0)
            inserted.set()
            release.wait(30)
            return message_id

        def blocked(conn) -> int:
            return conn.execute("SELECT COUNT(*) FROM pg_locks WHERE NOT granted").fetchone()[0]

        async def poll() -> None:
            got["poll"] = await p1.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                                "lastKnownMessageId": start})

        async def post() -> None:
            got["post"] = await p2.post(f"/chat/{token}", message="from this node")

        async def other_node() -> None:
            got["other"] = await other.run(other_node_posts)

        try:
            with trio.fail_after(40):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(poll)
                    while node.ctx.hub.chat.waiting() != 1:
                        await trio.sleep(0.01)
                    nursery.start_soon(other_node)
                    while not inserted.is_set():
                        await trio.sleep(0.01)
                    nursery.start_soon(post)            # reads the room, then waits for its lock
                    while await other.run(blocked) == 0:
                        await trio.sleep(0.01)
                    release.set()                       # the other node commits first
        finally:
            release.set()
            other.close()
        assert got["post"].status == 201
        assert got["post"].data["id"] == got["other"] + 1
        # Woken by this node's post, the waiter still gets the other node's message first.
        assert [m["message"] for m in got["poll"].data] == ["from the other node", "from this node"]


async def test_a_retried_unit_publishes_only_what_its_committed_attempt_queued(tmp_path, faults_postgres):
    """PostgreSQL re-runs a unit whose attempt was rolled back (serialization failure, deadlock,
    a lost connection). The attempt's queued publications must go with it: left in the Outbox,
    a retried chat post announced an entry whose id was rolled back, ahead of the real one."""
    import psycopg

    from server.domain.chat_post import Outbox
    from signaling.events import RoomChanged
    from signaling.hub import Hub

    db = open_database(faults_postgres.create_database("faults_retry"), tmp_path / "unused.sqlite3", 1)
    hub = Hub()
    out = Outbox(hub)
    attempts: list[int] = []

    def unit(conn) -> int:
        attempts.append(1)
        out.event(RoomChanged("abcd", len(attempts)))
        if len(attempts) == 1:
            raise psycopg.errors.SerializationFailure("forced for the test")
        return conn.execute("SELECT 1").fetchone()[0]

    try:
        assert await db.run(unit, after_commit=out.hook()) == 1
    finally:
        db.close()
    assert len(attempts) == 2
    assert hub.statistics().events_published == 1   # the committed attempt's event, once
