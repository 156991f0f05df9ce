"""Transient room data and the roster-based recipients (pure)."""
from __future__ import annotations

from signaling.roster import Member
from signaling.rules import roster_recipients
from signaling.transient import TransientData


def test_set_change_remove_and_silence_for_no_ops():
    data = TransientData()
    data.joined("room", "a")
    assert data.set("room", "k", 1) == {"type": "set", "key": "k", "value": 1}
    assert data.set("room", "k", 1) is None
    assert data.set("room", "k", [2]) == {"type": "set", "key": "k", "value": [2], "oldvalue": 1}
    assert data.remove("room", "missing") is None
    assert data.remove("room", "k") == {"type": "remove", "key": "k", "oldvalue": [2]}
    assert data.snapshot("room") == {}


def test_data_lives_while_sessions_are_in_the_room():
    data = TransientData()
    data.joined("room", "a")
    data.joined("room", "b")
    data.set("room", "k", "v")
    data.left("room", "a")
    assert data.snapshot("room") == {"k": "v"} and data.sessions("room") == ("b",)
    data.left("room", "b")
    assert data.snapshot("room") == {} and data.sessions("room") == ()
    assert data.set("other", "k", None) == {"type": "set", "key": "k", "value": None}


def test_user_and_call_recipients():
    people = [Member("s1", "alice", 0, True, 1), Member("s2", "alice", 0, False, 3),
              Member("s3", "bob", 0, True, 3), Member("s4", "", 0, True, 4)]
    assert roster_recipients("user", "s1", "alice", people) == ["s2"]
    assert roster_recipients("user", "s3", "alice", people) == ["s1", "s2"]
    assert roster_recipients("user", "s3", None, people) == []
    assert roster_recipients("call", "s1", None, people) == ["s3", "s4"]
