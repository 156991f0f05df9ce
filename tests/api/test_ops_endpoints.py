"""GET /healthz, /readyz and /metrics on a real server."""
from __future__ import annotations

import gc
import threading
from functools import partial

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from .. import cluster_mode, support
from ..signaling_helpers import connect, joined, pull, pulled
from .chat_steps import newest, read, send, wait_parked

CHAT_ROUTE = "/ocs/v2.php/apps/spreed/api/v1/chat/<token:token>"


async def plain(server: support.RunningServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return await client.get(path)


async def scrape(server: support.RunningServer) -> tuple[str, dict[tuple[str, tuple], float]]:
    """The /metrics text and its samples keyed by (name, sorted labels). In a cluster, every
    node's, added up (each node counts what it served, as Prometheus would scrape them)."""
    texts, samples = [], {}
    for node in cluster_mode.nodes_of(server):
        reply = await plain(node, "/metrics")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
        texts.append(reply.text)
        for family in text_string_to_metric_families(reply.text):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = samples.get(key, 0.0) + sample.value
    return "".join(texts), samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_and_readyz_answer_200_while_serving(server):
    health, ready = await plain(server, "/healthz"), await plain(server, "/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_with_a_reason_while_the_database_does_not_answer(tmp_path):
    release = threading.Event()
    async with support.serving(support.test_config(str(tmp_path), readiness_timeout=0.5, database_url="")) as server:
        async with trio.open_nursery() as nursery:
            # A real unit of work that holds the database thread, as a stuck disk would.
            nursery.start_soon(server.ctx.db.run, lambda conn: release.wait(60))
            try:
                ready = await plain(server, "/readyz")
                assert ready.status_code == 503
                assert ready.json()["status"] == "unavailable"
                assert "did not answer" in ready.json()["reason"]
                assert (await plain(server, "/healthz")).status_code == 200   # the process still serves
            finally:
                release.set()
        assert (await plain(server, "/readyz")).status_code == 200


async def test_readyz_is_503_once_a_shutdown_began(server):
    server.ctx.hub.shut_down()
    ready = await plain(server, "/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reason": "shutting down"}


async def test_metrics_count_requests_by_route_template_never_by_raw_path(users, p1):
    token = await p1.create_room(3, name="room")
    await send(p1, token, "hello")
    await read(p1, token)                                   # Quart (the cache does not know p1 yet)...
    await read(p1, token)                                   # ...then the chat fast path
    assert sum(n.app.chat_fast_path.served for n in cluster_mode.nodes_of(users)) >= 1
    await p1.get("/room/nosuchroom")                        # 404 from a route with a token
    assert (await plain(users, "/no/such/path")).status_code == 404
    text, samples = await scrape(users)
    assert token not in text and "nosuchroom" not in text
    requests = "parley_http_requests_total"
    assert value(samples, requests, route=CHAT_ROUTE, method="POST", status="201") == 1
    assert value(samples, requests, route=CHAT_ROUTE, method="GET", status="200") == 2
    assert value(samples, requests, route="/ocs/v2.php/apps/spreed/api/v1/room/<token:token>",
                 method="GET", status="404") == 1
    assert value(samples, requests, route="unmatched", method="GET", status="404") == 1
    assert value(samples, "parley_http_request_duration_seconds_count", route=CHAT_ROUTE, method="GET") == 2
    # conversation_created and "hello": system messages are chat entries too (issue 11)
    assert value(samples, "parley_chat_messages_posted_total") == 2
    assert value(samples, "parley_db_unit_seconds_count", phase="run") > 0
    assert value(samples, "parley_db_unit_seconds_count", phase="queued") > 0
    assert ("parley_db_queue_depth", ()) in samples


async def test_metrics_show_parked_polls_pulls_websockets_and_relayed_signals(users, p1, p2):
    token = await p1.create_room(3, name="room")
    s1, s2 = await joined(p1, token), await joined(p2, token)
    await pulled(p2, token)   # on every node: the pull below parks
    start = await newest(p1, token)   # past the system messages of the room's creation
    async with connect(users, p1, token, s1) as sock, trio.open_nursery() as nursery:
        nursery.start_soon(partial(read, p1, token, lookIntoFuture=1, timeout=30, lastKnownMessageId=start))
        nursery.start_soon(pull, p2, token)
        await wait_parked(users, 1)
        with trio.fail_after(10):
            while cluster_mode.pulls_waiting(users) != 1:
                await trio.sleep(0.01)
        _, parked = await scrape(users)
        await sock.message(s2, {"type": "offer"})   # wakes the pull with one relayed message
        with trio.fail_after(10):
            while cluster_mode.pulls_waiting(users) != 0:
                await trio.sleep(0.01)
        _, after = await scrape(users)
        nursery.cancel_scope.cancel()
    assert value(parked, "parley_chat_polls_parked") == 1
    assert value(parked, "parley_signaling_pulls_parked") == 1
    assert value(parked, "parley_websocket_connections") == 1
    assert value(parked, "parley_websocket_sessions") == 1
    assert value(after, "parley_signaling_messages_relayed_total") == value(parked, "parley_signaling_messages_relayed_total") + 1


async def test_metrics_count_failed_and_throttled_logins(users):
    intruder = users.actor("participant1", password="wrong")
    statuses = [(await intruder.get("/room")).status for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    _, samples = await scrape(users)
    assert value(samples, "parley_logins_failed_total") == 5
    assert value(samples, "parley_logins_throttled_total") == 1


async def test_metrics_time_garbage_collections(server):
    gc.collect()
    _, samples = await scrape(server)
    assert value(samples, "parley_gc_pause_seconds_count", generation="2") >= 1


async def test_metrics_are_refused_to_peers_outside_metrics_allow(tmp_path):
    config = support.test_config(str(tmp_path), metrics_allow=("10.0.0.0/8",))
    async with support.serving(config) as server:
        refused = await plain(server, "/metrics")
        assert refused.status_code == 403
        assert "parley_" not in refused.text
        assert (await plain(server, "/healthz")).status_code == 200


async def test_metrics_judge_the_client_a_trusted_proxy_reports(tmp_path):
    # The proxy itself is on loopback (allowed); the client it forwards for is not.
    config = support.test_config(str(tmp_path), trusted_proxies=("127.0.0.1",))
    async with support.serving(config) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            forwarded = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
            direct = await client.get("/metrics")
        assert forwarded.status_code == 403
        assert direct.status_code == 200
