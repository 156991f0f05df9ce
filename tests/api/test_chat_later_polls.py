"""Every kind of change reaches a parked long-poll at once (talk-chat-later.md §12), the hub's ring
never serves a stale copy after an edit, a delete or a reaction, pagination through a history that
mixes comments and system messages has no gap or duplicate, and a history read of 200 messages
with replies and reactions is one database unit."""
from __future__ import annotations

import pytest
import trio

from .. import cluster_mode
from .chat_steps import joined, newest, read, send, wait_parked


async def setup(users, p1, p2):
    token = await p1.create_room(3, name="room")
    await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    target = (await send(p1, token, "target")).data["id"]
    return token, target


async def _rename(p1, token, target):
    await p1.put(f"/room/{token}", roomName="renamed")


async def _reply(p1, token, target):
    await send(p1, token, "reply", replyTo=target)


async def _edit(p1, token, target):
    assert (await p1.put(f"/chat/{token}/{target}", message="edited")).status == 200


async def _delete(p1, token, target):
    assert (await p1.delete(f"/chat/{token}/{target}")).status == 200


async def _react(p1, token, target):
    assert (await p1.post(f"/reaction/{token}/{target}", reaction="👍")).status == 201


async def _unreact(p1, token, target):
    await p1.post(f"/reaction/{token}/{target}", reaction="👍")
    assert (await p1.delete(f"/reaction/{token}/{target}", params={"reaction": "👍"})).status == 200


async def _clear(p1, token, target):
    assert (await p1.delete(f"/chat/{token}")).status == 200


async def _call(p1, token, target):
    await joined(p1, token)
    assert (await p1.post(f"/call/{token}")).status == 200


async def _add(p1, token, target):
    await p1.post(f"/room/{token}/participants", newParticipant="participant3")


async def _promote(p1, token, target):
    await p1.post(f"/room/{token}/moderators", participant="participant2")


async def _password(p1, token, target):
    await p1.put(f"/room/{token}/password", password="pw")


CHANGES = [(_rename, "conversation_renamed"), (_reply, ""), (_edit, "message_edited"),
           (_delete, "message_deleted"), (_react, "reaction"), (_unreact, "reaction"),
           (_clear, "history_cleared"), (_call, "call_started"), (_add, "user_added"),
           (_promote, "moderator_promoted"), (_password, "password_set")]


@pytest.mark.parametrize("change,expected", CHANGES, ids=[c.__name__[1:] for c, _ in CHANGES])
async def test_each_change_wakes_a_parked_poll(users, p1, p2, change, expected):
    token, target = await setup(users, p1, p2)
    start = await newest(p1, token)
    replies = []

    async def poll():
        replies.append(await read(p2, token, lookIntoFuture=1, lastKnownMessageId=start, timeout=20))
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await wait_parked(users, 1)
            await change(p1, token, target)
    reply = replies[0]
    assert reply.status == 200, reply.text
    first = reply.data[0]
    assert first["systemMessage"] == expected
    assert all(m["id"] > start for m in reply.data)
    if expected in ("message_edited", "message_deleted", "reaction"):
        assert first["parent"]["id"] == target
    if expected == "message_edited":
        assert first["parent"]["message"] == "edited"
    if expected == "reaction":
        assert first["parent"]["reactions"] == {"👍": 1}


async def test_the_ring_never_serves_a_stale_copy(users, p1, p2):
    """A woken poll whose range holds a message edited, deleted or reacted to since it was posted
    gets the current version, from the ring or the database."""
    token, _ = await setup(users, p1, p2)
    start = await newest(p1, token)
    edited = (await send(p1, token, "will change")).data["id"]
    deleted = (await send(p1, token, "will go")).data["id"]
    reacted = (await send(p1, token, "will be liked")).data["id"]
    await p1.put(f"/chat/{token}/{edited}", message="changed")
    await p1.delete(f"/chat/{token}/{deleted}")
    await p1.post(f"/reaction/{token}/{reacted}", reaction="🎉")
    for copy in await cluster_mode.ringed_copies(users, token, edited):   # on every node ringing it
        assert copy["message"] == "changed" and "lastEditActorId" in copy
    for copy in await cluster_mode.ringed_copies(users, token, deleted):
        assert copy["messageType"] == "comment_deleted"
    for copy in await cluster_mode.ringed_copies(users, token, reacted):
        assert copy["reactions"] == {"🎉": 1}
    # A waiter parked before all this reads what the database says.
    reply = await read(p2, token, lookIntoFuture=1, lastKnownMessageId=start, timeout=0)
    history = {m["id"]: m for m in (await read(p2, token, limit=200)).data}
    for m in reply.data:
        assert m == history[m["id"]]
    # Reactions make a message personal: p1 sees reactionsSelf, p2 does not.
    assert [m for m in (await read(p1, token)).data if m["id"] == reacted][0]["reactionsSelf"] == ["🎉"]
    assert "reactionsSelf" not in history[reacted]


async def test_woken_poll_sees_its_own_reactions_in_parents(users, p1, p2):
    token, target = await setup(users, p1, p2)
    await p2.post(f"/reaction/{token}/{target}", reaction="👍")
    start = await newest(p1, token)
    replies = []

    async def poll(actor):
        replies.append((actor.name, await read(actor, token, lookIntoFuture=1, lastKnownMessageId=start,
                                               timeout=20)))
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll, p1)
            nursery.start_soon(poll, p2)
            await wait_parked(users, 2)
            await send(p1, token, "reply to the liked one", replyTo=target)
    got = {name: r.data[0] for name, r in replies}
    assert got["participant2"]["parent"]["reactionsSelf"] == ["👍"]
    assert "reactionsSelf" not in got["participant1"]["parent"]


async def test_paging_a_mixed_history_has_no_gap_or_duplicate(users, p1, p2):
    token, target = await setup(users, p1, p2)
    for i in range(60):
        m = (await send(p1 if i % 2 else p2, token, f"m{i}")).data["id"]
        if i % 7 == 0:
            await p2.post(f"/reaction/{token}/{m}", reaction="👍")
        if i % 11 == 0:
            await p1.put(f"/room/{token}", roomName=f"name {i}")
    everything = (await read(p1, token, limit=200)).data
    assert len(everything) > 70
    seen, cursor = [], 0
    while (reply := await read(p1, token, lastKnownMessageId=cursor, limit=13)).status == 200:
        seen += reply.data
        cursor = int(reply.headers["X-Chat-Last-Given"])
    assert [m["id"] for m in seen] == [m["id"] for m in everything]
    forward, cursor = [], 0
    while (reply := await read(p2, token, lookIntoFuture=1, lastKnownMessageId=cursor, limit=17,
                               timeout=0)).status == 200:
        forward += reply.data
        cursor = int(reply.headers["X-Chat-Last-Given"])
    assert [m["id"] for m in forward] == [m["id"] for m in reversed(everything)]
    kinds = {m["messageType"] for m in forward}
    assert kinds == {"comment", "system"}


async def test_history_of_200_messages_with_replies_and_reactions_is_one_unit(users, p1, p2, monkeypatch):
    token, target = await setup(users, p1, p2)
    previous = target
    for i in range(170):
        previous = (await send(p1 if i % 2 else p2, token, f"m{i} @participant1",
                               replyTo=previous if i % 3 == 0 else 0)).data["id"]
        if i % 4 == 0:
            await p2.post(f"/reaction/{token}/{previous}", reaction="👍")
    db = users.ctx.db
    units: list[str] = []
    statements: list[str] = []
    original = db.run

    async def counting(unit, **kw):
        units.append(unit.__qualname__)

        def traced(conn):
            conn.set_trace_callback(statements.append)
            try:
                return unit(conn)
            finally:
                conn.set_trace_callback(None)
        return await original(traced, **kw)
    monkeypatch.setattr(db, "run", counting)
    reply = await read(p1, token, limit=200)
    assert reply.status == 200 and len(reply.data) == 200
    assert sum(1 for m in reply.data if "parent" in m) > 40
    assert sum(1 for m in reply.data if m["reactions"]) > 10
    assert units == ["receive_messages.<locals>.unit"]
    # A fixed number of statements, not one per message.
    assert len(statements) < 20, statements
