"""The shared services failing under two `parley serve` nodes (issue 13, faults): Redis restarted
with polls parked on both nodes, PostgreSQL restarted, and the presence-expiry lease (one node at
a time; a killed holder replaced; a starting node that does not hold it expires nothing).

The nodes run housekeeping every 0.5 s with a 3 s session timeout, so that expiry happens within
a test; the lease then lives 1.5 s (three rounds).
"""
from __future__ import annotations

import httpx
import pytest
import trio

from ..support import API
from .subprocess_nodes import faults_postgres  # noqa: F401  (a fixture)
from .subprocess_nodes import LEASE_KEY, Cluster, Node, Partition, lease_holder, parked, start_cluster, wait_for

SESSION_TIMEOUT = 3
OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}


@pytest.fixture(scope="module")
def partition(cluster_unstarted) -> Partition:
    """Node b reaches Redis only through this relay, which a test can cut."""
    return cluster_unstarted[1]


@pytest.fixture(scope="module")
def cluster_unstarted(faults_postgres, tmp_path_factory):
    running = start_cluster(tmp_path_factory.mktemp("services"), faults_postgres.create_database("faults_services"),
                            env={"PARLEY_HOUSEKEEPING_INTERVAL": "0.5", "PARLEY_SESSION_TIMEOUT": str(SESSION_TIMEOUT)},
                            start=False)
    relay = Partition(running.redis.port)
    running.nodes[1].redis_url = relay.url
    try:
        running.ensure_running()
        yield running, relay
    finally:
        running.close()
        relay.close()


@pytest.fixture(scope="module")
def cluster(cluster_unstarted) -> Cluster:
    return cluster_unstarted[0]


@pytest.fixture
def nodes(cluster, partition) -> tuple[Node, Node]:
    partition.heal()
    cluster.ensure_running()
    return cluster.nodes[0], cluster.nodes[1]


async def poll_until(actor, token: str, cursor: int, want: int, got: list[tuple[int, str]]) -> None:
    """A client's poll loop: 304s (a resync answers parked polls early) and 503s (the database is
    away) are normal answers; it polls again until it holds `want` new messages."""
    while len(got) < want:
        r = await actor.client.get(f"/ocs/v2.php{API}/chat/{token}",
                                   params={"lookIntoFuture": 1, "timeout": 20, "lastKnownMessageId": cursor})
        assert r.status_code in (200, 304, 503), r.text
        if r.status_code == 200:
            got.extend((m["id"], m["message"]) for m in r.json()["ocs"]["data"])
            cursor = got[-1][0]
        elif r.status_code == 503:
            await trio.sleep(0.2)   # Retry-After says 2; a test need not wait that long


async def test_redis_restart_with_polls_parked_on_both_nodes(nodes, cluster):
    a, b = nodes
    p1a, p1b, p2a, p2b = (a.actor("participant1"), b.actor("participant1"),
                          a.actor("participant2"), b.actor("participant2"))
    token = await p1a.create_room(2, invite="attendees1")
    start = (await p1a.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]
    got: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll_until, p1a, token, start, 2, got["a"])
            nursery.start_soon(poll_until, p1b, token, start, 2, got["b"])
            await wait_for(lambda: _parked_on_both(a, b))
            cluster.redis.stop()
            # Each node serves alone meanwhile: its own posts are answered and wake its own polls.
            assert (await p2a.post(f"/chat/{token}", message="on a, redis down")).status == 201
            assert (await p2b.post(f"/chat/{token}", message="on b, redis down")).status == 201
            await cluster.redis.start()
    # After the resync each node's poll also got the other node's message, once, in id order.
    for key in ("a", "b"):
        assert [t for _, t in got[key]] == ["on a, redis down", "on b, redis down"], key
        assert [i for i, _ in got[key]] == sorted({i for i, _ in got[key]})


async def test_postgres_restart_under_two_nodes(nodes, faults_postgres):
    postgres = faults_postgres
    a, b = nodes
    p1a, p2b = a.actor("participant1"), b.actor("participant2")
    token = await p1a.create_room(2, invite="attendees1")
    start = (await p1a.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]
    got: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll_until, p1a, token, start, 1, got["a"])
            nursery.start_soon(poll_until, b.actor("participant1"), token, start, 1, got["b"])
            await wait_for(lambda: _parked_on_both(a, b))
            postgres.stop()
            try:
                for node in (a, b):
                    async with httpx.AsyncClient(base_url=node.url, auth=("participant1", "123456"),
                                                 headers=OCS, timeout=60) as client:
                        for method, path, form in (("GET", f"/ocs/v2.php{API}/room", None),
                                                   ("POST", f"/ocs/v2.php{API}/chat/{token}", {"message": "lost"}),
                                                   ("GET", "/readyz", None)):
                            # Never a hang past the request's own timeout (connect 5 s, statement 15 s).
                            with trio.fail_after(20):
                                r = await client.request(method, path, data=form)
                            assert r.status_code == 503, f"{node.name} {method} {path}: {r.text}"
                            if path.startswith("/ocs/"):
                                assert r.headers["Retry-After"].isdigit()
                                assert r.json()["ocs"]["meta"]["statuscode"] == 503
            finally:
                postgres.start()
            # Back without restarting Parley: the first post after it wakes the polls on both nodes.
            with trio.fail_after(30):
                while (r := await p2b.client.post(f"/ocs/v2.php{API}/chat/{token}",
                                                  data={"message": "after the restart"})).status_code != 201:
                    assert r.status_code == 503, r.text
                    await trio.sleep(0.2)
    assert got == {"a": [(r.json()["ocs"]["data"]["id"], "after the restart")],
                   "b": [(r.json()["ocs"]["data"]["id"], "after the restart")]}
    for node in (a, b):   # each node answers again (after its short fail-fast grace)
        actor = node.actor("participant1")
        with trio.fail_after(30):
            while (r := await actor.client.get(f"/ocs/v2.php{API}/room")).status_code != 200:
                assert r.status_code == 503, r.text
                await trio.sleep(0.2)
        assert token in [room["token"] for room in r.json()["ocs"]["data"]]


async def test_a_node_cut_off_from_redis_serves_alone_gives_up_the_lease_and_catches_up(nodes, cluster, partition):
    a, b = nodes
    owner, p2a, p2b = a.actor("participant1"), a.actor("participant2"), b.actor("participant2")
    token = await owner.create_room(3, name="partition")   # public, for the guest below
    assert (await owner.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    start = (await owner.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]
    id_a, id_b = a.bus_ids()[-1], b.bus_ids()[-1]
    await _set_lease(cluster, id_b, 1500)   # b holds the lease (and renews it) when the cut comes
    got: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll_until, a.actor("participant1"), token, start, 2, got["a"])
            nursery.start_soon(poll_until, b.actor("participant1"), token, start, 2, got["b"])
            await wait_for(lambda: _parked_on_both(a, b))
            assert (await b.actor("guest-cut").join(token)).status == 200
            expired_b = b.expired()
            partition.cut()
            # Both sides keep serving; b cannot renew the lease, so a takes it over and expires
            # the guest that joined on b, while b, cut off, expires nothing.
            assert (await p2a.post(f"/chat/{token}", message="on a, b cut off")).status == 201
            assert (await p2b.post(f"/chat/{token}", message="on b, cut off")).status == 201
            await wait_for(lambda: _holds(cluster, id_a), 30)
            await wait_for(lambda: _guests_gone(owner, token), 30)
            assert b.expired() == expired_b
            partition.heal()
    # Healed: b resubscribed, both made their waiters re-check: each poll has both messages.
    for key in ("a", "b"):
        assert [t for _, t in got[key]] == ["on a, b cut off", "on b, cut off"], key


async def test_one_node_at_a_time_expires_sessions_and_a_killed_holder_is_replaced(nodes, cluster):
    a, b = nodes
    owner = a.actor("participant1")
    token = await owner.create_room(3, name="presence")

    watcher = {"on": owner}   # who asks, through a node that is alive

    async def guests_left() -> int:
        r = await watcher["on"].get(f"/room/{token}/participants")
        return sum(1 for p in r.data if p["userId"] == "")   # guests have no user id

    async def none_left() -> bool:
        return await guests_left() == 0

    # Four guests that never ping: each is expired by exactly one node, never twice.
    ids = {a: a.bus_ids()[-1], b: b.bus_ids()[-1]}
    # Right after a (re)start, or when a loaded holder renewed late, the lease may be free for a
    # moment: wait until one of the two holds it.
    seen: dict[str, object] = {}

    async def held() -> bool:
        seen["holder"] = await lease_holder(cluster.redis.url)
        return seen["holder"] in ids.values()
    await wait_for(held, 30)
    holder_before = seen["holder"]
    before = {node: node.expired() for node in (a, b)}
    for n, node in enumerate((a, a, b, b)):
        assert (await node.actor(f"guest-{n}").join(token)).status == 200
    assert await guests_left() == 4
    await wait_for(none_left, 30)
    done = {node: node.expired() - before[node] for node in (a, b)}
    assert sum(done.values()) == 4
    if await lease_holder(cluster.redis.url) == holder_before:   # no hand-over meanwhile (a stalled holder)
        assert [node for node, count in done.items() if count] == [n for n in (a, b) if ids[n] == holder_before]

    # kill -9 of the holder: the lease lapses (1.5 s) and the other node takes it and expires.
    holder = a if ids[a] == holder_before else b
    other = b if holder is a else a
    holder.kill()
    watcher["on"] = other.actor("participant1")
    await wait_for(lambda: _holds(cluster, ids[other]), 30)
    before_other = other.expired()
    assert (await other.actor("guest-late").join(token)).status == 200
    await wait_for(none_left, 30)
    assert other.expired() - before_other == 1

    # A node starting while another holds the lease expires nothing, not even in its start-up
    # round. The holder here is a stand-in that stays silent, so nothing else expires either.
    await _set_lease(cluster, "a-node-elsewhere")
    assert (await other.actor("guest-stale").join(token)).status == 200
    await trio.sleep(SESSION_TIMEOUT + 1)   # stale for every node now
    before_restart = holder.expired()
    holder.start().wait_ready()
    assert await guests_left() == 1
    assert holder.expired() == before_restart
    await _set_lease(cluster, None)   # the stand-in is gone: a real node takes over and expires
    await wait_for(none_left, 30)


async def _parked_on_both(a: Node, b: Node) -> bool:
    return await parked(a) >= 1 and await parked(b) >= 1


async def _holds(cluster: Cluster, node_id: str) -> bool:
    return await lease_holder(cluster.redis.url) == node_id


async def _guests_gone(owner, token: str) -> bool:
    r = await owner.get(f"/room/{token}/participants")
    return not [p for p in r.data if p["userId"] == ""]


async def _set_lease(cluster: Cluster, holder: str | None, ttl_ms: int = 60_000) -> None:
    import coredis
    async with coredis.Redis.from_url(cluster.redis.url) as client:
        if holder is None:
            await client.delete([LEASE_KEY])
        else:
            await client.set(LEASE_KEY, holder, px=ttl_ms)
