"""Rows, persisted enums and id types. Stdlib only: every layer may import this module."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

RoomToken = NewType("RoomToken", str)
SessionId = NewType("SessionId", str)   # the 255-character Talk session id
UserId = NewType("UserId", str)

NO_SESSION = "0"  # how the API spells "no session"


class RoomType(enum.IntEnum):
    ONE_TO_ONE = 1
    GROUP = 2
    PUBLIC = 3


class ParticipantType(enum.IntEnum):
    OWNER = 1
    MODERATOR = 2
    USER = 3
    GUEST = 4
    USER_SELF_JOINED = 5

    @property
    def is_moderator(self) -> bool:
        return self in (ParticipantType.OWNER, ParticipantType.MODERATOR)

    @property
    def is_invited_user(self) -> bool:
        return self in (ParticipantType.OWNER, ParticipantType.MODERATOR, ParticipantType.USER)


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    display_name: str
    password_hash: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    token: RoomToken
    type: RoomType
    name: str
    password_hash: str
    active_since: int | None
    active_guests: int
    last_message_id: int          # the newest entry of any kind: orders posts, bounds polls
    last_relevant_id: int = 0     # the room's lastMessage (0: none); see chat_post.post_message

    @property
    def has_password(self) -> bool:
        return self.password_hash != ""

    @property
    def has_call(self) -> bool:
        return self.active_since is not None


@dataclass(frozen=True, slots=True)
class Participant:
    id: int
    room_id: int
    user_id: UserId | None          # None for guests
    type: ParticipantType
    session_id: SessionId | None    # None = no live session
    last_ping: int
    in_call: bool

    @property
    def is_guest(self) -> bool:
        return self.user_id is None

    @property
    def api_session_id(self) -> str:
        return self.session_id or NO_SESSION
