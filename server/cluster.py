"""Joining a node to the cluster bus: wires the hub and the password cache to `signaling/bus.py`.

Imported only when `[cluster] redis_url` is set, so a single node never loads a Redis client.
"""
from __future__ import annotations

from typing import Any

from signaling.bus import Bus
from signaling.hub import Hub

from .domain.passwords import PasswordService


def attach(url: str, hub: Hub, passwords: PasswordService) -> Bus:
    """A bus carrying this node's hub events and auth-cache invalidations to every other node,
    and theirs to this hub. Start it with `nursery.start(bus.run)`."""
    def on_message(message: dict[str, Any]) -> None:
        if message.get("k") == "forget":
            passwords.forget_local(str(message["u"]))
        else:
            hub.apply_remote(message)

    bus = Bus(url, on_message, hub.resync)
    hub.relay = bus.post
    hub.barrier = bus.barrier   # a woken chat poll hears other nodes' earlier events first
    hub.mailboxes.relay = bus.post
    hub.presence.relay = bus.post   # every node sees every ping (count, lastPing, call peers, expiry)
    hub.mailboxes.new_id = bus.new_id
    hub.websockets.transient.relay = bus.post   # transient room data across nodes
    hub.websockets.relay = bus.post   # WebSocket resume on another node: claim and hand-over
    # Confirmed: the answer to a password change or a deletion waits until every node forgot.
    passwords.relay = lambda user_id: bus.post_confirmed({"k": "forget", "u": user_id})
    from .domain.shared_limits import SharedLimits   # the login limits every node shares
    passwords.shared = SharedLimits(bus, passwords.guard, passwords.throttle)
    return bus
