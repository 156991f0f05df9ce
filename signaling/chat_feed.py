"""Per-room chat feeds: wake parked chat long-polls the moment a message is stored.

Theory: each room keeps the id of its newest message, a short ring of recently posted messages
(already rendered), and one `trio.Event` that is set and replaced on every post. A waiter parks on
the current event, so parking costs one event wait and no database query; a post wakes every
waiter of the room at once (one `set()`), and each woken waiter finds its messages in the ring.

The ring is *complete after* some id: every message of the room with a larger id was posted
through this hub and is still in the ring. A waiter whose cursor is at or past that point gets its
messages without any query; an older cursor (after a restart, a ring overflow or an eviction)
needs one query. Posts must arrive in commit order (the chat action publishes from an
after-commit hook of `storage/db.py`, which runs hooks in commit order), so a waiter never takes
message 7 from the ring while message 6 is still on its way.

Access marks: a parked waiter checked its access when it parked. Rather than re-checking with a
query on every wake-up, it remembers `access_mark()` from before that check; `room_changed(token)`
(called by the hub for participant and room events) moves the room's mark, and a woken waiter
whose room moved since its mark re-checks (one query), the others trust their earlier check.

Feeds of rooms nobody waits on are evicted least-recently-used first beyond `MAX_FEEDS`, which
bounds the memory held in rings; an evicted room simply costs its next waiter one query.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

import trio

RING_SIZE = 128
MAX_FEEDS = 512


class Batch(list):
    """Messages handed to every woken waiter that asked for the same range. Renderers share their
    work through `memo` (e.g. the encoded response body per format): a fan-out renders once."""
    __slots__ = ("memo",)

    def __init__(self, messages: list[Any]) -> None:
        super().__init__(messages)
        self.memo: dict[Any, Any] = {}


@dataclass(eq=False)
class RoomFeed:
    last_id: int = 0
    complete_after: int = 0
    changed_at: int = 0          # the access mark of the room's last participant/room event
    # (id, rendered, personal): a personal message differs per reader (its reactionsSelf), so a
    # waiter whose range holds one reads from the database instead of sharing the ringed copy.
    ring: deque[tuple[int, Any, bool]] = field(default_factory=lambda: deque(maxlen=RING_SIZE))
    changed: trio.Event = field(default_factory=trio.Event)
    waiters: int = 0
    closed: bool = False         # the room was deleted
    batches: dict[tuple[int, int], Batch] = field(default_factory=dict)   # (cursor, limit) → batch


class ChatFeeds:
    def __init__(self) -> None:
        self._feeds: OrderedDict[str, RoomFeed] = OrderedDict()
        self._marks = 0
        # The newest mark of a room event that found no feed to record it (or whose feed was
        # evicted since): a new feed cannot tell whether such an event was about its room.
        self._untracked = 0
        self.closing = False     # the server is shutting down: nobody parks any more

    # -- feeds -----------------------------------------------------------------------------------

    def _new_feed(self, token: str, last_id: int) -> RoomFeed:
        # A new feed cannot know which of the untracked events were about its room: it assumes
        # the newest was, so waiters that took their mark before it re-check once. Conservative,
        # never wrong, and free while nothing happens in rooms without a feed.
        feed = self._feeds[token] = RoomFeed(last_id=last_id, complete_after=last_id, changed_at=self._untracked)
        if len(self._feeds) > MAX_FEEDS:
            self._evict()
        return feed

    def _evict(self) -> None:
        excess = len(self._feeds) - MAX_FEEDS
        for token in [t for t, f in self._feeds.items() if f.waiters == 0][:excess]:
            self._untracked = max(self._untracked, self._feeds.pop(token).changed_at)

    def _feed(self, token: str, known_last_id: int) -> RoomFeed:
        feed = self._feeds.get(token)
        if feed is None:
            return self._new_feed(token, known_last_id)
        self._feeds.move_to_end(token)
        if known_last_id > feed.last_id:
            # Messages were stored that this feed never saw (written by another process, e.g. a
            # CLI import): the ring no longer covers them.
            feed.last_id = feed.complete_after = known_last_id
            feed.ring.clear()
        return feed

    # -- publishing (never blocks) ---------------------------------------------------------------

    def posted(self, token: str, message_id: int, rendered: Any, personal: bool = False,
               previous_id: int | None = None) -> None:
        """A message was committed. Call in commit order. Wakes every waiter of the room.

        `previous_id` (the room's newest id before this message) tells whether the feed saw every
        message up to this one; with several nodes posting to one room it may not have, and then
        the ring restarts at this message (older cursors cost their waiter one query)."""
        feed = self._feeds.get(token)
        if feed is None:
            feed = self._new_feed(token, message_id - 1 if previous_id is None else previous_id)
        else:
            self._feeds.move_to_end(token)
        if message_id <= feed.last_id:
            return   # already covered by a newer known id (see `_feed`)
        if previous_id is not None and previous_id > feed.last_id:
            feed.ring.clear()       # messages after last_id were committed elsewhere, unseen here
            feed.complete_after = previous_id
        if len(feed.ring) == feed.ring.maxlen:
            feed.complete_after = feed.ring[0][0]
        feed.ring.append((message_id, rendered, personal))
        feed.batches.clear()
        feed.last_id = message_id
        feed.changed.set()
        feed.changed = trio.Event()

    def rewrite(self, patch: Callable[[Any], Any], token: str | None = None,
                personal: Callable[[Any], bool] | None = None) -> None:
        """Replace each ringed message m of `token`'s room (of every room if None) by `patch(m)`.
        For renames, edits, deletions and reactions: the ring must never serve what the database
        no longer has. `personal(m)`, if given, recomputes each entry's personal flag."""
        feeds = [self._feeds[token]] if token in self._feeds else [] if token else list(self._feeds.values())
        for feed in feeds:
            entries = ((i, patch(m), p) for i, m, p in feed.ring)
            if personal is not None:
                entries = ((i, m, personal(m)) for i, m, _ in entries)
            feed.ring = deque(entries, maxlen=RING_SIZE)
            feed.batches.clear()

    def cleared(self, token: str) -> None:
        """The room's history was deleted: nothing ringed may be served again. Waiters whose
        cursor is older than the next message read it from the database."""
        feed = self._feeds.get(token)
        if feed is not None:
            feed.ring.clear()
            feed.complete_after = feed.last_id
            feed.batches.clear()

    def invalidate(self, token: str) -> None:
        """Forget the room's ring (it may hold stale renderings); its next waiters read the database."""
        feed = self._feeds.get(token)
        if feed is not None:
            feed.ring.clear()
            feed.batches.clear()
            feed.complete_after = feed.last_id

    def tokens(self) -> list[str]:
        """The rooms that have a feed (a snapshot)."""
        return list(self._feeds)

    def resync(self) -> None:
        """Events may have been missed: wake every waiter to re-check the database (as if each
        room were forgotten: the feeds are rebuilt by the next waiters)."""
        for token in list(self._feeds):
            self.forget(token)

    def room_changed(self, token: str) -> None:
        """Participants or room settings changed: parked waiters must re-check access on wake-up."""
        self._marks += 1
        feed = self._feeds.get(token)
        if feed is not None:
            feed.changed_at = self._marks
        else:
            self._untracked = self._marks

    def forget(self, token: str) -> None:
        """The room is gone: wake its waiters (they will find the room missing) and drop the feed."""
        self._marks += 1
        self._untracked = self._marks
        feed = self._feeds.pop(token, None)
        if feed is not None:
            feed.closed = True
            feed.changed.set()

    def close_all(self) -> None:
        """The server is shutting down: wake every parked waiter (each answers with what it has,
        usually nothing: a 304) and let no new one park. One `set()` per room."""
        self.closing = True
        for feed in self._feeds.values():
            feed.changed.set()
            feed.changed = trio.Event()

    # -- waiting and reading ---------------------------------------------------------------------

    def access_mark(self) -> int:
        """Take before checking access; pass to `access_changed_since` after waking."""
        return self._marks

    def access_changed_since(self, token: str, mark: int) -> bool:
        feed = self._feeds.get(token)
        return feed is None or feed.changed_at > mark

    def recent_after(self, token: str, cursor: int, limit: int) -> Batch | None:
        """Up to `limit` messages with id > cursor, oldest first, if the ring covers them; else None.
        Waiters asking for the same range between two posts get the same `Batch`."""
        feed = self._feeds.get(token)
        if feed is None or cursor < feed.complete_after:
            return None
        batch = feed.batches.get((cursor, limit))
        if batch is None:
            result = []
            for message_id, rendered, personal in feed.ring:
                if message_id > cursor:
                    if personal:
                        return None
                    result.append(rendered)
                    if len(result) == limit:
                        break
            batch = feed.batches[(cursor, limit)] = Batch(result)
        return batch

    async def wait_after(self, token: str, cursor: int, known_last_id: int, timeout: float) -> bool:
        """Park until the room has a message with id > cursor, the room is deleted, or `timeout`
        seconds pass. Returns True unless the timeout passed.

        `known_last_id` is the room's newest id as read in the same transaction that found nothing
        new, so a message committed between that read and this call still wakes us.
        Cancellation (client gone) just unparks: nothing is left behind. After `close_all()` it
        returns at once (False unless something newer is already there).
        """
        feed = self._feed(token, known_last_id)
        if self.closing:
            await trio.lowlevel.checkpoint()
            return feed.last_id > cursor or feed.closed
        with trio.move_on_after(timeout):
            feed.waiters += 1
            try:
                while feed.last_id <= cursor and not feed.closed and not self.closing:
                    await feed.changed.wait()
            finally:
                feed.waiters -= 1
        return feed.last_id > cursor or feed.closed

    def ringed(self, token: str) -> list[Any]:
        """The room's ringed messages, oldest first (for tests and diagnostics)."""
        feed = self._feeds.get(token)
        return [rendered for _, rendered, _ in feed.ring] if feed is not None else []

    def waiting(self) -> int:
        return sum(f.waiters for f in self._feeds.values())

    def __len__(self) -> int:
        return len(self._feeds)
