"""contrib/nginx/parley-cluster.conf for real: Debian's nginx, started here on free loopback ports
with a test certificate, in front of two `parley serve` nodes (PostgreSQL + Redis) that trust it.

Through nginx: a chat long-poll woken by a post on the other node, a wss:// signaling session,
the client's https seen by both nodes; then one node killed under parked polls and a WebSocket:
nginx re-sends the parked polls (GET) to the other node, new requests go there, and the
WebSocket client reconnects through nginx and gets back into its room.
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from ..deploy.proxies import nginx_main, nginx_process, replace_once
from ..signaling_helpers import SignalingSocket, joined, settings
from ..support import ManualClock, RunningServer
from ..tls_support import TlsFiles, make_tls_files
from ..cluster_mode import free_port
from .subprocess_nodes import faults_postgres, plain_cluster  # noqa: F401  (fixtures)
from .subprocess_nodes import Cluster, Node, ametric, parked, poll_woken_by, wait_for

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_CONF = ROOT / "contrib" / "nginx" / "parley-cluster.conf"


def cluster_site(nodes: list[Node], https_port: int, http_port: int, tls: TlsFiles) -> str:
    """The shipped file with the test's node ports, listen ports and certificate; nothing else."""
    text = CLUSTER_CONF.read_text()
    shipped = "contrib/nginx/parley-cluster.conf"
    for n, node in enumerate(nodes):
        text = replace_once(text, f"server 127.0.0.1:{8081 + n} ", f"server 127.0.0.1:{node.port} ", shipped)
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http_port};", shipped)
    text = replace_once(text, "listen [::]:80;", "", shipped)
    text = replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;", shipped)
    text = replace_once(text, "listen [::]:443 ssl http2;", "", shipped)
    text = replace_once(text, "/etc/letsencrypt/live/chat.example.org/fullchain.pem", str(tls.cert), shipped)
    return replace_once(text, "/etc/letsencrypt/live/chat.example.org/privkey.pem", str(tls.key), shipped)


@asynccontextmanager
async def running_nginx(directory: Path, nodes: list[Node], tls: TlsFiles) -> AsyncIterator[int]:
    https_port, http_port = free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "parley.conf").write_text(cluster_site(nodes, https_port, http_port, tls))
    (directory / "nginx.conf").write_text(nginx_main(directory))
    async with nginx_process(directory, https_port):
        yield https_port


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def cluster(plain_cluster) -> Cluster:
    plain_cluster.ensure_running()
    return plain_cluster


@pytest.fixture
async def edge(cluster, tls, tmp_path) -> AsyncIterator[tuple[RunningServer, int]]:
    """nginx in front of the cluster: (a RunningServer for Actors pointed at nginx, its https port)."""
    async with running_nginx(tmp_path / "nginx", cluster.nodes, tls) as port:
        yield RunningServer(url=f"https://127.0.0.1:{port}", app=None, clock=ManualClock(),
                            ssl_context=tls.client_context()), port


@asynccontextmanager
async def wss(port: int, tls: TlsFiles, actor, token: str, session: str) -> AsyncIterator[SignalingSocket]:
    """A signaling socket through nginx, hello said and `token` joined."""
    async with open_websocket_url(f"wss://127.0.0.1:{port}/spreed", ssl_context=tls.client_context()) as ws:
        sock = SignalingSocket(ws)
        hello = await sock.hello(actor.user, (await settings(actor))["ticket"])
        assert hello["type"] == "hello", hello
        room = await sock.join_room(token, session)
        assert room["type"] == "room" and room["room"]["roomid"] == token, room
        yield sock


async def test_long_poll_and_websocket_through_nginx_across_nodes(cluster, edge, tls):
    server, port = edge
    a, b = cluster.nodes
    p1, p2 = server.actor("participant1"), server.actor("participant2")
    for _ in range(2):   # round robin: both nodes believe nginx, and see the client's https
        assert (await settings(p1))["server"] == f"wss://127.0.0.1:{port}"
    token = await p1.create_room(2, invite="attendees1")
    start = (await p1.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]

    async def post_on_the_other_node() -> None:
        holder = a if await parked(a) == 1 else b
        other = b if holder is a else a
        # Posted straight to the node that does not hold the poll: the wake-up crosses Redis.
        assert (await other.actor("participant2").post(f"/chat/{token}", message="across")).status == 201
    reply = await poll_woken_by(p1, token, start, lambda: _total_parked(cluster, 1), post_on_the_other_node, 40)
    assert [m["message"] for m in reply.data] == ["across"]

    async with wss(port, tls, p2, token, await joined(p2, token)):
        pass


async def test_a_killed_node_behind_nginx(cluster, edge, tls):
    server, port = edge
    a, b = cluster.nodes
    p1, p2 = server.actor("participant1"), server.actor("participant2")
    token = await p1.create_room(2, invite="attendees1")
    start = (await p1.get(f"/chat/{token}", params={"limit": 1})).data[0]["id"]
    s2 = await joined(p2, token)
    async with wss(port, tls, p2, token, s2) as sock:
        victim = a if await ametric(a, "parley_websocket_connections") == 1 else b
        survivor = b if victim is a else a
        got: list = []

        async def poll(n: int) -> None:
            actor = server.actor(f"poller-{n}", "participant1")
            got.append(await actor.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                                "lastKnownMessageId": start}))
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                polls = 0
                while await parked(victim) == 0:   # round robin: within two or three polls one lands there
                    nursery.start_soon(poll, polls)
                    polls += 1
                    await wait_for(lambda: _total_parked(cluster, polls))
                victim.kill()
                # New requests, POSTs included, reach the survivor (a refused connection is retried).
                for n in range(4):
                    assert (await p1.get("/room")).status == 200
                    r = await p2.post(f"/chat/{token}", message=f"after the kill {n}")
                    assert r.status == 201, r.text
        # Every poll was answered with the first message posted after the kill, those parked on the
        # dead node too: nginx re-sent them (GET) to the survivor.
        assert len(got) == polls >= 1
        assert all(r.status == 200 and r.data[0]["message"] == "after the kill 0" for r in got)
        assert await parked(survivor) == 0

        # The WebSocket went down with its node; the client reconnects through nginx and rejoins.
        with pytest.raises(ConnectionClosed):
            with trio.fail_after(10):
                while True:
                    await sock.receive(10)
    async with wss(port, tls, p2, token, s2):
        assert await ametric(survivor, "parley_websocket_connections") == 1


async def _total_parked(cluster: Cluster, n: int) -> bool:
    return sum([await parked(node) for node in cluster.nodes if node.alive]) >= n
