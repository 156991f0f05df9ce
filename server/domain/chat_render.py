"""The chat message object (talk-api-v1.md §6.3 plus talk-chat-later.md §1), and keeping rendered
messages in the hub fresh.

Messages are rendered once: the message a POST commits goes into the hub's ring as the finished API
object, and every woken long-poll of the room hands out that same object. So the object must not
depend on who reads it. Two choices make that hold (docs/DECISIONS-LOG.md, "Later chat"): system
messages use the `{actor}` templates for every viewer (no "You …" variants), and the one field that
does depend on the viewer, `reactionsSelf`, is left out of ringed copies; a ringed message that has
reactions (itself or its parent) is marked personal (`needs_viewer`) and a waiter reads it from the
database instead, rendered for itself.

Display names are part of the object, so renames, edits, deletions and reaction changes patch the
ring (`actor_renamed`, `message_changed`): the ring never shows what the database no longer has.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from signaling.hub import Hub
from storage import accounts as accounts_db
from storage import chat_state
from storage import messages as messages_db
from storage import rooms as rooms_db
from storage.messages import StoredMessage

from .mentions import UNKNOWN_USER

USERS, GUESTS = "users", "guests"
SYSTEM_ACTOR = (GUESTS, "system")          # the server itself, shown as "System"
MAX_REACTION_KINDS = 20                    # §6.3: only the 20 most used emojis are listed
REPLYABLE_ACTORS = (USERS, GUESTS)
Viewer = tuple[str, str] | None            # (actorType, actorId) of the reader, for reactionsSelf


def stored_parameters(parameters: dict[str, Any]) -> str:
    return json.dumps(parameters, separators=(",", ":")) if parameters else "[]"


def _parameters(stored: StoredMessage) -> dict[str, dict[str, str]]:
    return json.loads(stored.parameters) if stored.parameters != "[]" else {}


def actor_reference(actor_type: str, actor_id: str) -> dict[str, str]:
    """The stored form of a rich object for an actor; names are filled in when read."""
    if actor_type == USERS:
        return {"type": "user", "id": actor_id, "mention-id": actor_id}
    return {"type": "guest", "id": f"guest/{actor_id}", "mention-id": f"guest/{actor_id}"}


class _Names:
    """Display names of users and guests met while rendering a page, looked up in two queries."""

    def __init__(self, conn: sqlite3.Connection, rows: list[StoredMessage], parameters: list[dict]) -> None:
        users: set[str] = set()
        guests: set[str] = set()
        for m, p in zip(rows, parameters):
            if m.verb != "comment":
                (users if m.actor_type == USERS else guests).add(m.actor_id)
            for value in p.values():
                if value.get("type") == "user":
                    users.add(value["id"])
                elif value.get("type") == "guest":
                    guests.add(value["id"][len("guest/"):])
        self.users = accounts_db.display_names(conn, sorted(users)) if users else {}
        self.guests = rooms_db.guest_names(conn, sorted(guests)) if guests else {}

    def fill(self, parameters: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        out = {}
        for key, p in parameters.items():
            if p.get("type") == "user":
                p = {**p, "name": self.users.get(p["id"], UNKNOWN_USER)}
            elif p.get("type") == "guest":
                guest = p["id"][len("guest/"):]
                if guest == SYSTEM_ACTOR[1]:
                    p = {**p, "name": "System"}
                else:
                    name = self.guests.get(guest, "")
                    p = {**p, "name": f"{name} (guest)" if name else "Guest"}
            out[key] = p
        return out


def _message_type(m: StoredMessage) -> tuple[str, str]:
    """(messageType, systemMessage) for a stored verb."""
    if m.verb in ("reaction", "reaction_deleted"):
        return "system", m.verb
    if m.verb == "system":
        return "system", m.system_message
    return m.verb, ""


def _reactions(counts: dict[str, int]) -> dict[str, int]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_REACTION_KINDS]
    return dict(ranked)


def _renderer(conn: sqlite3.Connection, every: list[StoredMessage], viewer: Viewer
              ) -> Callable[[StoredMessage, str], dict[str, Any]]:
    """A function rendering any of `every` (without its parent) as the API object of room `token`,
    after three queries for all of them: names of users, names of guests, reaction counts (with
    the viewer's own reactions when `viewer` is given)."""
    parameters = {m.id: _parameters(m) for m in every}
    names = _Names(conn, every, [parameters[m.id] for m in every])
    counts: dict[int, dict[str, int]] = {}
    mine: dict[int, list[str]] = {}
    viewer_type, viewer_id = viewer if viewer else (None, None)
    for message_id, emoji, n, own in chat_state.reaction_counts(conn, [m.id for m in every], viewer_type, viewer_id):
        counts.setdefault(message_id, {})[emoji] = n
        if own and viewer:
            mine.setdefault(message_id, []).append(emoji)

    def one(m: StoredMessage, token: str) -> dict[str, Any]:
        message_type, system_message = _message_type(m)
        p = parameters[m.id]
        if m.verb == "system":
            p = {"actor": actor_reference(m.actor_type, m.actor_id), **p}
        deleted = m.verb == "comment_deleted"
        reactions = {} if deleted else _reactions(counts.get(m.id, {}))
        obj: dict[str, Any] = {
            "id": m.id,
            "token": token,
            "actorType": m.actor_type,
            "actorId": m.actor_id,
            "actorDisplayName": m.actor_name,
            "timestamp": m.created_at,
            "message": m.message,
            "messageParameters": names.fill(p) if p else [],
            "systemMessage": system_message,
            "messageType": message_type,
            "isReplyable": m.verb == "comment" and m.actor_type in REPLYABLE_ACTORS and m.actor_id != SYSTEM_ACTOR[1],
            "referenceId": m.reference_id,
            "reactions": reactions,
            "expirationTimestamp": 0,
            "markdown": message_type != "system",
        }
        if reactions and mine.get(m.id):
            obj["reactionsSelf"] = sorted(mine[m.id])
        if m.edited_at is not None and not deleted:
            obj.update(lastEditActorType=m.edit_actor_type, lastEditActorId=m.edit_actor_id,
                       lastEditActorDisplayName=m.edit_actor_name, lastEditTimestamp=m.edited_at)
        if m.silent:
            obj["silent"] = True
        if deleted:
            obj["deleted"] = True
        return obj
    return one


def render_messages(conn: sqlite3.Connection, token: str, rows: list[StoredMessage],
                    viewer: Viewer = None) -> list[dict[str, Any]]:
    """API message objects for `rows`, with current names, reaction counts and parents (the
    caller's own reactions only when `viewer` is given). A fixed number of queries for any page:
    the parents, the names, the reaction counts."""
    parent_ids = sorted({m.parent_id for m in rows if m.parent_id is not None})
    known = {m.id: m for m in rows}
    missing = [i for i in parent_ids if i not in known]
    parents = {**{i: known[i] for i in parent_ids if i in known}, **messages_db.by_ids(conn, missing)}
    one = _renderer(conn, rows + [p for i, p in parents.items() if i not in known], viewer)
    result = []
    for m in rows:
        obj = one(m, token)
        if m.parent_id is not None:
            parent = parents.get(m.parent_id)
            obj["parent"] = one(parent, token) if parent is not None else {"id": m.parent_id, "deleted": True}
        result.append(obj)
    return result


def render_last_messages(conn: sqlite3.Connection, rows: list[tuple[str, StoredMessage]]) -> list[dict[str, Any]]:
    """The rooms' `lastMessage` objects for (room token, message) pairs of any number of rooms, in
    three queries: never with `parent` or `reactionsSelf` (talk-chat-later.md §7.3), so the same
    for every reader."""
    one = _renderer(conn, [m for _, m in rows], None)
    return [one(m, token) for token, m in rows]


def render_one(conn: sqlite3.Connection, token: str, message_id: int, viewer: Viewer = None) -> dict[str, Any]:
    return render_messages(conn, token, [messages_db.by_id(conn, message_id)], viewer)[0]


def neutral(message: dict[str, Any]) -> dict[str, Any]:
    """The copy the hub may share with every reader: without the reader's own reactions."""
    if "reactionsSelf" in message:
        message = {k: v for k, v in message.items() if k != "reactionsSelf"}
    parent = message.get("parent")
    if parent is not None and "reactionsSelf" in parent:
        message = {**message, "parent": {k: v for k, v in parent.items() if k != "reactionsSelf"}}
    return message


def needs_viewer(message: dict[str, Any]) -> bool:
    """Whether a reader must get this message rendered for itself (its reactionsSelf may differ)."""
    parent = message.get("parent")
    return bool(message.get("reactions")) or bool(parent and parent.get("reactions"))


def message_changed(hub: Hub, token: str, updated: dict[str, Any]) -> None:
    """Patch ringed copies after an edit, a delete or a reaction change: the message itself and
    every ringed message whose `parent` it is. `updated` is rendered without a viewer."""
    updated = neutral(updated)
    as_parent = {k: v for k, v in updated.items() if k != "parent"}
    message_id = updated["id"]

    def patch(message: dict[str, Any]) -> dict[str, Any]:
        if message["id"] == message_id:
            keep_parent = {"parent": message["parent"]} if "parent" in message else {}
            return {**as_parent, **keep_parent}
        parent = message.get("parent")
        if parent is not None and parent.get("id") == message_id:
            return {**message, "parent": as_parent}
        return message
    # A message that gained reactions becomes personal (its readers' reactionsSelf differ).
    hub.chat.rewrite(patch, token, personal=needs_viewer)
    hub.chat_rewritten(token)   # other nodes' rings drop their copies


def actor_renamed(hub: Hub, actor_type: str, actor_id: str, name: str | None, token: str | None = None) -> None:
    """Patch ringed messages after a display-name change: the actor's own messages, and for users
    the mentions of them. `name=None` means the account is gone ('' as actor, "Unknown user" as
    mention). `token` limits the patch to one room (guests live in one room)."""
    actor_name = name or ""
    mention_name = name if name is not None else UNKNOWN_USER

    def patch_one(message: dict[str, Any]) -> dict[str, Any]:
        if message["actorType"] == actor_type and message["actorId"] == actor_id \
                and message["actorDisplayName"] != actor_name:
            message = {**message, "actorDisplayName": actor_name}
        parameters = message["messageParameters"]
        if actor_type == USERS and parameters and any(
                p.get("type") == "user" and p["id"] == actor_id for p in parameters.values()):
            message = {**message, "messageParameters": {
                key: {**p, "name": mention_name} if p.get("type") == "user" and p["id"] == actor_id else p
                for key, p in parameters.items()}}
        elif actor_type == GUESTS and parameters and any(
                p.get("type") == "guest" and p["id"] == f"guest/{actor_id}" for p in parameters.values()):
            guest_name = f"{name} (guest)" if name else "Guest"
            message = {**message, "messageParameters": {
                key: {**p, "name": guest_name} if p.get("type") == "guest" and p["id"] == f"guest/{actor_id}" else p
                for key, p in parameters.items()}}
        return message

    def patch(message: dict[str, Any]) -> dict[str, Any]:
        message = patch_one(message)
        if "parent" in message and "actorType" in message["parent"]:
            parent = patch_one(message["parent"])
            if parent is not message["parent"]:
                message = {**message, "parent": parent}
        return message
    hub.chat.rewrite(patch, token)
    hub.chat_rewritten(token)
