"""Hub events: frozen, slotted records. Published only after the write they describe has committed."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParticipantsChanged:
    """Someone joined or left the room or the call, was removed, or a guest was renamed.
    Talk's `refresh-participant-list` trigger (§9.3)."""
    token: str
    room_id: int


@dataclass(frozen=True, slots=True)
class RoomChanged:
    """Name, type, password or call state changed."""
    token: str
    room_id: int


@dataclass(frozen=True, slots=True)
class RoomDeleted:
    token: str
    room_id: int


Event = ParticipantsChanged | RoomChanged | RoomDeleted
