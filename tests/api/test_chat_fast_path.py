"""The ASGI fast path for GET /chat/{token} (server/routes/chat_fast.py) answers byte for byte as the
Quart route does, takes only the requests it certainly can, and releases a parked poll whose client
went away."""
from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest
import trio

from ..support import PASSWORD
from .chat_steps import joined, send, wait_parked

API = "/apps/spreed/api/v1"


def _basic(user: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _raw(server, target: str, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 GET over a plain socket; the whole response with its Date header dropped."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some():
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


async def _both(server, target: str, headers: dict[str, str], *, fast: bool = True) -> bytes:
    """The response through the fast path (asserting it took the request when `fast`), then the same
    request through Quart; both must be identical."""
    middleware = server.app.chat_fast_path
    before = middleware.served
    via_fast = await _raw(server, target, headers)
    assert middleware.served == before + (1 if fast else 0)
    middleware.enabled = False
    try:
        via_quart = await _raw(server, target, headers)
    finally:
        middleware.enabled = True
    assert middleware.served == before + (1 if fast else 0)
    assert via_fast == via_quart
    return via_fast


@pytest.fixture
async def room(users, p1, p2):
    token = await p1.create_room(3, name="room")
    await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    await send(p1, token, "one")
    await send(p1, token, "two & <three>")
    await p2.rooms()   # participant2's credentials are now in the cache
    return token


OCS = {"OCS-APIRequest": "true"}
JSON = {**OCS, "Accept": "application/json"}


@pytest.mark.parametrize("v", [1, 2])
@pytest.mark.parametrize("query, accept", [
    ("", "application/json"), ("", "application/xml"), ("", None), ("format=json", "application/xml"),
    ("format=xml", "application/json"), ("format=yaml", "application/json"),
    ("lookIntoFuture=1&lastKnownMessageId=1&limit=5", "application/json"),
    ("limit=1&lastKnownMessageId=0&timeout=0&other=x", "application/json"),
])
async def test_history_and_future_reads_are_identical(users, room, v, query, accept):
    headers = {**OCS, "Authorization": _basic("participant2")}
    if accept:
        headers["Accept"] = accept
    response = await _both(users, f"/ocs/v{v}.php{API}/chat/{room}?{query}", headers)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b"x-chat-last-given: " in response


@pytest.mark.parametrize("v", [1, 2])
async def test_nothing_new_is_an_identical_304(users, room, v):
    last = (await users.actor("participant1").get(f"/chat/{room}", params={"lookIntoFuture": 0})).data[0]["id"]
    response = await _both(users, f"/ocs/v{v}.php{API}/chat/{room}?lookIntoFuture=1&lastKnownMessageId={last}"
                                  "&timeout=0", {**JSON, "Authorization": _basic("participant2")})
    assert response.startswith(b"HTTP/1.1 304 ") and response.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("v", [1, 2])
@pytest.mark.parametrize("accept", ["application/json", "application/xml"])
@pytest.mark.parametrize("query, status", [
    ("limit=abc", 400), ("timeout=1.5", 400), ("lookIntoFuture=yes", 400), ("lastKnownMessageId=", 200),
])
async def test_bad_parameters_are_identical(users, room, v, accept, query, status):
    response = await _both(users, f"/ocs/v{v}.php{API}/chat/{room}?{query}",
                           {**OCS, "Accept": accept, "Authorization": _basic("participant2")})
    assert response.startswith(f"HTTP/1.1 {status if v == 2 else 200} ".encode())


@pytest.mark.parametrize("v", [1, 2])
@pytest.mark.parametrize("accept", ["application/json", "application/xml"])
async def test_not_found_is_identical_for_strangers_guests_and_unknown_rooms(users, room, v, accept):
    await users.actor("participant3").rooms()
    for headers, token in [({"Authorization": _basic("participant3")}, room),
                           ({"Authorization": _basic("participant2")}, "nosuchroom"),
                           ({}, room)]:
        response = await _both(users, f"/ocs/v{v}.php{API}/chat/{token}", {**OCS, "Accept": accept, **headers})
        assert response.startswith(f"HTTP/1.1 {404 if v == 2 else 200} ".encode())


async def test_a_guest_with_its_session_cookie_reads_identically(users, p1):
    token = await p1.create_room(3, name="public")
    guest = users.actor("guest")
    await joined(guest, token)
    await send(guest, token, "from the guest")
    cookie = "; ".join(f"{name}={value}" for name, value in guest.client.cookies.items())
    response = await _both(users, f"/ocs/v2.php{API}/chat/{token}", {**JSON, "Cookie": cookie})
    assert response.startswith(b"HTTP/1.1 200 ") and b"from the guest" in response


@pytest.mark.parametrize("headers", [
    {"Accept": "application/json"},                                              # no OCS-APIRequest: 412
    {**JSON, "Authorization": _basic("participant2", "wrong")},                  # uncached, wrong: 401
    {**JSON, "Authorization": "Basic !!!"},                                      # malformed: 401
    {**JSON, "Authorization": "Bearer x"},                                       # not Basic: anonymous
    {**JSON, "Cookie": "parley_login=abc"},                                      # the web login cookie
    {**JSON, "Content-Type": "application/json"},                                # a body could follow
])
async def test_other_requests_go_to_quart_unchanged(users, room, headers):
    await _both(users, f"/ocs/v2.php{API}/chat/{room}", headers, fast=False)


async def test_uncached_credentials_go_to_quart_and_then_are_cached(users, room):
    users.ctx.passwords._cache.clear()
    target = f"/ocs/v2.php{API}/chat/{room}"
    headers = {**JSON, "Authorization": _basic("participant2")}
    before = users.app.chat_fast_path.served
    first = await _raw(users, target, headers)
    assert users.app.chat_fast_path.served == before
    assert first == await _both(users, target, headers)


async def test_repeated_query_keys_and_other_paths_go_to_quart(users, room):
    await _both(users, f"/ocs/v2.php{API}/chat/{room}?limit=1&limit=2",
                {**JSON, "Authorization": _basic("participant2")}, fast=False)
    await _both(users, f"/ocs/v2.php{API}/chat/{room}/mentions",
                {**JSON, "Authorization": _basic("participant2")}, fast=False)
    await _both(users, f"/ocs/v2.php{API}/chat/ABCD", {**JSON, "Authorization": _basic("participant2")},
                fast=False)


async def test_an_unexpected_error_is_logged_and_answered_with_the_ocs_500(users, room, monkeypatch, caplog):
    from server.routes import chat_fast

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(chat_fast, "receive_page", broken)
    monkeypatch.setattr("server.routes.chat.receive_page", broken)
    for v in (1, 2):
        response = await _both(users, f"/ocs/v{v}.php{API}/chat/{room}",
                               {**JSON, "Authorization": _basic("participant2")})
        assert response.startswith(f"HTTP/1.1 {500 if v == 2 else 200} ".encode())
        assert b'"statuscode":' + (b"500" if v == 2 else b"996") in response
    assert sum("unhandled error in GET" in r.getMessage() for r in caplog.records) == 4


async def test_a_parked_poll_is_released_when_its_client_goes_away(users, room):
    host, port = urlsplit(users.url).hostname, urlsplit(users.url).port
    before = users.app.chat_fast_path.served
    request = (f"GET /ocs/v2.php{API}/chat/{room}?lookIntoFuture=1&lastKnownMessageId=999999&timeout=60 HTTP/1.1\r\n"
               f"Host: {host}:{port}\r\nOCS-APIRequest: true\r\nAuthorization: {_basic('participant2')}\r\n\r\n")
    stream = await trio.open_tcp_stream(host, port)
    await stream.send_all(request.encode())
    await wait_parked(users, 1)
    assert users.app.chat_fast_path.served == before + 1
    await stream.aclose()
    await wait_parked(users, 0)
    # The server still answers, and the next message reaches a new poll as before.
    await send(users.actor("participant1"), room, "after")


async def test_a_failing_eligibility_check_hands_the_request_to_quart(users, room, monkeypatch):
    from server.routes import chat_fast

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(chat_fast, "parse_cookie", broken)
    await _both(users, f"/ocs/v2.php{API}/chat/{room}", {**JSON, "Cookie": "a=b",
                                                          "Authorization": _basic("participant2")}, fast=False)


async def test_an_unavailable_database_is_the_same_503_with_retry_after(users, room, monkeypatch):
    """PostgreSQL away or its backlog full (storage.db.DatabaseUnavailable) is a 503 the client
    retries, on the fast path as on Quart's, never the 500 of an unexpected error."""
    from server.routes import chat_fast
    from storage.db import DatabaseUnavailable

    async def unavailable(*args, **kwargs):
        raise DatabaseUnavailable("the database is overloaded; try again shortly")
    monkeypatch.setattr(chat_fast, "receive_page", unavailable)
    monkeypatch.setattr("server.routes.chat.receive_page", unavailable)
    for v in (1, 2):
        response = await _both(users, f"/ocs/v{v}.php{API}/chat/{room}",
                               {**JSON, "Authorization": _basic("participant2")})
        assert response.startswith(b"HTTP/1.1 503 "), response[:200]
        assert b"\r\nretry-after: 2\r\n" in response.lower()
        assert b'"statuscode":503' in response
