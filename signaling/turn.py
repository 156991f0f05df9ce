"""TURN REST credentials, the scheme coturn checks with `use-auth-secret` (signaling.md §5).

username = "<expiry unix time>:<name>", credential = base64(HMAC-SHA1(shared secret, username)).
coturn refuses a username whose expiry has passed; an allocation made before keeps working.
Pure: no trio, no I/O.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

LIFETIME = 24 * 3600   # Talk's fixed 24 h
_ALPHABET = string.ascii_letters + string.digits


def credential(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def new_credentials(secret: str, now: int, name: str | None = None) -> tuple[str, str]:
    """(username, credential) valid until now + LIFETIME. `name` defaults to 16 random characters
    (Talk 4's choice: the TURN server's logs then reveal nothing about who called)."""
    name = name if name is not None else "".join(secrets.choice(_ALPHABET) for _ in range(16))
    username = f"{int(now) + LIFETIME}:{name}"
    return username, credential(secret, username)
