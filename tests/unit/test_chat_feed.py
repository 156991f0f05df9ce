import trio
import trio.testing

from signaling.chat_feed import RING_SIZE, ChatFeeds


async def test_waiter_wakes_when_message_posted(nursery):
    feeds = ChatFeeds()
    got = []

    async def waiter():
        got.append(await feeds.wait_after("room1", cursor=5, known_last_id=5, timeout=10))

    nursery.start_soon(waiter)
    await trio.testing.wait_all_tasks_blocked()
    assert feeds.waiting() == 1
    feeds.posted("room1", 7, {"id": 7})
    await trio.testing.wait_all_tasks_blocked()
    assert got == [True]
    assert feeds.waiting() == 0
    assert feeds.recent_after("room1", 5, 100) == [{"id": 7}]


async def test_waiter_times_out_without_messages(autojump_clock):
    feeds = ChatFeeds()
    assert await feeds.wait_after("room1", cursor=3, known_last_id=3, timeout=30) is False
    assert feeds.waiting() == 0


async def test_message_committed_before_parking_is_not_missed():
    feeds = ChatFeeds()
    feeds.posted("room1", 9, {"id": 9})
    # The waiter's query saw last id 8; the post of 9 happened before it parked.
    assert await feeds.wait_after("room1", cursor=8, known_last_id=8, timeout=0.01) is True


async def test_ring_overflow_forces_a_query_for_old_cursors():
    feeds = ChatFeeds()
    for i in range(1, RING_SIZE + 11):
        feeds.posted("r", i, i)
    assert feeds.recent_after("r", 0, 500) is None
    assert feeds.recent_after("r", RING_SIZE + 5, 500) == [RING_SIZE + 6, RING_SIZE + 7, RING_SIZE + 8,
                                                           RING_SIZE + 9, RING_SIZE + 10]


async def test_forgetting_a_room_wakes_its_waiters(nursery):
    feeds = ChatFeeds()
    done = trio.Event()

    async def waiter():
        await feeds.wait_after("gone", cursor=1, known_last_id=1, timeout=10)
        done.set()

    nursery.start_soon(waiter)
    await trio.testing.wait_all_tasks_blocked()
    feeds.forget("gone")
    with trio.fail_after(1):
        await done.wait()
