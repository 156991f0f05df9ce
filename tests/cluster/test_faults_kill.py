"""kill -9 of a node under chat load (issue 13, faults): two `parley serve` processes on one
PostgreSQL and one Redis; clients post and long-poll through both; node A is SIGKILLed mid-load.

What must hold: every request to node B succeeds and B's parked polls keep getting messages; every
message whose POST was answered 201 (through either node) is in the history exactly once, ids
strictly increasing; A's pollers, its polling signaling session and its WebSocket client carry on
from B; A, started again, serves and is back on the bus.
"""
from __future__ import annotations

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from ..signaling_helpers import SignalingSocket, joined, messages, offer, pull, settings
from .subprocess_nodes import faults_postgres, plain_cluster  # noqa: F401  (fixtures)
from .subprocess_nodes import Cluster, Node, parked, poll_woken_by, wait_for

BEFORE_KILL = 12    # messages acknowledged through A before it is killed
AFTER_KILL = 12     # and through B afterwards, by each poster


@pytest.fixture
def cluster(plain_cluster) -> Cluster:
    plain_cluster.ensure_running()
    return plain_cluster


def ws_url(node: Node) -> str:
    return node.url.replace("http://", "ws://") + "/spreed"


def same_client(actor, node: Node, name: str):
    """The same client (Basic auth and cookie jar: its Talk session) sending to another node."""
    moved = node.actor(name, actor.user)
    moved.client.cookies = actor.client.cookies
    return moved


async def test_kill_9_of_a_node_under_chat_load_loses_no_acknowledged_message(cluster):
    a, b = cluster.nodes
    owner = a.actor("participant1")
    token = await owner.create_room(3, name="under load")   # public: everyone joins it themselves
    posters = {"a": a.actor("participant2"), "b": b.actor("participant3")}
    poll_a, poll_b = a.actor("poll-a", "participant1"), b.actor("admin", "admin", "admin")
    s_poll_a = await joined(poll_a, token)                  # A's polling signaling session
    s2 = await joined(posters["a"], token)                  # p2's Talk session, used by its WebSocket on A
    s3 = await joined(posters["b"], token)                  # p3's, by its WebSocket on B
    s_admin = await joined(poll_b, token)
    start = (await poll_b.get(f"/chat/{token}", params={"lookIntoFuture": 0, "limit": 1})).data[0]["id"]

    acked: dict[int, str] = {}        # message id -> text, every 201
    unacknowledged: list[str] = []    # posts whose answer never came (A died under them)
    after_kill = {"a": 0, "b": 0}
    killed = trio.Event()
    enough_before = trio.Event()
    stop = trio.Event()
    seen: dict[str, list[tuple[int, str]]] = {"a": [], "b": []}
    switched: dict[str, bool] = {}

    async def post(key: str) -> None:
        actor, k = posters[key], 0
        while not stop.is_set():
            text = f"{key}-{k}"
            k += 1
            try:
                r = await actor.post(f"/chat/{token}", message=text)
            except httpx.TransportError:
                assert key == "a" and killed.is_set(), f"a request to node B failed: {text}"
                unacknowledged.append(text)
                actor = same_client(actor, b, "participant2 on b")   # what a balancer would do
                switched["poster"] = True
                continue
            assert r.status == 201, r.text
            acked[r.data["id"]] = text
            if killed.is_set():
                after_kill[key] += 1
            elif key == "a" and sum(1 for t in acked.values() if t.startswith("a-")) >= BEFORE_KILL:
                enough_before.set()
            if after_kill["a"] >= AFTER_KILL and after_kill["b"] >= AFTER_KILL:
                stop.set()

    async def poll(key: str, actor) -> None:
        cursor = start
        while True:
            try:
                r = await actor.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 20,
                                                              "lastKnownMessageId": cursor, "limit": 100})
            except httpx.TransportError:
                assert key == "a" and killed.is_set(), "a poll on node B failed"
                actor = same_client(actor, b, "poll-a on b")
                switched["poller"] = True
                continue
            assert r.status in (200, 304), r.text
            if r.status == 200:
                seen[key].extend((m["id"], m["message"]) for m in r.data)
                cursor = r.data[-1]["id"]

    # WebSockets: p2 on A (to be moved), p3 on B (must notice nothing).
    async with open_websocket_url(ws_url(a)) as raw_a, open_websocket_url(ws_url(b)) as raw_b:
        ws_a, ws_b = SignalingSocket(raw_a), SignalingSocket(raw_b)
        hello_a = await ws_a.hello("participant2", (await settings(posters["a"]))["ticket"])
        await ws_b.hello("participant3", (await settings(posters["b"]))["ticket"])
        assert (await ws_a.join_room(token, s2))["type"] == "room"
        assert (await ws_b.join_room(token, s3))["type"] == "room"

        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(poll, "a", poll_a)
                nursery.start_soon(poll, "b", poll_b)
                await wait_for(lambda: _both_parked(a, b), what="a parked poll on each node")
                async with trio.open_nursery() as posting:   # ends when both posters have stopped
                    posting.start_soon(post, "a")
                    posting.start_soon(post, "b")
                    await enough_before.wait()
                    a.kill()                        # mid-load: posts and polls in flight on A
                    killed.set()
                last = max(acked)
                await wait_for(lambda: _seen_up_to(seen, last), what="both pollers caught up")
                nursery.cancel_scope.cancel()

        # No acknowledged message lost or doubled; the history's ids strictly increase.
        history = (await poll_b.get(f"/chat/{token}", params={"lookIntoFuture": 1, "limit": 200,
                                                              "lastKnownMessageId": start})).data
        ids = [m["id"] for m in history]
        texts = [m["message"] for m in history]
        assert ids == sorted(set(ids))
        assert len(history) < 200   # the whole history fit in one page
        for message_id, text in acked.items():
            assert texts.count(text) == 1, text
            assert history[ids.index(message_id)]["message"] == text
        for text in unacknowledged:   # committed or not: never twice
            assert texts.count(text) <= 1
        # Each poller got every acknowledged message once, in id order, A's from B after the kill.
        assert switched == {"poster": True, "poller": True}
        for key in ("a", "b"):
            got = [i for i, _ in seen[key]]
            assert got == sorted(set(got)), key
            assert set(acked) <= set(got), key
        assert after_kill["b"] >= AFTER_KILL

        # A's WebSocket client: the connection is gone; it reconnects to B.
        with pytest.raises(ConnectionClosed):
            with trio.fail_after(10):
                while True:
                    await ws_a.receive(10)
        async with open_websocket_url(ws_url(b)) as raw:
            moved = SignalingSocket(raw)
            resumed = await moved.request({"type": "hello", "hello": {"version": "1.0",
                                                                      "resumeid": hello_a["hello"]["resumeid"]}})
            # The session lived in A's memory: B does not know it, and the client says hello again.
            assert resumed["type"] == "error" and resumed["error"]["code"] == "no_such_session", resumed
            hello = await moved.hello("participant2", (await settings(same_client(posters["a"], b, "p2")))["ticket"])
            assert hello["type"] == "hello", hello
            assert (await moved.join_room(token, s2))["type"] == "room"   # back in the room, same Talk session
            await moved.message(s3, {"type": "hi", "from": "moved"})   # Talk session ids address peers
            got = await ws_b.receive_until(lambda f: f.get("type") == "message"
                                           and f["message"]["data"].get("type") == "hi")   # B's client is still there
            assert got["message"]["data"] == {"type": "hi", "from": "moved"}
            assert got["message"]["sender"]["sessionid"] == s2

    # A's polling signaling session keeps working from B: a pull there gets an offer sent to it.
    moved_poll = same_client(poll_a, b, "poll-a signaling on b")
    await pull(moved_poll, token)
    assert (await offer(poll_b, token, s_admin, s_poll_a)).status == 200
    with trio.fail_after(20):
        while not (found := [m for m in messages(await pull(moved_poll, token)) if m.get("type") == "offer"]):
            pass
    assert found[0]["from"] == s_admin

    # A again: it serves, and it is back on the bus (a poll parked on A is woken by a post on B).
    a.start().wait_ready()
    back = a.actor("participant1")
    assert token in await back.room_tokens()
    cursor = (await back.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]

    async def post_on_b() -> None:
        assert (await posters["b"].post(f"/chat/{token}", message="after the restart")).status == 201
    reply = await poll_woken_by(back, token, cursor, lambda: _parked_is(a, 1), post_on_b)
    assert [m["message"] for m in reply.data] == ["after the restart"]


async def _both_parked(a: Node, b: Node) -> bool:
    return await parked(a) == 1 and await parked(b) == 1


async def _parked_is(node: Node, n: int) -> bool:
    return await parked(node) == n


async def _seen_up_to(seen: dict[str, list[tuple[int, str]]], last: int) -> bool:
    return all(entries and entries[-1][0] >= last for entries in seen.values())
