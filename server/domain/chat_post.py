"""The one way a chat entry is written: `post_message`, inside a unit of work, plus the `Outbox`
that publishes what the unit wrote once it has committed.

Every entry of a room's chat (a comment, a reply, a file share, a system message, a reaction
entry) goes through `post_message`, so all of them get a per-room sequence number, a place in the
room's total order, mention flags, and a wake-up for parked long-polls. Callers write the entry in
the same transaction as the change it describes (a rename and its `conversation_renamed` line
commit together or not at all) and hand `outbox.hook()` to `ctx.db.run(..., after_commit=...)`:
hooks run in commit order, so the hub receives a room's entries in id order.

Usage:

    out = Outbox(ctx.hub)
    def unit(conn):
        room = ...
        post_message(conn, out, room, Author("users", uid), "{file}", parameters={"file": {...}},
                     now=ctx.now())
    await ctx.db.run(unit, after_commit=out.hook())
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

from signaling.events import Event
from signaling.hub import Hub
from storage import chat_state
from storage import messages as messages_db
from storage import rooms as rooms_db
from storage.records import Participant, Room

from .chat_render import GUESTS, SYSTEM_ACTOR, USERS, Viewer, message_changed, needs_viewer, neutral, \
    render_messages, stored_parameters
from .context import Actor
from .ids import guest_actor_id


@dataclass(frozen=True, slots=True)
class Author:
    """Who a chat entry is from: ('users', user id), ('guests', sha1 of the session), or the server
    itself (`SYSTEM`)."""
    actor_type: str
    actor_id: str

    @property
    def viewer(self) -> Viewer:
        return (self.actor_type, self.actor_id)


SYSTEM = Author(*SYSTEM_ACTOR)
# System lines that only describe a change to another entry never become the room's lastMessage
# (talk-chat-later.md §4, §5, §6.4, §8.3); nor do reaction entries. Migration step 7 applies the
# same rule to the history that existed before.
NEVER_LAST_MESSAGE = frozenset({"message_deleted", "message_edited", "reaction_revoked"})


def becomes_last_message(message_type: str, system_message: str) -> bool:
    """Whether an entry of this stored verb becomes the room's `lastMessage`."""
    if message_type == "comment":
        return True
    return message_type == "system" and system_message not in NEVER_LAST_MESSAGE


def author_of(actor: Actor, me: Participant) -> Author:
    if actor.user_id is not None:
        return Author(USERS, actor.user_id)
    return Author(GUESTS, guest_actor_id(me.session_id or ""))


def participant_author(p: Participant) -> Author:
    return Author(USERS, p.user_id) if p.user_id is not None else Author(GUESTS, guest_actor_id(p.session_id or ""))


class Outbox:
    """What one unit of work wants published after its commit, in the order it happened: hub
    events, new chat entries, patched entries, cleared histories."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._ops: list[Callable[[], None]] = []

    def event(self, event: Event) -> None:
        self._ops.append(lambda: self.hub.publish(event))

    def posted(self, token: str, rendered: dict[str, Any], previous_id: int | None = None) -> None:
        """`previous_id`: the room's newest entry id before this one, read in the same transaction
        (lets other nodes' rings notice an entry they never saw; see ChatFeeds.posted)."""
        shared = neutral(rendered)
        self._ops.append(lambda: self.hub.chat_posted(token, shared["id"], shared, needs_viewer(shared),
                                                      previous_id))

    def changed(self, token: str, rendered: dict[str, Any]) -> None:
        self._ops.append(lambda: message_changed(self.hub, token, rendered))

    def cleared(self, token: str) -> None:
        self._ops.append(lambda: self.hub.chat_cleared(token))

    def publish(self) -> None:
        ops, self._ops = self._ops, []
        for op in ops:
            op()

    def discard(self) -> None:
        """The unit is being run again (storage/pg.py retries a rolled-back attempt): what the
        failed attempt queued never happened. Left in, it published entries with ids that were
        rolled back, ahead of the real ones."""
        self._ops = []

    def hook(self, then: Callable[[Any], None] | None = None) -> Callable[[Any], None]:
        """The after-commit hook: publish everything, then `then(result)`. It carries `discard`
        for the database to call before it re-runs the unit."""
        def after_commit(result: Any) -> None:
            self.publish()
            if then is not None:
                then(result)
        after_commit.discard = self.discard  # type: ignore[attr-defined]
        return after_commit


def post_message(conn: sqlite3.Connection, out: Outbox, room: Room, author: Author, message: str, *,
                 now: int, message_type: str = "comment", system_message: str = "",
                 parameters: dict[str, Any] | None = None, parent_id: int | None = None, reference_id: str = "",
                 silent: bool = False, mentioned: list[str] | tuple[str, ...] = (),
                 viewer: Viewer = None, on_insert: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write one chat entry of `room` and queue its publication on `out`; returns it rendered for
    `viewer` (the author's own view by default).

    `message_type` is the stored verb: "comment" (also file and object shares), "system" (then
    `system_message` is its id, e.g. "user_added"), or "reaction". `parameters` are the stored
    rich objects (users as {"type": "user", "id": …}; names are filled in when read). `mentioned`
    are the user ids whose unreadMention flags this entry sets (mentions, the replied-to author).
    `room` must have been read in this transaction (its `last_message_id` orders the entry).
    `on_insert(id)` runs after the row is written and before it is rendered (a reaction entry
    stores the reaction that refers to it there, so its `parent` already shows the new count).
    """
    current = rooms_db.room_by_id(conn, room.id)
    last_id = current.last_message_id if current is not None else room.last_message_id
    # The previous id as re-read under the room's lock: read before it, a post committed
    # meanwhile on another node would be missing, and a ring would not see its gap.
    message_id, last_id = messages_db.insert_after_newest(
        conn, room.id, last_id, author.actor_type, author.actor_id, message, stored_parameters(parameters or {}),
        now, verb=message_type, system_message=system_message, parent_id=parent_id,
        reference_id=reference_id, silent=silent, relevant=becomes_last_message(message_type, system_message))
    if on_insert is not None:
        on_insert(message_id)
    targets = sorted({u for u in mentioned if not (author.actor_type == USERS and u == author.actor_id)})
    if targets:   # flags even when silent: silent only suppresses notifications (§3.1)
        chat_state.add_mentions(conn, room.id, message_id, targets)
    rendered = render_messages(conn, room.token, [messages_db.by_id(conn, message_id)],
                               viewer if viewer is not None else author.viewer)[0]
    out.posted(room.token, rendered, last_id)
    return rendered
