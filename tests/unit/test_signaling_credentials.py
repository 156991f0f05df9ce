"""Tickets and TURN REST credentials: pure functions, fixed vectors."""
from __future__ import annotations

import pytest

from signaling.ticket import MAX_AGE, InvalidTicket, make_ticket, verify_ticket
from signaling.turn import LIFETIME, credential, new_credentials

SECRET = b"server-secret"
NOW = 1_700_000_000


def test_turn_credential_matches_coturn_rest_vector():
    assert credential("secret", "1700000000:alice") == "d8soP47RbdIKLDUOpnJPVQyq5Ts="


def test_turn_username_is_expiry_and_random_name():
    username, password = new_credentials("secret", NOW)
    expiry, name = username.split(":")
    assert int(expiry) == NOW + LIFETIME and len(name) == 16 and name.isalnum()
    assert password == credential("secret", username)
    assert new_credentials("secret", NOW, "alice") == (f"{NOW + LIFETIME}:alice", credential("secret", f"{NOW + LIFETIME}:alice"))


def test_ticket_round_trip_for_user_and_guest():
    assert verify_ticket(SECRET, make_ticket(SECRET, "alice", NOW), NOW + 10) == "alice"
    assert verify_ticket(SECRET, make_ticket(SECRET, None, NOW), NOW) == ""


def test_ticket_shape_is_talks():
    ticket = make_ticket(SECRET, "alice", NOW, random="r" * 16)
    random, issued, user, signature = ticket.split(":")
    assert (random, issued, user) == ("r" * 16, str(NOW), "alice")
    assert len(signature) == 64 and int(signature, 16) >= 0


def test_user_ids_with_colons_survive():
    assert verify_ticket(SECRET, make_ticket(SECRET, "a:b", NOW), NOW) == "a:b"


# Stable ids (the tickets hold random nonces): xdist workers must collect the same test names.
@pytest.mark.parametrize("ticket, now, reason", [
    (make_ticket(b"other", "alice", NOW), NOW, "signature"),
    (make_ticket(SECRET, "alice", NOW).replace("alice", "mallory"), NOW, "signature"),
    (make_ticket(SECRET, "alice", NOW), NOW + MAX_AGE + 1, "expired"),
    (make_ticket(SECRET, "alice", NOW + 3600), NOW, "future"),
    ("no-colons", NOW, "malformed"),
    ("a:notanumber:b:c", NOW, "malformed"),
    (None, NOW, "string"),
], ids=["other-secret", "other-user", "expired", "future", "no-colons", "not-a-number", "none"])
def test_bad_tickets_are_refused_with_a_reason(ticket, now, reason):
    with pytest.raises(InvalidTicket, match=reason):
        verify_ticket(SECRET, ticket, now)
