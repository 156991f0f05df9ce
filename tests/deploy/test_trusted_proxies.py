"""`[server] trusted_proxies`: X-Forwarded-* and Forwarded are believed from a configured proxy
only. Through one, the throttle, cookies' `Secure` and the signaling URL follow the real client;
from any other peer the same headers, spoofed, change nothing."""
from __future__ import annotations

from contextlib import asynccontextmanager

from tests.signaling_helpers import settings
from tests.support import PASSWORD, add_background_users, serving
from tests.support import test_config as make_config

from .test_https import cookie_attributes

VIA_PROXY = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example.org"}


@asynccontextmanager
async def server_trusting(tmp_path, *proxies: str):
    async with serving(make_config(str(tmp_path), trusted_proxies=proxies)) as running:
        await add_background_users(running)
        yield running


async def _fail_until_throttled(server, user: str, headers_for_attempt) -> int:
    """Wrong passwords for `user` until the server answers 429; the attempts it took."""
    attacker = server.actor("attacker", user=user, password="wrong")
    for attempt in range(1, 41):
        r = await attacker.get("/room", headers=headers_for_attempt(attempt))
        if r.status == 429:
            return attempt
        assert r.status == 401, r.text
    raise AssertionError("40 wrong passwords and no 429")


async def test_through_a_trusted_proxy_urls_and_cookies_follow_the_client(tmp_path):
    async with server_trusting(tmp_path, "127.0.0.1") as server:
        p1 = server.actor("participant1")
        p1.client.headers.update(VIA_PROXY)
        assert (await settings(p1))["server"] == "wss://chat.example.org"
        login = await p1.post("/login", prefix="", user="participant1", password=PASSWORD)
        assert login.status == 200, login.text
        assert "secure" in cookie_attributes(login.headers, "parley_login")
        token = await p1.create_room(2, name="proxied")
        r = await p1.join(token)
        assert "secure" in cookie_attributes(r.headers, "parley_session")

        rfc = server.actor("participant2")
        rfc.client.headers["Forwarded"] = 'for="[2001:db8::7]:4711";proto=https;host="talk.example.net:8443"'
        assert (await settings(rfc))["server"] == "wss://talk.example.net:8443"

        plain = server.actor("participant3")   # the proxy itself, no forwarding headers
        assert (await settings(plain))["server"] == server.url.replace("http://", "ws://")


async def test_the_throttle_keys_on_the_real_client_behind_a_trusted_proxy(tmp_path):
    async with server_trusting(tmp_path, "127.0.0.0/8", "::1") as server:
        # The attacker also writes its own X-Forwarded-For entries; the proxy appends the real address.
        attempts = await _fail_until_throttled(
            server, "participant1", lambda n: {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.7"})
        assert attempts > 1
        attacker = server.actor("attacker-right-password", user="participant1")
        r = await attacker.get("/room", headers={"X-Forwarded-For": "203.0.113.7"})
        assert r.status == 429   # the attacker's address stays throttled, whatever it claims further left
        colleague = server.actor("participant1")   # the same account from another client: not locked out
        r = await colleague.get("/room", headers={"X-Forwarded-For": "203.0.113.99"})
        assert r.status == 200, r.text


async def test_spoofed_headers_from_an_untrusted_peer_change_nothing(tmp_path):
    async with server_trusting(tmp_path, "10.0.0.0/8", "192.0.2.1") as server:   # 127.0.0.1 is not a proxy
        p1 = server.actor("participant1")
        p1.client.headers.update(VIA_PROXY)
        p1.client.headers["Forwarded"] = "for=203.0.113.8;proto=https;host=evil.example"
        assert (await settings(p1))["server"] == server.url.replace("http://", "ws://")
        login = await p1.post("/login", prefix="", user="participant1", password=PASSWORD)
        assert login.status == 200, login.text
        assert "secure" not in cookie_attributes(login.headers, "parley_login")

        # A new spoofed address per attempt does not escape the throttle: it keys on the peer.
        await _fail_until_throttled(server, "participant2",
                                    lambda n: {"X-Forwarded-For": f"203.0.113.{n}", "Forwarded": f"for=198.51.100.{n}"})
        spoofer = server.actor("participant2")
        r = await spoofer.get("/room", headers={"X-Forwarded-For": "203.0.113.200"})
        assert r.status == 429


async def test_without_trusted_proxies_the_headers_are_ignored(tmp_path):
    async with serving(make_config(str(tmp_path))) as server:
        await add_background_users(server)
        p1 = server.actor("participant1")
        p1.client.headers.update(VIA_PROXY)
        assert (await settings(p1))["server"] == server.url.replace("http://", "ws://")
