"""GET /signaling/settings: STUN/TURN entries, TURN REST credentials, the ticket, the WebSocket URL."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from server.config import TurnServer
from signaling.ticket import verify_ticket

from ..signaling_helpers import custom_server, settings


async def test_settings_are_public_with_stun_url_and_urls(guest, users):
    data = await settings(guest)
    assert data["stunservers"] == [{"url": "stun:stun.nextcloud.com:443", "urls": "stun:stun.nextcloud.com:443"}]
    assert data["turnservers"] == []
    assert data["server"] == users.url.replace("http://", "ws://")     # websocket = true by default


async def test_ticket_is_signed_with_the_server_secret_for_the_caller(p1, guest, users):
    now = int(time.time())
    user_ticket = (await settings(p1))["ticket"]
    guest_ticket = (await settings(guest))["ticket"]
    random, issued, user_id, signature = user_ticket.split(":")
    assert len(random) == 16 and abs(int(issued) - now) < 5 and user_id == "participant1" and len(signature) == 64
    assert verify_ticket(users.ctx.secret, user_ticket, now) == "participant1"
    assert verify_ticket(users.ctx.secret, guest_ticket, now) == ""
    assert guest_ticket.split(":")[2] == ""


async def test_turn_entries_per_protocol_with_rest_credentials(tmp_path):
    turn = (TurnServer("turn.example.org:3478", "s3cret", ("udp", "tcp")),)
    async with custom_server(tmp_path, turn_servers=turn, stun_servers=("a:1", "b:2")) as server:
        data = await settings(server.actor("participant1"))
    assert len(data["stunservers"]) == 1 and data["stunservers"][0]["url"] in ("stun:a:1", "stun:b:2")
    udp, tcp = data["turnservers"]
    assert udp["url"] == udp["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    assert tcp["urls"] == ["turn:turn.example.org:3478?transport=tcp"]
    expiry, name = udp["username"].split(":")
    assert abs(int(expiry) - (time.time() + 86400)) < 60 and len(name) == 16   # a day ahead, give or take a loaded machine
    expected = base64.b64encode(hmac.new(b"s3cret", udp["username"].encode(), hashlib.sha1).digest()).decode()
    assert udp["credential"] == expected == tcp["credential"]


async def test_no_websocket_url_when_disabled(tmp_path):
    async with custom_server(tmp_path, websocket=False) as server:
        data = await settings(server.actor("participant1"))
    assert data["server"] == ""


async def test_websocket_url_follows_public_url(tmp_path):
    async with custom_server(tmp_path, public_url="https://talk.example.org/parley/") as server:
        data = await settings(server.actor("guest"))
    assert data["server"] == "wss://talk.example.org/parley"


async def test_settings_answer_v1_and_xml(p1):
    r = await p1.get("/signaling/settings", v=1)
    assert r.status == 200 and r.body["ocs"]["meta"]["statuscode"] == 100
    r = await p1.get("/signaling/settings", headers={"Accept": "application/xml"})
    assert r.status == 200 and "<stunservers>" in r.text
