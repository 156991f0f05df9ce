"""systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram per state change.

With `Type=notify` systemd passes `NOTIFY_SOCKET`, the path of a unix datagram socket (a leading
`@` means the Linux abstract namespace), and waits for `READY=1` before it counts the service as
started; `STOPPING=1` tells it a stop is under way. Without the variable every call is a no-op,
so `parley serve` behaves the same outside systemd.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("parley")
ENV = "NOTIFY_SOCKET"


def _address(raw: str) -> str | None:
    if raw.startswith("@"):
        return "\0" + raw[1:]     # abstract namespace
    if raw.startswith("/"):
        return raw
    return None                   # e.g. vsock:…, which Parley does not speak


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to $NOTIFY_SOCKET. True if it was sent. Never raises: a
    failed notification must not take the server down (systemd then times the start out)."""
    raw = os.environ.get(ENV, "")
    if not raw:
        return False
    address = _address(raw)
    if address is None:
        log.warning("%s=%r is not a unix socket path; not notifying systemd", ENV, raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), address)
        return True
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", raw, exc)
        return False
