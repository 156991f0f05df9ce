"""What HTTPS and a reverse proxy cost per request: plain HTTP, built-in TLS, and nginx (the
shipped contrib/nginx/parley.conf, TLS terminated there) in front of Parley with trusted_proxies.

For each path: sequential keep-alive `GET /room` (Basic auth, cached) and the wake-up of a parked
chat long-poll by a post (from sending the post to the poll's answer), median and p90.
Run with `make bench-https`; not a test (numbers depend on the machine). docs/PERFORMANCE.md.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.deploy.proxies import running_nginx  # noqa: E402
from tests.support import add_background_users, serving  # noqa: E402
from tests.support import test_config as make_config  # noqa: E402
from tests.tls_support import make_tls_files  # noqa: E402

REQUESTS, WAKES = 400, 40


def quantiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    return f"median {statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9)]:.2f} ms"


async def measure(server, label: str) -> None:
    p1, p2 = server.actor("participant1"), server.actor("participant2")
    token = await p1.create_room(2, invite="attendees1", name="bench")
    await p1.get("/room")
    took = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        r = await p1.get("/room")
        took.append(time.perf_counter() - start)
        assert r.status == 200
    wakes = []
    for n in range(WAKES):
        done = trio.Event()
        answered: dict[str, float] = {}

        async def poll() -> None:
            r = await p2.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                       "lastKnownMessageId": last})
            answered["at"] = time.perf_counter()
            assert r.status == 200, r.text
            done.set()
        last = (await p2.get(f"/chat/{token}", params={"lookIntoFuture": 0, "limit": 1})).headers.get(
            "x-chat-last-given", "0")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            while server.ctx.hub.statistics().chat_waiters != 1:
                await trio.sleep(0.001)   # ok: benchmark harness waits for the poll to park
            posting = time.perf_counter()
            await p1.post(f"/chat/{token}", message=f"wake {n}")
            await done.wait()
        wakes.append(answered["at"] - posting)
    print(f"{label:<22} GET /room: {quantiles(took)};  post -> parked poll answered: {quantiles(wakes)}", flush=True)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        tls = make_tls_files(directory)
        async with serving(make_config(str(directory / "plain"))) as server:
            await add_background_users(server)
            await measure(server, "plain HTTP")
        async with serving(make_config(str(directory / "tls"), tls_cert=str(tls.cert), tls_key=str(tls.key))) as server:
            server.ssl_context = tls.client_context()
            await add_background_users(server)
            await measure(server, "built-in TLS")
        async with serving(make_config(str(directory / "proxied"), trusted_proxies=("127.0.0.1",))) as direct:
            await add_background_users(direct)
            port = int(direct.url.rsplit(":", 1)[1])
            async with running_nginx(directory / "nginx", port, tls.cert, tls.key) as (https_port, _):
                server = replace(direct, url=f"https://127.0.0.1:{https_port}", ssl_context=tls.client_context(),
                                 actors=direct.actors)
                await measure(server, "nginx TLS -> Parley")


if __name__ == "__main__":
    trio.run(main)
