"""System messages (talk-chat-later.md §8): the lines the server writes into a room's chat when
something about the room changes. Each is posted inside the unit of work of that change, through
`chat_post.post_message`, so the change and its line commit together and parked long-polls wake.

Texts are the English `{actor}` templates for every reader (clients key on `systemMessage`; the
"You …" forms would make one message differ per reader, see chat_render.py).
"""
from __future__ import annotations

import sqlite3
from typing import Any

from storage import chat_state
from storage.records import Room, RoomType

from .chat_post import Author, Outbox, post_message
from .chat_render import USERS, actor_reference

TEMPLATES = {
    "conversation_created": "{actor} created the conversation",
    "guests_allowed": "{actor} allowed guests",
    "guests_disallowed": "{actor} disallowed guests",
    "password_set": "{actor} set a password",
    "password_removed": "{actor} removed the password",
    "user_added": "{actor} added {user}",
    "user_removed": "{actor} removed {user}",
    "moderator_promoted": "{actor} promoted {user} to moderator",
    "moderator_demoted": "{actor} demoted {user} from moderator",
    "call_started": "{actor} started a call",
    "call_joined": "{actor} joined the call",
    "call_left": "{actor} left the call",
    "message_deleted": "{actor} deleted a message",
    "message_edited": "{actor} edited a message",
    "reaction_revoked": "{actor} deleted a reaction",
    "history_cleared": "{actor} cleared the history of the conversation",
}


def post_system(conn: sqlite3.Connection, out: Outbox, room: Room, author: Author, system_message: str, *,
                now: int, text: str | None = None, parameters: dict[str, Any] | None = None,
                parent_id: int | None = None) -> dict[str, Any]:
    return post_message(conn, out, room, author, text if text is not None else TEMPLATES[system_message],
                        now=now, message_type="system", system_message=system_message,
                        parameters=parameters, parent_id=parent_id)


def conversation_created(conn, out, room: Room, author: Author, now: int) -> None:
    post_system(conn, out, room, author, "conversation_created", now=now)


def conversation_renamed(conn, out, room: Room, author: Author, old: str, new: str, now: int) -> None:
    """Not when either name is empty (Talk's rule)."""
    if old and new and old != new:
        post_system(conn, out, room, author, "conversation_renamed", now=now,
                    text=f'{{actor}} renamed the conversation from "{old}" to "{new}"')


def user_change(conn, out, room: Room, author: Author, system_message: str, user_id: str, now: int) -> None:
    """user_added / user_removed / moderator_promoted / moderator_demoted. A user acting on itself
    reads "joined" / "left"."""
    text = None
    if author.actor_type == USERS and author.actor_id == user_id:
        text = {"user_added": "{actor} joined the conversation",
                "user_removed": "{actor} left the conversation"}.get(system_message)
    post_system(conn, out, room, author, system_message, now=now, text=text,
                parameters={"user": actor_reference(USERS, user_id)})


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def call_ended(conn, out, room: Room, author: Author, started_at: int | None, now: int) -> None:
    """The call summary of §8.4: who took part since the call started, and for how long."""
    members = chat_state.take_call_members(conn, room.id)
    duration = _duration(now - started_at) if started_at is not None else "0:00"
    if room.type == RoomType.ONE_TO_ONE:
        post_system(conn, out, room, author, "call_ended", now=now, text=f"Call ended (Duration {duration})")
        return
    users = [actor_id for kind, actor_id in members if kind == USERS]
    guests = sum(1 for kind, _ in members if kind != USERS)
    parameters: dict[str, Any] = {}
    items: list[str] = []
    for n, user_id in enumerate(users[:5 if len(users) + (1 if guests else 0) <= 5 else 4], start=1):
        parameters[f"user{n}"] = actor_reference(USERS, user_id)
        items.append(f"{{user{n}}}")
    rest = len(users) - len(items)
    if rest:
        items.append(f"{rest + guests} others")
    elif guests:
        items.append(f"{guests} guest" if guests == 1 else f"{guests} guests")
    if not items:
        text = f"Call ended (Duration {duration})"
    else:
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        text = f"Call with {listed} ended (Duration {duration})"
    post_system(conn, out, room, author, "call_ended", now=now, text=text, parameters=parameters)
