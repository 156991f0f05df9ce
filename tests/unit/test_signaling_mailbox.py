"""Mailboxes: bounded queues, folded wake-ups, generations, expiry; and the pull built on them."""
from __future__ import annotations

import trio

from signaling.events import ParticipantsChanged, RoomChanged, RoomDeleted
from signaling.mailbox import Mailboxes, Signal
from signaling.polling import pull, render_pull
from signaling.roster import Member, Roster, diff, users_in_room


def signal(n: int, at: float = 100.0) -> Signal:
    return Signal("sender", "alice", {"n": n}, at)


def test_full_mailbox_drops_the_oldest():
    boxes = Mailboxes(limit=3)
    box = boxes.register("s", "room", 0)
    for n in range(5):
        boxes.deliver("s", signal(n))
    assert [s.data["n"] for s in box.take(100)] == [2, 3, 4]
    assert box.dropped == 2 and box.take(100) == []


def test_take_skips_expired_messages_and_sweep_drops_them():
    boxes = Mailboxes(ttl=300)
    box = boxes.register("s", "room", 0)
    boxes.deliver("s", signal(1, at=0))
    boxes.deliver("s", signal(2, at=250))
    boxes.sweep(301)
    assert [s.data["n"] for s in box.take(301)] == [2]


def test_delivery_needs_a_registered_recipient():
    boxes = Mailboxes()
    assert not boxes.deliver("ghost", signal(1))


def test_participant_changes_fold_into_one_stale_list():
    boxes = Mailboxes()
    box = boxes.register("s", "room", 0)
    assert box.list_stale                       # a new mailbox owes its owner the list
    box.seen = boxes.generation("room")
    assert not box.pending()
    for _ in range(3):
        boxes.on_event(ParticipantsChanged("room", 1))
    assert box.list_stale
    box.seen = boxes.generation("room")
    assert not box.list_stale


def test_generation_moves_even_for_rooms_without_mailboxes():
    boxes = Mailboxes()
    before = boxes.generation("room")
    boxes.on_event(ParticipantsChanged("room", 1))
    assert boxes.generation("room") > before
    boxes.sweep(0)
    boxes.sweep(0)                               # forgotten after a quiet sweep interval...
    boxes.on_event(ParticipantsChanged("room", 1))
    assert boxes.generation("room") > before     # ...yet later changes still compare greater


def test_room_and_chat_flags_only_for_websocket_owners():
    boxes = Mailboxes()
    polling, socket = boxes.register("p", "room", 0), boxes.register("w", "room", 0)
    socket.websocket = True
    boxes.on_event(RoomChanged("room", 1))
    boxes.on_chat("room")
    boxes.on_chat("room")
    assert (polling.room_changed, polling.chat) == (False, False)
    assert (socket.room_changed, socket.chat) == (True, True)


def test_room_deletion_unregisters_everyone():
    boxes = Mailboxes()
    box = boxes.register("s", "room", 0)
    boxes.on_event(RoomDeleted("room", 1))
    assert box.gone and boxes.get("s") is None and boxes.members("room") == ()


def test_sync_room_forgets_sessions_the_database_no_longer_has():
    boxes = Mailboxes()
    boxes.register("a", "room", 0)
    boxes.register("b", "room", 0)
    boxes.sync_room("room", ["a"])
    assert boxes.members("room") == ("a",)


def test_idle_polling_mailboxes_are_swept_websocket_ones_kept():
    boxes = Mailboxes(ttl=300)
    boxes.register("idle", "room", 0)
    boxes.register("socket", "room", 0).websocket = True
    assert boxes.sweep(400) == 1
    assert boxes.get("idle") is None and boxes.get("socket") is not None


async def test_wait_wakes_on_put_and_cancellation_takes_nothing():
    boxes = Mailboxes()
    box = boxes.register("s", "room", 0)
    box.seen = boxes.generation("room")
    with trio.move_on_after(0.05):
        await box.wait()
    assert box.waiters == 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(box.wait)
        await trio.sleep(0.01)
        assert box.waiters == 1
        boxes.deliver("s", signal(1))
    assert box.waiters == 0 and len(box.queue) == 1


ROSTER = Roster("room", 7, (Member("s1", "alice", 1000, True, 1), Member("s2", "", 900, False, 4)))


async def test_pull_parks_without_reading_and_returns_on_message():
    boxes = Mailboxes()
    reads = []

    async def read():
        reads.append(1)
        return "s1", ROSTER

    first = await pull(boxes, "room", read, clock=lambda: 1000.0)
    assert first is not None and first.signals == [] and len(reads) == 1     # owed the list: at once
    result = {}
    async with trio.open_nursery() as nursery:
        async def puller():
            result["r"] = await pull(boxes, "room", read, clock=lambda: 1000.0, timeout=10)
        nursery.start_soon(puller)
        await trio.sleep(0.05)
        assert len(reads) == 2                    # one read before parking, none while parked
        boxes.deliver("s1", signal(1, at=1000))
    assert len(reads) == 2 and [s.data for s in result["r"].signals] == [{"n": 1}]


async def test_pull_rereads_when_the_list_changed_and_reports_gone():
    boxes = Mailboxes()
    state = {"roster": ("s1", ROSTER)}

    async def read():
        return state["roster"]

    await pull(boxes, "room", read, clock=lambda: 1000.0)
    async with trio.open_nursery() as nursery:
        result = {}

        async def puller():
            result["r"] = await pull(boxes, "room", read, clock=lambda: 1000.0, timeout=10)
        nursery.start_soon(puller)
        await trio.sleep(0.05)
        state["roster"] = None                   # kicked
        boxes.on_event(ParticipantsChanged("room", 7))
    assert result["r"] is None and boxes.get("s1") is None


def test_users_in_room_lists_active_sessions_with_effective_ping():
    pings = {"s2": 995}
    entries = users_in_room(ROSTER, 1000, 30, lambda sid, stored: max(stored, pings.get(sid, 0)))
    assert entries == [{"userId": "alice", "roomId": 7, "lastPing": 1000, "sessionId": "s1", "inCall": True},
                       {"userId": "", "roomId": 7, "lastPing": 995, "sessionId": "s2", "inCall": False}]
    assert [e["sessionId"] for e in users_in_room(ROSTER, 1029, 30, lambda s, p: p)] == ["s1"]


def test_render_pull_ends_with_one_users_in_room():
    from signaling.polling import PullResult
    data = render_pull(PullResult("s1", [signal(1)], ROSTER), 1000, 30, lambda s, p: p)
    assert [e["type"] for e in data] == ["message", "usersInRoom"]
    assert data[0]["data"] == '{"n":1,"from":"sender"}'


def test_roster_diff_reports_joins_leaves_and_call_changes():
    a, b = Member("a", "u", 0, False, 3), Member("b", "", 0, False, 4)
    after = {"a": Member("a", "u", 5, True, 3), "c": Member("c", "v", 0, False, 3)}
    change = diff({"a": a, "b": b}, after)
    assert [m.session_id for m in change.joined] == ["c"]
    assert change.left == ("b",)
    assert [m.session_id for m in change.changed] == ["a", "c"]
    assert diff(after, after).empty
