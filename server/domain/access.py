"""Who may see and do what. Every lookup rule of talk-api-v1.md §3 lives here, once.

All functions are synchronous and take a connection: they run inside an action's unit of work.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage import rooms as rooms_db
from storage.records import Participant, ParticipantType, Room, RoomType, SessionId

from .context import Actor
from .errors import NotLoggedIn, NotModerator, RoomNotFound, SessionNotFound


def require_user(actor: Actor) -> str:
    if actor.user_id is None:
        raise NotLoggedIn()
    return actor.user_id


def visible_room(conn: sqlite3.Connection, actor: Actor, token: str) -> Room:
    """L1: public rooms are visible to anyone; other rooms only to users with a participant row.
    The same RoomNotFound for missing and hidden rooms."""
    return _visible_room_and_row(conn, actor, token)[0]


def _visible_room_and_row(conn: sqlite3.Connection, actor: Actor, token: str) -> tuple[Room, Participant | None]:
    """`visible_room`, with the user's participant row (None for guests and non-members)."""
    if actor.user_id is None:
        room, row = rooms_db.room_by_token(conn, token), None
    else:
        room, row = rooms_db.room_and_user_row(conn, token, actor.user_id)
    if room is None:
        raise RoomNotFound()
    if room.type == RoomType.PUBLIC or row is not None:
        return room, row
    raise RoomNotFound()


def cookie_session(conn: sqlite3.Connection, actor: Actor, token: str) -> SessionId | None:
    if actor.cookie_hash is None:
        return None
    return rooms_db.cookie_session(conn, actor.cookie_hash, token)


def own_participant(conn: sqlite3.Connection, actor: Actor, room: Room) -> Participant | None:
    """L2: a user's row in the room, or the guest row of the caller's cookie session."""
    if actor.user_id is not None:
        return rooms_db.participant_of_user(conn, room.id, actor.user_id)
    session = cookie_session(conn, actor, room.token)
    if session is None:
        return None
    row = rooms_db.participant_by_session(conn, session)
    return row if row is not None and row.room_id == room.id and row.is_guest else None


def participant_or_view(conn: sqlite3.Connection, actor: Actor, room: Room) -> Participant | None:
    """For GET /room/{token}: the user's row first, then the row of the cookie session."""
    row = own_participant(conn, actor, room)
    if row is not None:
        return row
    session = cookie_session(conn, actor, room.token)
    if session is None:
        return None
    row = rooms_db.participant_by_session(conn, session)
    return row if row is not None and row.room_id == room.id else None


def moderated_room(conn: sqlite3.Connection, actor: Actor, token: str) -> tuple[Room, Participant]:
    """404 (not visible, or no row) before 403 (not a moderator), as Talk orders them."""
    require_user(actor)
    room, me = _visible_room_and_row(conn, actor, token)   # a user: `me` is its own row
    if me is None:
        raise RoomNotFound()
    if not me.type.is_moderator:
        raise NotModerator()
    return room, me


def member_room(conn: sqlite3.Connection, actor: Actor, token: str) -> tuple[Room, Participant]:
    """A room where the logged-in caller has a row of any type."""
    require_user(actor)
    room = visible_room(conn, actor, token)
    me = own_participant(conn, actor, room)
    if me is None:
        raise RoomNotFound()
    return room, me


@dataclass(frozen=True, slots=True)
class SessionAccess:
    room: Room
    participant: Participant


def session_room(conn: sqlite3.Connection, actor: Actor, token: str) -> SessionAccess | None:
    """L3: the room of the caller's live session for this token, or None."""
    if actor.cookie_hash is None:
        return None
    found = rooms_db.cookie_session_row(conn, actor.cookie_hash, token)
    return _session_access(*found, token, actor.user_id) if found is not None else None


def session_in_room(conn: sqlite3.Connection, session_id: str, token: str, user_id: str | None
                    ) -> SessionAccess | None:
    """L3 for a known session id: its row, its owner and its room must all match, and guests and
    self-joined users only count in public rooms."""
    row = rooms_db.participant_by_session(conn, session_id)
    if row is None:
        return None
    room = rooms_db.room_by_id(conn, row.room_id)
    return _session_access(room, row, token, user_id) if room is not None else None


def _session_access(room: Room, row: Participant, token: str, user_id: str | None) -> SessionAccess | None:
    if row.user_id != user_id or room.token != token:
        return None
    if room.type != RoomType.PUBLIC and row.type in (ParticipantType.GUEST, ParticipantType.USER_SELF_JOINED):
        return None
    return SessionAccess(room, row)


def chat_room(conn: sqlite3.Connection, actor: Actor, token: str) -> tuple[Room, Participant]:
    """L4 (chat, mentions, call peers): the session's room, or for users any room they belong to."""
    access = session_room(conn, actor, token)
    if access is not None:
        return access.room, access.participant
    if actor.user_id is None:
        raise RoomNotFound()
    room, me = _visible_room_and_row(conn, actor, token)
    if me is None:
        raise RoomNotFound()
    return room, me


def require_session(conn: sqlite3.Connection, actor: Actor, token: str) -> SessionAccess:
    access = session_room(conn, actor, token)
    if access is None:
        raise SessionNotFound()
    return access
