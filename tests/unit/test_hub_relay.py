"""Two hubs joined the way the cluster bus joins them (each relayed dict goes through JSON, as on
Redis, and is applied by the other hub): what a ring on the far side may still serve after
edits, reactions, cleared histories and posts it never saw. The Redis transport itself is
covered by tests/cluster."""
from __future__ import annotations

import json

import trio

from server.domain.chat_render import message_changed
from signaling.hub import Hub
from signaling.mailbox import Signal


def joined_pair() -> tuple[Hub, Hub]:
    a, b = Hub(), Hub()
    a.relay = lambda message: b.apply_remote(json.loads(json.dumps(message)))
    a.mailboxes.relay = a.relay
    a.mailboxes.new_id = iter(f"sig{i}" for i in range(1000)).__next__
    return a, b


def message(i: int, text: str, **extra) -> dict:
    return {"id": i, "message": text, "actorType": "users", "actorId": "u", "actorDisplayName": "U",
            "messageParameters": {}, **extra}


async def test_an_edit_relayed_with_its_post_is_not_served_stale_by_the_far_ring():
    a, b = joined_pair()
    woke = {}

    async def waiter():
        woke["ok"] = await b.wait_for_chat("r", 5, 5, 10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        a.chat_posted("r", 6, message(6, "old"), previous_id=5)
        message_changed(a, "r", message(6, "new"))   # before the woken waiter runs
    assert woke["ok"]
    assert [m["message"] for m in a.chat.recent_after("r", 5, 10)] == ["new"]
    served = b.chat.recent_after("r", 5, 10)
    assert served is None or [m["message"] for m in served] == ["new"]


async def test_personal_entries_stay_personal_and_gaps_restart_the_far_ring():
    a, b = joined_pair()
    b.chat.posted("r", 5, message(5, "seen"), previous_id=4)
    a.chat_posted("r", 8, message(8, "reacted", reactions={"👍": 1}), personal=True, previous_id=7)
    assert b.chat.recent_after("r", 7, 10) is None           # personal: read from the database
    a.chat_posted("r", 9, message(9, "plain"), previous_id=8)
    assert b.chat.recent_after("r", 5, 10) is None           # 6 and 7 were never seen on b
    assert [m["message"] for m in b.chat.recent_after("r", 8, 10)] == ["plain"]


async def test_a_cleared_history_is_cleared_on_the_far_ring():
    a, b = joined_pair()
    a.chat_posted("r", 6, message(6, "gone soon"), previous_id=5)
    assert [m["message"] for m in b.chat.ringed("r")] == ["gone soon"]
    a.chat_cleared("r")
    assert b.chat.ringed("r") == [] and b.chat.recent_after("r", 5, 10) is None


async def test_relayed_signals_keep_their_kind_and_control_creates_no_far_mailbox():
    a, b = joined_pair()
    for session in ("s1", "s2", "s3"):
        a.mailboxes.register(session, "r", 0.0)
    b.mailboxes.register("s3", "r", 0.0)          # s3: a polling copy on b, nobody connected
    assert a.mailboxes.deliver("s2", Signal("s1", None, {"x": 1}, 1.0, kind="control"))
    assert b.mailboxes.get("s2") is None          # a control signal is for connected clients only
    assert a.mailboxes.deliver("s2", Signal("s1", None, {"type": "offer"}, 1.0))
    assert [s.kind for s in b.mailboxes.get("s2").queue] == ["message"]   # the polling copy
    assert a.mailboxes.deliver("s3", Signal("s1", None, {"x": 2}, 1.0, kind="control"))
    assert not b.mailboxes.get("s3").queue        # not connected on b: not kept there either
    session = b.websockets.create("u")            # now s3's WebSocket client is connected to b
    b.websockets.joined(session, "r", "s3", b.mailboxes.get("s3"))
    session.connection = object()
    assert a.mailboxes.deliver("s3", Signal("s1", None, {"x": 3}, 1.0, kind="control"))
    assert [(s.kind, s.data) for s in b.mailboxes.get("s3").queue] == [("control", {"x": 3})]
