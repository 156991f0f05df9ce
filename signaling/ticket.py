"""Signaling tickets: the server's signed word that a WebSocket `hello` speaks for a user.

Format (Talk's): ``<random16>:<unix time>:<user id or empty>:<hex HMAC-SHA256(secret, first three parts)>``.
Talk signs with a per-user secret and never checks the age (a TODO in its code). Parley signs with
the server secret and refuses tickets older than `MAX_AGE` or dated in the future, so a leaked
ticket stops working by itself. A ticket alone grants little anyway: joining a room over the
WebSocket also needs a Talk session id of that room held by the same user.

Pure: no trio, no I/O. `now` is passed in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string

MAX_AGE = 24 * 3600          # as long as the TURN credentials handed out with it
CLOCK_SKEW = 60              # tolerated seconds "from the future"
RANDOM_LENGTH = 16
_ALPHABET = string.ascii_letters + string.digits


class InvalidTicket(ValueError):
    """Raised when a ticket is malformed, forged, expired or issued for another user."""


def _signature(secret: bytes, unsigned: str) -> str:
    return hmac.new(secret, unsigned.encode(), hashlib.sha256).hexdigest()


def make_ticket(secret: bytes, user_id: str | None, now: int, random: str | None = None) -> str:
    random = random if random is not None else "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_LENGTH))
    unsigned = f"{random}:{int(now)}:{user_id or ''}"
    return f"{unsigned}:{_signature(secret, unsigned)}"


def verify_ticket(secret: bytes, ticket: object, now: int, *, max_age: int = MAX_AGE) -> str:
    """The user id the ticket was issued to ('' for a guest), or InvalidTicket saying why not."""
    if not isinstance(ticket, str) or len(ticket) > 1024:
        raise InvalidTicket("the ticket must be the string from /signaling/settings")
    random, sep1, rest = ticket.partition(":")
    issued, sep2, rest = rest.partition(":")
    user_id, sep3, signature = rest.rpartition(":")   # user ids may contain ':'; the signature cannot
    if not (sep1 and sep2 and sep3) or not issued.isdigit():
        raise InvalidTicket("the ticket is malformed")
    expected = _signature(secret, f"{random}:{issued}:{user_id}")
    if not hmac.compare_digest(expected, signature):
        raise InvalidTicket("the ticket signature does not match")
    age = now - int(issued)
    if age > max_age:
        raise InvalidTicket("the ticket has expired; fetch /signaling/settings again")
    if age < -CLOCK_SKEW:
        raise InvalidTicket("the ticket is dated in the future")
    return user_id
