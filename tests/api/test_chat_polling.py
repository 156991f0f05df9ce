"""Receiving: long-poll wake-ups, timeouts, paging both ways, read markers and unread counts."""
from __future__ import annotations

from functools import partial

import pytest
import trio

from .chat_steps import comments, newest, read, send, wait_parked


async def test_a_post_wakes_the_parked_long_poll_with_the_message(users, p1, p2):
    # Order and outcome, not speed (speed is measured in bench/chat_fanout.py): the poll parks,
    # the post happens, and the poll answers with that message long before its 30 s timeout.
    token = await p1.create_room(2, invite="attendees1")
    got = {}
    start = await newest(p1, token)   # past the conversation_created system message

    async def poll():
        got["reply"] = await read(p2, token, lookIntoFuture=1, timeout=30, lastKnownMessageId=start)
        got["at"] = trio.current_time()

    with trio.fail_after(20):   # far below the poll's own timeout: only a wake-up answers in time
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await wait_parked(users, 1)
            started = trio.current_time()
            await send(p1, token, "wake up")
    assert got["at"] >= started
    reply = got["reply"]
    assert reply.status == 200
    assert [m["message"] for m in reply.data] == ["wake up"]
    assert reply.headers["X-Chat-Last-Given"] == str(reply.data[0]["id"])
    assert isinstance(reply.data[0]["id"], int)


async def test_every_parked_member_gets_the_message(users, p1, p2, p3):
    token = await p1.create_room(3, name="room")
    await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    await p1.post(f"/room/{token}/participants", newParticipant="participant3")
    replies = []
    start = await newest(p1, token)

    async def poll(actor):
        replies.append(await read(actor, token, lookIntoFuture=1, timeout=10, lastKnownMessageId=start))

    async with trio.open_nursery() as nursery:
        for actor in (p2, p3, users.actor("p2-again", "participant2")):
            nursery.start_soon(poll, actor)
        await wait_parked(users, 3)
        await send(p1, token, "to all")
    assert [[m["message"] for m in r.data] for r in replies] == [["to all"]] * 3
    assert len({r.text for r in replies}) == 1
    # The three woken polls shared one batch from the hub, and its body was encoded once.
    batch = users.ctx.hub.chat.recent_after(token, start, 100)   # the cursor and limit the polls used
    assert list(batch.memo.values()) == [replies[0].text.encode()]


async def test_long_poll_times_out_with_304_and_an_empty_body(users, p1):
    token = await p1.create_room(3, name="room")
    await send(p1, token, "old")
    last = (await read(p1, token)).data[0]["id"]
    started = trio.current_time()
    reply = await read(p1, token, lookIntoFuture=1, lastKnownMessageId=last, timeout=1)
    assert 0.9 < trio.current_time() - started < 20   # it waited; the upper bound only catches a hang
    assert reply.status == 304
    assert reply.text == ""
    assert "X-Chat-Last-Given" not in reply.headers


async def test_timeout_zero_and_history_never_wait(users, p1):
    token = await p1.create_room(3, name="room")
    start = await newest(p1, token)
    with trio.fail_after(20):   # a poll that parked would take its 30 s
        assert (await read(p1, token, lookIntoFuture=1, timeout=0, lastKnownMessageId=start)).status == 304
        assert (await read(p1, token, lookIntoFuture=1, timeout=-5, lastKnownMessageId=start)).status == 304
        assert (await read(p1, token, lookIntoFuture=0, timeout=30, lastKnownMessageId=start)).status == 304
    assert users.ctx.hub.statistics().chat_waiters == 0


async def test_disconnecting_client_releases_its_parked_poll(users, p1):
    token = await p1.create_room(3, name="room")
    with trio.move_on_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(read, p1, token, lookIntoFuture=1, timeout=30))
            await wait_parked(users, 1)
            nursery.cancel_scope.cancel()   # the client gives up: httpx drops the connection
    await wait_parked(users, 0)


async def test_parked_waiter_costs_no_query_and_its_wake_up_none(users, p1, p2, monkeypatch):
    token = await p1.create_room(2, invite="attendees1")
    start = await newest(p1, token)
    db = users.ctx.db
    units: list[str] = []
    original = db.run

    async def counting(unit, **kw):
        units.append(unit.__qualname__)
        return await original(unit, **kw)
    monkeypatch.setattr(db, "run", counting)

    async with trio.open_nursery() as nursery:
        replies = []

        async def poll():
            replies.append(await read(p2, token, lookIntoFuture=1, timeout=10, lastKnownMessageId=start))
        nursery.start_soon(poll)
        await wait_parked(users, 1)
        parked_at = len(units)
        await trio.sleep(0.3)
        assert units[parked_at:] == []          # nothing while parked
        await send(p1, token, "hello")
    assert [m["message"] for m in replies[0].data] == ["hello"]
    woken = units[parked_at:]
    assert "post_message.<locals>.unit" in woken
    assert not [u for u in woken if u.startswith("receive_messages")]   # served from the hub's ring


async def test_messages_are_totally_ordered_and_page_without_gap_or_duplicate(users, p1, p2):
    token = await p1.create_room(2, invite="attendees1")
    for i in range(250):
        await send(p1 if i % 2 else p2, token, f"m{i}")

    newest_first, cursor = [], 0
    while True:
        reply = await read(p1, token, lastKnownMessageId=cursor, limit=100)
        if reply.status == 304:
            break
        assert len(reply.data) <= 100
        newest_first += comments(reply)
        cursor = int(reply.headers["X-Chat-Last-Given"])
        assert cursor == reply.data[-1]["id"]
    assert [m["message"] for m in newest_first] == [f"m{i}" for i in reversed(range(250))]
    ids = [m["id"] for m in newest_first]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 250

    oldest_first, cursor, pages = [], 0, 0
    while True:
        reply = await read(p2, token, lookIntoFuture=1, lastKnownMessageId=cursor, limit=100, timeout=0)
        if reply.status == 304:
            break
        pages += 1
        oldest_first += comments(reply)
        cursor = int(reply.headers["X-Chat-Last-Given"])
    assert pages == 3
    assert [m["message"] for m in oldest_first] == [f"m{i}" for i in range(250)]


async def test_limit_defaults_to_100_and_is_capped_at_200(users, p1):
    token = await p1.create_room(3, name="room")
    for i in range(210):
        await send(p1, token, f"m{i}")
    assert len((await read(p1, token)).data) == 100
    assert len((await read(p1, token, limit=1000)).data) == 200
    assert len((await read(p1, token, limit=0)).data) == 200     # the reference's "no limit", capped
    assert len((await read(p1, token, limit=-3)).data) == 200
    assert len((await read(p1, token, limit=7)).data) == 7


async def test_future_read_moves_the_read_marker_and_unread_count_drops(users, p1, p2):
    token = await p1.create_room(2, invite="attendees1")

    async def unread(actor):
        return (await actor.get(f"/room/{token}")).data["unreadMessages"]
    assert await unread(p2) == 0
    for i in range(3):
        await send(p1, token, f"m{i}")
    assert await unread(p2) == 3
    assert await unread(p1) == 3          # as in Talk: without a marker, own messages count too
    assert (await read(p2, token)).status == 200
    assert await unread(p2) == 3          # history reads do not move the marker
    first = await read(p2, token, lookIntoFuture=1, limit=3, timeout=0)   # conversation_created, m0, m1
    assert await unread(p2) == 1
    await read(p2, token, lookIntoFuture=1, lastKnownMessageId=first.headers["X-Chat-Last-Given"], timeout=0)
    assert await unread(p2) == 0
    await send(p1, token, "one more")
    assert await unread(p2) == 1
    rooms = {r["token"]: r for r in await p2.rooms()}
    assert rooms[token]["unreadMessages"] == 1


async def test_unread_count_cost_does_not_grow_with_history(users, p1):
    """The unread count is a subtraction of sequence numbers found through indexes, not a COUNT."""
    if users.ctx.db.dialect != "sqlite":   # the check reads SQLite's query plans
        pytest.skip("SQLite query plans (PARLEY_TEST_DB=postgres run)")
    token = await p1.create_room(3, name="room")
    for i in range(5):
        await send(p1, token, f"m{i}")

    def plans(conn):
        from storage import chat_state
        statements = []
        conn.set_trace_callback(statements.append)
        room = conn.execute("SELECT * FROM rooms WHERE token = ?", (token,)).fetchone()
        count = chat_state.read_states(conn, "participant1", [(room["id"], room["last_message_id"])])[room["id"]].unread
        conn.set_trace_callback(None)
        return count, [conn.execute("EXPLAIN QUERY PLAN " + s).fetchall() for s in statements]
    count, query_plans = await users.ctx.db.run(plans)
    assert count == 5
    for plan in query_plans:
        for row in plan:
            detail = row["detail"]
            assert detail == "SCAN CONSTANT ROW" or not detail.startswith("SCAN"), detail
            assert "USING" in detail or not detail.startswith("SEARCH"), detail
            assert "COUNT" not in detail.upper(), detail


async def test_concurrent_posts_reach_every_poller_in_order_without_gaps(users, p1, p2, p3):
    token = await p1.create_room(3, name="room")
    for user in ("participant2", "participant3"):
        await p1.post(f"/room/{token}/participants", newParticipant=user)
    posters = [users.actor(f"poster{i}", f"participant{i % 3 + 1}") for i in range(6)]
    total = len(posters) * 15
    seen: dict[str, list[int]] = {}
    start = await newest(p1, token)

    async def poller(actor):
        cursor, got = start, seen.setdefault(actor.name, [])
        while len(got) < total:
            reply = await read(actor, token, lookIntoFuture=1, lastKnownMessageId=cursor, timeout=5)
            assert reply.status == 200, reply.status
            got += [m["id"] for m in reply.data]
            cursor = int(reply.headers["X-Chat-Last-Given"])

    async def poster(actor):
        for i in range(15):
            await send(actor, token, f"{actor.name} {i}")

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for actor in (p1, p2, p3):
                nursery.start_soon(poller, actor)
            await wait_parked(users, 3)
            async with trio.open_nursery() as posting:
                for actor in posters:
                    posting.start_soon(poster, actor)
    history = []
    cursor = start
    while (reply := await read(p1, token, lookIntoFuture=1, lastKnownMessageId=cursor, limit=200,
                               timeout=0)).status == 200:
        history += [m["id"] for m in reply.data]
        cursor = history[-1]
    assert len(history) == total and history == sorted(history)
    assert seen == {"participant1": history, "participant2": history, "participant3": history}
