"""Per-room chat feeds: wake parked chat long-polls the moment a message is stored.

Theory: each room keeps the id of its newest message, a short ring of recently posted messages
(already rendered), and one `trio.Event` that is set and replaced on every post. A waiter parks on
the current event, so parking costs one event wait and no database query; a post wakes every
waiter of the room at once (one `set()`), and each woken waiter finds its messages in the ring.

The ring is *complete after* some id: every message of the room with a larger id was posted
through this hub and is still in the ring. A waiter whose cursor is at or past that point gets its
messages without any query; an older cursor (after a restart, or a ring overflow) needs one query.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trio

RING_SIZE = 256


@dataclass
class RoomFeed:
    last_id: int = 0
    complete_after: int = 0
    ring: deque[tuple[int, Any]] = field(default_factory=lambda: deque(maxlen=RING_SIZE))
    changed: trio.Event = field(default_factory=trio.Event)
    waiters: int = 0


class ChatFeeds:
    def __init__(self) -> None:
        self._feeds: dict[str, RoomFeed] = {}

    def _feed(self, token: str, known_last_id: int) -> RoomFeed:
        feed = self._feeds.get(token)
        if feed is None:
            feed = self._feeds[token] = RoomFeed(last_id=known_last_id, complete_after=known_last_id)
        elif known_last_id > feed.last_id:
            # Messages were stored that this feed never saw (posted by another process, e.g. a
            # CLI import): the ring no longer covers them.
            feed.last_id = feed.complete_after = known_last_id
            feed.ring.clear()
        return feed

    def posted(self, token: str, message_id: int, rendered: Any) -> None:
        """A message was committed. Never blocks; wakes every waiter of the room."""
        feed = self._feeds.get(token)
        if feed is None:
            feed = self._feeds[token] = RoomFeed(last_id=message_id - 1, complete_after=message_id - 1)
        if len(feed.ring) == feed.ring.maxlen:
            feed.complete_after = feed.ring[0][0]
        feed.ring.append((message_id, rendered))
        feed.last_id = max(feed.last_id, message_id)
        feed.changed.set()
        feed.changed = trio.Event()

    def recent_after(self, token: str, cursor: int, limit: int) -> list[Any] | None:
        """Up to `limit` messages with id > cursor, oldest first, if the ring covers them; else None."""
        feed = self._feeds.get(token)
        if feed is None or cursor < feed.complete_after:
            return None
        return [rendered for message_id, rendered in feed.ring if message_id > cursor][:limit]

    async def wait_after(self, token: str, cursor: int, known_last_id: int, timeout: float) -> bool:
        """Park until the room has a message with id > cursor, or `timeout` seconds pass.

        `known_last_id` is the room's newest id as read in the same transaction that found nothing
        new, so a message committed between that read and this call still wakes us.
        Returns True if there is something new. Cancellation (client gone) just unparks.
        """
        feed = self._feed(token, known_last_id)
        with trio.move_on_after(timeout):
            feed.waiters += 1
            try:
                while feed.last_id <= cursor:
                    await feed.changed.wait()
            finally:
                feed.waiters -= 1
        return feed.last_id > cursor

    def forget(self, token: str) -> None:
        """The room is gone: wake its waiters (they will find the room missing) and drop the feed."""
        feed = self._feeds.pop(token, None)
        if feed is not None:
            feed.last_id += 1   # makes every waiter's loop end
            feed.changed.set()

    def waiting(self) -> int:
        return sum(f.waiters for f in self._feeds.values())

    def __len__(self) -> int:
        return len(self._feeds)
