"""Cross-node chat wake-up latency over Redis: a long-poll parked on node A, a post on node B.

Starts its own redis-server (temp dir, free port) and two in-process nodes on one SQLite data
dir. For each sample: park a poll on A, post on B, and time from just before the post's request
to the poll's answer; the same with the poll and the post on one node gives the baseline.
Run: .venv/bin/python -m bench.cluster [samples]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time

import trio

from tests.api.chat_steps import newest
from tests.cluster.conftest import RedisServer, two_nodes


async def sample(poller, poster, token: str, cursor: int, hub) -> tuple[float, int]:
    result = {}

    async def poll():
        result["r"] = await poller.get(f"/chat/{token}", params={"lookIntoFuture": 1, "timeout": 30,
                                                              "lastKnownMessageId": cursor})
        result["t"] = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        while hub.chat.waiting() < 1:
            await trio.sleep(0.001)
        start = time.perf_counter()
        r = await poster.post(f"/chat/{token}", message="x")
    return result["t"] - start, result["r"].data[-1]["id"]


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(tmp)
        await redis.start()
        try:
            async with two_nodes(tmp + "/data", redis.url) as (a, b):
                p1a, p2a, p2b = a.actor("participant1"), a.actor("participant2"), b.actor("participant2")
                token = await p1a.create_room(1, invite="participant2")
                cursor = await newest(p1a, token)   # past the room's system messages
                for label, poster in (("same node", p2a), ("cross node", p2b)):
                    times = []
                    for _ in range(samples):
                        took, cursor = await sample(p1a, poster, token, cursor, a.ctx.hub)
                        times.append(took * 1000)
                    times.sort()
                    print(f"{label:>10}: post→wake p50 {statistics.median(times):.2f} ms, "
                          f"p99 {times[int(len(times) * 0.99) - 1]:.2f} ms ({samples} samples)")
        finally:
            redis.stop()


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 200)
