"""The room object of talk-api-v1.md §4.3, built inside a unit of work. What it needs from storage
is gathered for all listed rooms at once (`gather`): participants, their names, the reading state
(unread count, mention flag, markers) and `lastMessage` (talk-chat-later.md §7.3) cost the same few
statements for a list of 200 rooms as for one room. On PostgreSQL every statement is a round trip
to another process, so a per-room query was the room list's main cost there."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from signaling.presence import Presence
from storage import accounts as accounts_db
from storage import chat_state
from storage import messages as messages_db
from storage import rooms as rooms_db
from storage.records import NO_SESSION, Participant, ParticipantType, Room, RoomType

from .read_markers import NEVER_SET
from .chat_render import render_last_messages
from .context import Actor


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def last_messages(conn: sqlite3.Connection, rooms: list[Room]) -> dict[int, dict[str, Any]]:
    """Room id → its `lastMessage`, for any number of rooms in four queries (the rows by primary
    key through `rooms.last_relevant_id`, then names and reaction counts): no history is searched,
    and the room list costs no query per room for it. Rooms without one are left out."""
    by_id = {room.last_relevant_id: room for room in rooms if room.last_relevant_id}
    stored = messages_db.by_ids(conn, sorted(by_id))
    pairs = [(by_id[message_id], m) for message_id, m in sorted(stored.items())]
    rendered = render_last_messages(conn, [(room.token, m) for room, m in pairs])
    return {room.id: message for (room, _), message in zip(pairs, rendered)}


@dataclass(frozen=True, slots=True)
class RoomFacts:
    """What `room_object` reads from storage, for every room of a list (see `gather`)."""
    participants: dict[int, list[Participant]]
    names: dict[str, str]                       # display names of the users among them
    reading: dict[int, chat_state.ReadState]
    last: dict[int, dict[str, Any]]             # lastMessage, for the rooms that have one


def gather(conn: sqlite3.Connection, rooms: list[Room], user_id: str | None) -> RoomFacts:
    """Everything the room objects of `rooms` need, as seen by `user_id` (None: a guest)."""
    ids = [room.id for room in rooms]
    participants = rooms_db.participants_of_rooms(conn, ids)
    users = sorted({p.user_id for rows in participants.values() for p in rows if p.user_id is not None})
    return RoomFacts(participants, accounts_db.display_names(conn, users),
                     chat_state.read_states(conn, user_id, [(room.id, room.last_message_id) for room in rooms]),
                     last_messages(conn, rooms))


def room_object(room: Room, me: Participant | None, actor: Actor, presence: Presence, now: int,
                active_window: int, guest_window: int, facts: RoomFacts) -> dict[str, Any]:
    """`facts` from `gather` over a list holding `room`."""
    if me is None:
        return reduced_room_object(room)
    rows = facts.participants[room.id]
    names = facts.names
    last_ping = {p.id: presence.effective(p.session_id, p.last_ping) for p in rows}
    users = sorted((p for p in rows if not p.is_guest), key=lambda p: -last_ping[p.id])
    users = [p for p in users if p.user_id in names]
    participants_map = {p.user_id: {"name": names[p.user_id], "type": int(p.type), "call": p.in_call}
                        for p in users}
    count = sum(1 for p in rows if last_ping[p.id] > now - active_window)
    num_guests = sum(1 for p in rows if p.is_guest and last_ping[p.id] > now - guest_window)

    name, display_name, guest_list = room.name, room.name, ""
    if room.type == RoomType.ONE_TO_ONE:
        others = [p for p in users if p.user_id != actor.user_id]
        if len(others) == 1:
            name, display_name = others[0].user_id, names[others[0].user_id]
    elif not room.name:
        parts = [names[p.user_id] for p in users if p.user_id != actor.user_id]  # type: ignore[index]
        if actor.user_id is not None and not parts:
            parts = ["You"]
        elif actor.user_id is None:
            parts.append("You")
        if room.type == RoomType.PUBLIC:
            if actor.user_id is None:
                n = max(num_guests - 1, 0)
                guest_list = _plural(n, "other guest", "other guests") if n else ""
            else:
                guest_list = _plural(num_guests, "guest", "guests") if num_guests else ""
            if guest_list:
                parts.append(guest_list)
        display_name = ", ".join(parts)

    reading = facts.reading[room.id]
    last_message = facts.last.get(room.id)
    return {
        "id": room.id,
        "token": room.token,
        "type": int(room.type),
        "name": name,
        "displayName": display_name,
        "participantType": int(me.type),
        "participantInCall": me.in_call,
        "count": count,
        "hasPassword": room.has_password,
        "hasCall": room.has_call,
        "unreadMessages": reading.unread,
        "lastPing": last_ping[me.id] if me.id in last_ping else me.last_ping,
        "sessionId": me.api_session_id,
        "participants": participants_map or [],
        "numGuests": num_guests,
        "guestList": guest_list,
        "lastReadMessage": 0 if actor.user_id is None else NEVER_SET if reading.marker is None else reading.marker,
        "unreadMention": reading.mentioned,
        "unreadMentionDirect": reading.mentioned,
        "lastCommonReadMessage": reading.common_read,
        "lastMessage": last_message if last_message is not None else [],   # Talk: [] when none
    }


def reduced_room_object(room: Room) -> dict[str, Any]:
    """What a non-participant of a public room sees (Talk reports participantType 4 here)."""
    return {
        "id": room.id,
        "token": room.token,
        "type": int(room.type),
        "name": room.name,
        "displayName": room.name,
        "participantType": int(ParticipantType.GUEST),
        "participantInCall": False,
        "count": 0,
        "hasPassword": room.has_password,
        "hasCall": False,
        "unreadMessages": 0,
        "lastPing": 0,
        "sessionId": NO_SESSION,
        "participants": [],
        "numGuests": 0,
        "guestList": "",
        "lastReadMessage": 0,
        "unreadMention": False,
        "unreadMentionDirect": False,
        "lastCommonReadMessage": 0,
        "lastMessage": [],   # a non-participant reads no chat
    }
