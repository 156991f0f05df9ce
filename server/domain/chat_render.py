"""The chat message object of talk-api-v1.md §6.3, and keeping rendered messages in the hub fresh.

Messages are rendered once: the message a POST commits goes into the hub's ring as the finished API
object, and every woken long-poll of the room hands out that same object. Display names are part of
that object, so a rename must patch the ring (`actor_renamed`): the ring must never show a name
the database no longer has.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from signaling.hub import Hub
from storage import accounts as accounts_db
from storage.messages import StoredMessage

from .mentions import UNKNOWN_USER, parameter_user_ids, with_names

USERS, GUESTS = "users", "guests"   # the two actor types of this Talk version


def _parameters(stored: StoredMessage) -> dict[str, dict[str, str]]:
    return json.loads(stored.parameters) if stored.parameters != "[]" else {}


def render_messages(conn: sqlite3.Connection, token: str, rows: list[StoredMessage]) -> list[dict[str, Any]]:
    """API message objects for `rows`, with the mentioned users' current names (one query)."""
    parameters = [_parameters(m) for m in rows]
    mentioned = {uid for p in parameters for uid in parameter_user_ids(p)}
    names = accounts_db.display_names(conn, sorted(mentioned)) if mentioned else {}
    return [{
        "id": m.id,
        "token": token,
        "actorType": m.actor_type,
        "actorId": m.actor_id,
        "actorDisplayName": m.actor_name,
        "timestamp": m.created_at,
        "message": m.message,
        "messageParameters": with_names(p, names),
    } for m, p in zip(rows, parameters)]


def actor_renamed(hub: Hub, actor_type: str, actor_id: str, name: str | None, token: str | None = None) -> None:
    """Patch ringed messages after a display-name change: the actor's own messages, and for users
    the mentions of them. `name=None` means the account is gone ('' as actor, "Unknown user" as
    mention). `token` limits the patch to one room (guests live in one room)."""
    actor_name = name or ""
    mention_name = name if name is not None else UNKNOWN_USER

    def patch(message: dict[str, Any]) -> dict[str, Any]:
        if message["actorType"] == actor_type and message["actorId"] == actor_id \
                and message["actorDisplayName"] != actor_name:
            message = {**message, "actorDisplayName": actor_name}
        parameters = message["messageParameters"]
        if actor_type == USERS and parameters and any(
                p.get("type") == "user" and p["id"] == actor_id for p in parameters.values()):
            message = {**message, "messageParameters": {
                key: {**p, "name": mention_name} if p.get("type") == "user" and p["id"] == actor_id else p
                for key, p in parameters.items()}}
        return message
    hub.chat.rewrite(patch, token)
