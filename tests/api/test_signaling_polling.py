"""Internal (polling) signaling over real sockets: talk-api-v1.md §9.2-9.3 and decisions.md."""
from __future__ import annotations

import json

import trio

from ..signaling_helpers import envelope, joined, messages, offer, pull, send, users_in_room


async def test_pull_delivers_offer_with_server_stamped_from(p1, p2):
    token = await p1.create_room(3)
    s1, s2 = await joined(p1, token), await joined(p2, token)
    assert (await pull(p2, token)).status == 200   # first pull: the participant list, at once
    r = await send(p1, token, envelope(s1, {"to": s2, "from": "forged", "type": "offer", "payload": {}}))
    assert r.status == 200 and r.data == []
    reply = await pull(p2, token)
    assert reply.status == 200
    assert reply.data[0]["type"] == "message" and isinstance(reply.data[0]["data"], str)
    assert messages(reply) == [{"to": s2, "from": s1, "type": "offer", "payload": {}}]
    users = users_in_room(reply)
    assert {u["sessionId"] for u in users} == {s1, s2}
