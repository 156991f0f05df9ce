"""Live state and its transports. Never imports `server/`: what it needs arrives as callables."""
from .events import Event, ParticipantsChanged, RoomChanged, RoomDeleted
from .hub import Hub, HubStatistics
from .presence import Presence

__all__ = ["Event", "Hub", "HubStatistics", "ParticipantsChanged", "Presence", "RoomChanged", "RoomDeleted"]
