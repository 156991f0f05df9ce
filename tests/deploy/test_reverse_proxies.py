"""The reverse-proxy round trips: a real nginx running contrib/nginx/parley.conf, and a real Caddy
running contrib/caddy/Caddyfile (TLS from a trustme certificate), in front of a real Parley trusting it. Through it: a chat long-poll woken by a post,
signaling polling send/pull, a wss:// WebSocket hello and room join; and Parley sees the client's
https (Secure cookies, wss:// in /signaling/settings), not the proxy's plain HTTP."""
from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from tests.api.chat_steps import newest, read, send, wait_parked
from tests.signaling_helpers import SignalingSocket, joined, messages, offer, pull, settings
from tests.support import add_background_users, serving
from tests.support import test_config as make_config

from .proxies import CADDYFILE, NGINX_CONF, require, running_caddy, running_nginx
from .test_https import cookie_attributes


async def round_trip(server, https_port: int, tls_files) -> str:
    """Chat long-poll, signaling polling, a wss:// WebSocket and the client's view of https, all
    through the proxy listening on `https_port`; returns the room token."""
    p1, p2 = server.actor("participant1"), server.actor("participant2")

    # Parley sees https: the signaling server is wss:// on the proxy's address, cookies are Secure.
    assert (await settings(p1))["server"] == f"wss://127.0.0.1:{https_port}"
    login = await p1.post("/login", prefix="", user="participant1", password="123456")
    assert login.status == 200, login.text
    assert "secure" in cookie_attributes(login.headers, "parley_login")
    token = await p1.create_room(2, invite="attendees1", name="through the proxy")   # participant2 is in it
    join = await p1.join(token)
    assert join.status == 200 and "secure" in cookie_attributes(join.headers, "parley_session")
    session1, session2 = join.data["sessionId"], await joined(p2, token)

    # A chat long-poll parked in Parley behind the proxy, woken by a post.
    got = {}
    start = await newest(p1, token)   # past the conversation_created system message

    async def poll() -> None:
        got["reply"] = await read(p2, token, lookIntoFuture=1, timeout=30, lastKnownMessageId=start)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await wait_parked(server, 1)
        await send(p1, token, "through the proxy")
    assert got["reply"].status == 200, got["reply"].text
    assert [m["message"] for m in got["reply"].data] == ["through the proxy"]

    # Signaling polling: a pull parked behind the proxy gets the offer sent meanwhile.
    pulled = {}

    async def pull_offer() -> None:
        with trio.fail_after(20):
            while "offers" not in pulled:
                found = [m for m in messages(await pull(p2, token)) if m.get("type") == "offer"]
                if found:
                    pulled["offers"] = found
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pull_offer)
        r = await offer(p1, token, session1, session2)
        assert r.status == 200, r.text
    assert pulled["offers"][0]["from"] == session1

    # The WebSocket upgrade through the proxy (wss://…/spreed): hello, then the room join.
    ticket = (await settings(p2))["ticket"]
    async with open_websocket_url(f"wss://127.0.0.1:{https_port}/spreed",
                                  ssl_context=tls_files.client_context()) as ws:
        sock = SignalingSocket(ws)
        hello = await sock.hello("participant2", ticket)
        assert hello["type"] == "hello", hello
        room = await sock.join_room(token, session2)
        assert room["type"] == "room" and room["room"]["roomid"] == token, room

    # A client's own X-Forwarded-For cannot pick its address through the proxy: the edge replaces it.
    spoofer = server.actor("spoofer", user="participant3", password="wrong")
    for n in range(1, 41):
        r = await spoofer.get("/room", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        if r.status == 429:
            break
        assert r.status == 401, r.text
    assert r.status == 429

    return token


async def test_chat_signaling_and_websocket_through_nginx(tmp_path, tls_files):
    config = make_config(str(tmp_path / "data"), trusted_proxies=("127.0.0.1",))
    async with serving(config) as direct:
        await add_background_users(direct)
        parley_port = int(direct.url.rsplit(":", 1)[1])
        async with running_nginx(tmp_path / "nginx", parley_port, tls_files.cert, tls_files.key) as (https_port, http_port):
            server = replace(direct, url=f"https://127.0.0.1:{https_port}", ssl_context=tls_files.client_context(),
                             actors=direct.actors)
            token = await round_trip(server, https_port, tls_files)

            # Plain HTTP on nginx's port 80 server block: a redirect to https.
            async with httpx.AsyncClient() as client:
                r = await client.get(f"http://127.0.0.1:{http_port}/call/{token}")
            assert r.status_code == 308 and r.headers["location"].startswith("https://127.0.0.1")


async def test_chat_signaling_and_websocket_through_caddy(tmp_path, tls_files):
    config = make_config(str(tmp_path / "data"), trusted_proxies=("127.0.0.1",))
    async with serving(config) as direct:
        await add_background_users(direct)
        parley_port = int(direct.url.rsplit(":", 1)[1])
        async with running_caddy(tmp_path / "caddy", parley_port, tls_files.cert, tls_files.key) as https_port:
            server = replace(direct, url=f"https://127.0.0.1:{https_port}", ssl_context=tls_files.client_context(),
                             actors=direct.actors)
            await round_trip(server, https_port, tls_files)


def test_nginx_timeouts_outlast_the_longest_long_poll():
    text = NGINX_CONF.read_text()
    timeouts = re.findall(r"proxy_read_timeout\s+(\d+)(s|m|h)?;", text)
    seconds = [int(n) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit] for n, unit in timeouts]
    assert seconds and min(seconds) > 60   # chat long-polls wait up to 60 s
    assert re.search(r"^\s*proxy_buffering off;", text, re.M)


def test_caddyfile_validates(tmp_path):
    caddy = require("caddy", "caddy")
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([caddy, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
                        capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "Caddyfile"
    broken.write_text(CADDYFILE.read_text().replace("flush_interval -1", "flush_interval soon"))
    bad = subprocess.run([caddy, "validate", "--config", str(broken), "--adapter", "caddyfile"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode != 0   # the check can fail
