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
    with trio.fail_after(5):   # under the waiter's own 10 s timeout: only the wake-up sets it in time
        await done.wait()


async def test_deleting_a_room_wakes_waiters_whose_cursor_is_far_ahead(nursery):
    feeds = ChatFeeds()
    results = []

    async def waiter():
        results.append(await feeds.wait_after("gone", cursor=10**9, known_last_id=3, timeout=10))

    nursery.start_soon(waiter)
    await trio.testing.wait_all_tasks_blocked()
    feeds.forget("gone")
    await trio.testing.wait_all_tasks_blocked()
    assert results == [True]
    assert feeds.access_changed_since("gone", feeds.access_mark() - 1)


async def test_room_events_move_the_access_mark_of_that_room_only():
    feeds = ChatFeeds()
    feeds.posted("a", 1, "m1")
    feeds.posted("b", 2, "m2")
    mark = feeds.access_mark()
    feeds.room_changed("a")
    assert feeds.access_changed_since("a", mark)
    assert not feeds.access_changed_since("b", mark)


async def test_a_feed_created_after_an_untracked_event_counts_as_changed():
    feeds = ChatFeeds()
    mark = feeds.access_mark()
    feeds.room_changed("new")            # no feed yet: the event is not recorded per room
    feeds.posted("new", 5, "m5")
    assert feeds.access_changed_since("new", mark)
    quiet = feeds.access_mark()
    feeds.posted("other", 6, "m6")
    assert not feeds.access_changed_since("other", quiet)


async def test_rewrite_patches_ringed_messages_of_one_room_or_all():
    feeds = ChatFeeds()
    feeds.posted("a", 1, {"name": "old"})
    feeds.posted("b", 2, {"name": "old"})
    feeds.rewrite(lambda m: {"name": "new"}, "a")
    assert feeds.recent_after("a", 0, 10) == [{"name": "new"}]
    assert feeds.recent_after("b", 1, 10) == [{"name": "old"}]
    feeds.rewrite(lambda m: {"name": "all"})
    assert feeds.recent_after("b", 1, 10) == [{"name": "all"}]


async def test_idle_feeds_are_evicted_beyond_the_cap_but_not_those_with_waiters(nursery):
    from signaling.chat_feed import MAX_FEEDS
    feeds = ChatFeeds()
    nursery.start_soon(feeds.wait_after, "busy", 0, 0, 10)
    await trio.testing.wait_all_tasks_blocked()
    for i in range(MAX_FEEDS + 50):
        feeds.posted(f"room{i}", i + 1, i)
    assert len(feeds) == MAX_FEEDS
    assert feeds.waiting() == 1
    assert feeds.recent_after("room0", 0, 10) is None          # evicted: one query next time
    feeds.posted("busy", 10**6, "late")
    await trio.testing.wait_all_tasks_blocked()
    assert feeds.waiting() == 0


async def test_a_stale_post_after_a_newer_known_id_is_ignored():
    feeds = ChatFeeds()
    feeds.posted("r", 10, "m10")
    feeds.posted("r", 9, "m9")
    assert feeds.recent_after("r", 9, 10) == ["m10"]
