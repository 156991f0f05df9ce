"""Guest names (talk-api-v1.md §7): one name per guest session, shown in participant lists and as the
author of the guest's chat messages, old ones included."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from signaling.events import ParticipantsChanged
from signaling.hub import Hub
from storage import rooms as rooms_db
from storage.records import Room

from . import access
from .chat_render import GUESTS, actor_renamed
from .context import Actor, Ctx
from .errors import BadParameter, NotAGuest, SessionNotFound
from .ids import guest_actor_id

MAX_GUEST_NAME = 64
# PHP's trim(): the reference trims exactly these, not every Unicode space.
TRIMMED = " \t\n\r\0\x0b"


def valid_guest_name(name: str, param: str) -> str:
    """Trimmed; at most 64 characters (the reference's column size; it crashed beyond)."""
    name = name.strip(TRIMMED)
    if len(name) > MAX_GUEST_NAME:
        raise BadParameter(f"{param} must be at most {MAX_GUEST_NAME} characters")
    return name


@dataclass(frozen=True, slots=True)
class Renamed:
    token: str
    room_id: int
    actor_id: str
    name: str


def store_guest_name(conn: sqlite3.Connection, room: Room, session_id: str, name: str) -> Renamed | None:
    """Inside a unit of work: upsert the name of the guest holding `session_id`. Returns what
    `publish_rename` needs after the commit, or None if the name did not change."""
    actor_id = guest_actor_id(session_id)
    if not rooms_db.set_guest_name(conn, actor_id, name):
        return None
    return Renamed(room.token, room.id, actor_id, name)


def publish_rename(hub: Hub, renamed: Renamed | None) -> None:
    """After the commit: fresh names in the chat ring, then Talk's `refresh-participant-list`."""
    if renamed is not None:
        actor_renamed(hub, GUESTS, renamed.actor_id, renamed.name, token=renamed.token)
        hub.publish(ParticipantsChanged(renamed.token, renamed.room_id))


async def set_guest_name(ctx: Ctx, actor: Actor, token: str, display_name: str | None) -> None:
    """POST /guest/{token}/name. 403 for logged-in users, 404 without a live guest session in the
    room (L3), then 400 for a missing or too long name. Publishes ParticipantsChanged only if the
    name changed."""
    if actor.user_id is not None:
        raise NotAGuest()

    def unit(conn: sqlite3.Connection) -> Renamed | None:
        session = access.session_room(conn, actor, token)
        if session is None or session.participant.session_id is None:
            raise SessionNotFound()
        if display_name is None:
            raise BadParameter("displayName is required")
        name = valid_guest_name(display_name, "displayName")
        return store_guest_name(conn, session.room, session.participant.session_id, name)
    await ctx.db.run(unit, after_commit=lambda renamed: publish_rename(ctx.hub, renamed))
