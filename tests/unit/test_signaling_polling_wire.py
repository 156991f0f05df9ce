"""The polling wire format: parsing `messages` and choosing what may be relayed."""
from __future__ import annotations

import json

import pytest

from signaling.polling import MalformedMessages, outgoing, parse_messages


def env(session, payload):
    return {"ev": "message", "fn": json.dumps(payload), "sessionId": session}


@pytest.mark.parametrize("raw", [None, "not json", "{}", "3", {"a": 1}, 7])
def test_malformed_messages(raw):
    with pytest.raises(MalformedMessages):
        parse_messages(raw)


def test_messages_as_string_or_list():
    assert parse_messages('[{"ev":"connect"}]') == [{"ev": "connect"}]
    assert parse_messages([{"ev": "connect"}]) == [{"ev": "connect"}]


def test_outgoing_keeps_only_relayable_messages_and_stamps_from():
    batch = [{"ev": "connect"}, env("me", {"to": "peer", "from": "forged"}), env("someone-else", {"to": "peer"}),
             env("me", {"no": "to"}), env("me", {"to": ""}), {"ev": "message", "fn": {"to": "peer"}, "sessionId": "me"},
             {"ev": "message", "fn": "[1]", "sessionId": "me"}, 5]
    result = outgoing(batch, "me")
    assert [(m.to, m.payload) for m in result] == [("peer", {"to": "peer", "from": "me"})]
