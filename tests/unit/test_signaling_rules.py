"""Who may signal whom: the routing table, with plain dicts for the live state."""
from __future__ import annotations

import pytest

from signaling.rules import UnsupportedRecipient, may_signal, recipients

ROOMS = {"a1": "room-a", "a2": "room-a", "a3": "room-a", "b1": "room-b"}


def route(kind, sender, target=None):
    return recipients(kind, sender, ROOMS.get(sender), target, ROOMS.get,
                      lambda room: [s for s, r in ROOMS.items() if r == room])


def test_session_message_reaches_a_peer_of_the_same_room():
    assert route("session", "a1", "a2") == ["a2"]


def test_session_message_never_crosses_rooms_or_reaches_unknown_sessions():
    assert route("session", "a1", "b1") == []
    assert route("session", "a1", "ghost") == []
    assert route("session", "a1", None) == []


def test_room_message_reaches_everyone_else_in_the_room():
    assert sorted(route("room", "a1")) == ["a2", "a3"]
    assert route("room", "b1") == []


def test_sender_outside_any_room_reaches_nobody():
    assert route("session", "nobody", "a1") == []


@pytest.mark.parametrize("kind", ["user", "call", "", None, 3])
def test_unknown_recipient_types_are_refused(kind):
    with pytest.raises(UnsupportedRecipient):
        route(kind, "a1", "a2")


def test_may_signal_needs_one_and_the_same_room():
    assert may_signal("r", "r")
    assert not may_signal("r", "s")
    assert not may_signal(None, None)
    assert not may_signal("r", None)
