"""Cross-node behaviour over a real Redis: two nodes, one data dir, requests split between them."""
from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import trio

from server.cluster import attach
from server.domain.passwords import PasswordService
from signaling.hub import Hub
from storage.records import User

from ..api.chat_steps import newest
from ..signaling_helpers import joined, messages, offer, pull
from ..support import PASSWORD

OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}
USER_PATH = "/ocs/v2.php/cloud/user"


async def wait_until(condition, seconds: float = 10) -> None:
    with trio.fail_after(seconds):
        while not condition():
            await trio.sleep(0.01)


async def test_single_node_never_imports_a_redis_client():
    code = ("import sys; from server.app import create_app; from server.config import Config; "
            "create_app(Config()); import server.cli; print('coredis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_long_poll_on_a_is_woken_by_a_post_on_b(nodes):
    a, b = nodes
    p1a, p2b = a.actor("participant1"), b.actor("participant2")
    token = await p1a.create_room(1, invite="participant2")
    start = await newest(p1a, token)   # past the room's system messages
    got = {}

    async def poller():
        got["r"] = await p1a.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                            "lastKnownMessageId": start})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller)
            await wait_until(lambda: a.ctx.hub.chat.waiting() == 1)
            r = await p2b.post(f"/chat/{token}", message="across nodes")
            assert r.status == 201, r.text
    assert got["r"].status == 200
    assert [m["message"] for m in got["r"].data] == ["across nodes"]


async def test_signaling_pull_on_a_gets_what_a_peer_sent_through_b(nodes):
    a, b = nodes
    p1a, p2a, p1b = a.actor("participant1"), a.actor("participant2"), b.actor("participant1")
    token = await p1a.create_room(3)
    s1, s2 = await joined(p1a, token), await joined(p2a, token)
    p1b.client.cookies = p1a.client.cookies   # the same browser, its request sent to node B
    await pull(p2a, token)
    got = {}

    async def receiver():
        got["r"] = await pull(p2a, token)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            await wait_until(lambda: a.ctx.hub.mailboxes.pulls_waiting() == 1)
            await offer(p1b, token, s1, s2)
    assert [m["type"] for m in messages(got["r"])] == ["offer"]
    # Handed out on A: B's copy is dropped, so a pull on B does not repeat it.
    await wait_until(lambda: not b.ctx.hub.mailboxes.get(s2).queue)
    p2b = b.actor("participant2")
    p2b.client.cookies = p2a.client.cookies
    assert messages(await pull(p2b, token)) == []


async def test_auth_cache_invalidation_reaches_the_other_node(redis):
    user = User(id="alice", display_name="Alice", password_hash="", is_admin=False)
    services = [PasswordService(60), PasswordService(60)]
    buses = [attach(redis.url, Hub(), s) for s in services]
    async with trio.open_nursery() as nursery:
        for bus in buses:
            await nursery.start(bus.run)
        services[1].remember(user, "old", services[1].generation("alice"))
        assert services[1].cached_user("alice", "old") == user
        services[0].forget_user("alice")          # the password changed on node 0
        await wait_until(lambda: services[1].cached_user("alice", "old") is None)
        nursery.cancel_scope.cancel()


async def test_parked_poll_gets_its_message_across_a_redis_restart(nodes, redis):
    a, b = nodes
    p1a, p2b = a.actor("participant1"), b.actor("participant2")
    token = await p1a.create_room(1, invite="participant2")
    start = await newest(p1a, token)
    got: list[str] = []

    async def poller():
        # A client's loop: a resync may answer a parked poll early (304); it simply polls again.
        while not got:
            r = await p1a.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                         "lastKnownMessageId": start})
            got.extend(m["message"] for m in (r.data if r.status == 200 else []))
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller)
            await wait_until(lambda: a.ctx.hub.chat.waiting() == 1)
            redis.stop()
            r = await p2b.post(f"/chat/{token}", message="while redis was down")
            assert r.status == 201
            await redis.start()
            await wait_until(lambda: a.ctx.bus.resyncs >= 1 and b.ctx.bus.resyncs >= 1, 20)
    assert got == ["while redis was down"]


async def test_cli_password_change_reaches_running_nodes_over_the_bus(redis, tmp_path):
    service = PasswordService(60)   # no marker file: only the bus can tell this cache
    bus = attach(redis.url, Hub(), service)
    user = User(id="bob", display_name="Bob", password_hash="", is_admin=False)
    cli = [sys.executable, "-m", "server", "user"]
    data = ["--data-dir", str(tmp_path / "data")]
    async with trio.open_nursery() as nursery:
        await nursery.start(bus.run)
        await trio.run_process(cli + ["add", "bob", "--password", "first"] + data, capture_stdout=True)
        service.remember(user, "first", service.generation("bob"))
        assert service.cached_user("bob", "first") == user
        done = await trio.run_process(cli + ["passwd", "bob", "--password", "second", "--redis-url", redis.url]
                                      + data, capture_stdout=True, capture_stderr=True)
        assert b"changed" in done.stdout and b"warning" not in done.stderr
        await wait_until(lambda: service.cached_user("bob", "first") is None)
        nursery.cancel_scope.cancel()


async def test_an_edit_on_b_is_never_served_stale_from_the_ring_of_a(nodes):
    a, b = nodes
    p1a, p2b = a.actor("participant1"), b.actor("participant2")
    token = await p1a.create_room(1, invite="participant2")
    start = await newest(p1a, token)
    got = {}

    async def poller(cursor: int, key: str):
        got[key] = await p1a.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                            "lastKnownMessageId": cursor})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:   # A's ring learns the message over the bus
            nursery.start_soon(poller, start, "first")
            await wait_until(lambda: a.ctx.hub.chat.waiting() == 1)
            posted = (await p2b.post(f"/chat/{token}", message="before the edit")).data["id"]
    assert [m["message"] for m in got["first"].data] == ["before the edit"]
    assert a.ctx.hub.chat.ringed(token)[-1]["message"] == "before the edit"   # ringed on A
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:   # the edit's system entry wakes A's poll
            nursery.start_soon(poller, posted, "edited")
            await wait_until(lambda: a.ctx.hub.chat.waiting() == 1)
            r = await p2b.put(f"/chat/{token}/{posted}", message="after the edit")
            assert r.status == 200, r.text
    assert [m["systemMessage"] for m in got["edited"].data] == ["message_edited"]
    again = await p1a.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 0,
                                                     "lastKnownMessageId": start})
    assert [m["message"] for m in again.data if m["id"] == posted] == ["after the edit"]


async def test_an_app_password_revoked_on_a_is_forgotten_by_b_over_the_bus(nodes):
    a, b = nodes
    async with httpx.AsyncClient(base_url=a.url, auth=("participant1", PASSWORD)) as client:
        r = await client.get("/ocs/v2.php/core/getapppassword", headers=OCS)
    assert r.status_code == 200, r.text
    app_password = r.json()["ocs"]["data"]["apppassword"]
    async with httpx.AsyncClient(base_url=b.url, auth=("participant1", app_password)) as client:
        assert (await client.get(USER_PATH, headers=OCS)).status_code == 200   # now cached on B
    before = b.ctx.passwords.generation("participant1")
    async with httpx.AsyncClient(base_url=a.url, auth=("participant1", app_password)) as client:
        assert (await client.delete("/ocs/v2.php/core/apppassword", headers=OCS)).status_code == 200
    # Only the bus moves B's generation (B's own code never called forget_user for this user).
    await wait_until(lambda: b.ctx.passwords.generation("participant1") > before)
    async with httpx.AsyncClient(base_url=b.url, auth=("participant1", app_password)) as client:
        assert (await client.get(USER_PATH, headers=OCS)).status_code == 401


async def test_a_request_to_redis_during_the_teardown_of_a_lost_connection_is_unavailable(redis):
    """While a lost connection is torn down the bus still holds its client, whose pool has exited
    (coredis then raises RuntimeError): the login limits must fall back, not answer 500."""
    import coredis

    from signaling.bus import Bus, BusUnavailable
    bus = Bus(redis.url, lambda message: None, lambda: None)
    client = coredis.Redis.from_url(redis.url)
    async with client:
        assert await client.ping()
    bus._client = client   # what `run` holds between the pool's exit and its `finally`
    with pytest.raises(BusUnavailable):
        await bus.eval("return 1", [], [])
    assert await bus.lease("housekeeping", 1000) is False
    await bus.release("housekeeping")   # best effort: no error either
