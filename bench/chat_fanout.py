"""Chat fan-out benchmark: how fast a POST reaches every parked long-poll, and what parked polls cost.

    make bench-chat            (= .venv/bin/python bench/chat_fanout.py)

Parley runs in a subprocess (`.venv/bin/parley serve`, fresh data dir), so client and server do not
share an event loop; the clients are plain-socket keep-alive HTTP/1.1 connections on trio with
requests built before the clock starts (an httpx client costs ~0.5 ms of CPU per response, more
than the server's own work). Cases:

  (a) a 50-member room: one POST, 50 parked polls; time from the start of the POST until each
      waiter has read its response (and until the last has), p50/p99 over the rounds;
  (b) 1,000 parked polls in one room woken by one POST: time until the last has the message;
  (c) 5,000 parked polls held (fresh server): server RSS (/proc/PID/status VmRSS) and GC pauses
      (the server runs with PARLEY_GC_LOG=1 and serves them at /debug/gc), then one wake-up;
  (d) the floor: trio tasks parked on one trio.Event, set() wakes all, no HTTP (in a subprocess).

The server gets cheap argon2 parameters and a long Basic-auth cache: that only speeds up the
setup (creating accounts); no password is verified during a measured round.
"""
from __future__ import annotations

import argparse
import base64
import gc
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import trio
import trio.testing

ROOT = Path(__file__).resolve().parent.parent
PARLEY = ROOT / ".venv" / "bin" / "parley"
API = "/ocs/v2.php/apps/spreed/api/v1"
PASSWORD = "bench-password"


# -- small helpers -------------------------------------------------------------------------------

def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # the server subprocess inherits it
    return hard


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(method: str, path: str, user: str | None = None, form: dict | None = None) -> bytes:
    """A complete HTTP/1.1 keep-alive request, built once and sent as is."""
    body = urlencode(form).encode() if form else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "OCS-APIRequest: true", "Accept: application/json"]
    if user:
        password = "admin" if user == "admin" else PASSWORD
        lines.append("Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    if form:
        lines.append("Content-Type: application/x-www-form-urlencoded")
    if form or method != "GET":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Http:
    """One keep-alive HTTP/1.1 connection: send pre-built bytes, read one response at a time."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def open(cls, port: int) -> "Http":
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buffer += chunk

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            await self._fill()
        status_line, *header_lines = self.buffer[:end].decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        status = int(status_line.split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
        length = 0 if status in (204, 304) else int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            await self._fill()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return status, headers, body

    async def call(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        await self.stream.send_all(raw)
        return await self.response()

    async def json(self, raw: bytes, expect: int = 200) -> dict:
        status, _, body = await self.call(raw)
        if status != expect:
            raise RuntimeError(f"expected {expect}, got {status}: {body[:300]!r}")
        return json.loads(body)


# -- the server under test ------------------------------------------------------------------------

class Server:
    """`parley serve` in a subprocess on a fresh data dir, with an admin and `members` users in one room."""

    def __init__(self, members: int) -> None:
        self.members = members
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="parley-bench-")
        self.env = {**os.environ, "PARLEY_GC_LOG": "1", "PARLEY_ARGON2_TIME_COST": "1",
                    "PARLEY_ARGON2_MEMORY_KIB": "1024", "PARLEY_AUTH_CACHE_SECONDS": "86400",
                    "PARLEY_LOG_LEVEL": "warning"}
        self.log = open(Path(self.dir) / "server.log", "w")
        self.token = ""
        self.users = [f"member{i:05d}" for i in range(members)]

    async def start(self) -> None:
        subprocess.run([str(PARLEY), "user", "add", "admin", "--password", "admin", "--admin",
                        "--data-dir", self.dir], env=self.env, check=True, capture_output=True)
        self.process = subprocess.Popen([str(PARLEY), "serve", "--bind", f"127.0.0.1:{self.port}",
                                         "--data-dir", self.dir], env=self.env, stdout=self.log, stderr=self.log)
        with trio.fail_after(30):
            while True:
                try:
                    self.admin = await Http.open(self.port)
                    break
                except OSError:
                    await trio.sleep(0.05)
        admin = self.admin
        for user in self.users:
            await admin.json(build("POST", "/ocs/v2.php/cloud/users", "admin", {"userid": user, "password": PASSWORD}))
        room = await admin.json(build("POST", f"{API}/room", "admin", {"roomType": 2, "roomName": "bench"}), 201)
        self.token = room["ocs"]["data"]["token"]
        for user in self.users:
            await admin.json(build("POST", f"{API}/room/{self.token}/participants", "admin", {"newParticipant": user}))
        await admin.json(build("POST", f"{API}/chat/{self.token}", "admin", {"message": "hello"}), 201)
        warm = await Http.open(self.port)      # verify every password once, before any measurement
        for user in self.users:
            await warm.json(build("GET", f"{API}/chat/{self.token}?lookIntoFuture=0&limit=1", user))
        await warm.stream.aclose()

    async def debug(self, reset: bool = False) -> dict:
        return await self.admin.json(build("DELETE" if reset else "GET", "/debug/gc"))

    async def wait_parked(self, count: int, timeout: float = 120) -> None:
        with trio.fail_after(timeout):
            while (await self.debug())["hub"]["chat_waiters"] < count:
                await trio.sleep(0.01)

    def rss(self) -> float:
        return rss_mib(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        if self.process.returncode == 0:   # keep the data dir and server.log of a server that failed
            shutil.rmtree(self.dir, ignore_errors=True)


# -- parked long-polls and rounds -----------------------------------------------------------------

class Fanout:
    """`n` connections, each looping on a future long-poll; `round()` posts one message and returns
    each waiter's latency from the moment the POST started."""

    def __init__(self, server: Server, n: int) -> None:
        self.server, self.n = server, n
        self.arrivals: list[float] = []
        self.all_arrived = trio.Event()
        self.started = 0.0
        self.connections: list[Http] = []   # to close them when a caller is done (bench/cluster.py)

    async def _waiter(self, conn: Http, user: str, cursor: int) -> None:
        while True:
            await conn.stream.send_all(build(
                "GET", f"{API}/chat/{self.server.token}?lookIntoFuture=1&lastKnownMessageId={cursor}&timeout=60", user))
            status, headers, _ = await conn.response()
            arrived = time.perf_counter()
            if status == 304:
                continue
            if status != 200:
                raise RuntimeError(f"poll answered {status}")
            cursor = int(headers["x-chat-last-given"])
            self.arrivals.append(arrived - self.started)
            if len(self.arrivals) == self.n:
                self.all_arrived.set()

    async def park(self, nursery: trio.Nursery, cursor: int) -> None:
        limiter = trio.CapacityLimiter(200)

        async def connect(i: int) -> None:
            async with limiter:
                conn = await Http.open(self.server.port)
            self.connections.append(conn)
            nursery.start_soon(self._waiter, conn, self.server.users[i % len(self.server.users)], cursor)
        async with trio.open_nursery() as connecting:
            for i in range(self.n):
                connecting.start_soon(connect, i)
        await self.server.wait_parked(self.n)

    async def round(self, poster: Http, number: int) -> tuple[list[float], float]:
        await self.server.wait_parked(self.n)
        post = build("POST", f"{API}/chat/{self.server.token}", "admin", {"message": f"round {number}"})
        self.arrivals, self.all_arrived = [], trio.Event()
        self.started = time.perf_counter()
        await poster.stream.send_all(post)
        status, _, _ = await poster.response()
        post_done = time.perf_counter() - self.started
        assert status == 201, status
        with trio.fail_after(60):
            await self.all_arrived.wait()
        return self.arrivals, post_done


async def last_id(server: Server) -> int:
    status, headers, _ = await server.admin.call(build("GET", f"{API}/chat/{server.token}?lookIntoFuture=0&limit=1",
                                                       "admin"))
    return int(headers["x-chat-last-given"])


async def run_rounds(server: Server, n: int, rounds: int, warmup: int) -> dict:
    poster = await Http.open(server.port)
    each, last, posts = [], [], []
    async with trio.open_nursery() as nursery:
        fanout = Fanout(server, n)
        await fanout.park(nursery, await last_id(server))
        for number in range(warmup + rounds):
            arrivals, post = await fanout.round(poster, number)
            if number >= warmup:
                each += arrivals
                last.append(max(arrivals))
                posts.append(post)
        nursery.cancel_scope.cancel()
    return {"waiters": n, "rounds": rounds,
            "each_p50_ms": ms(percentile(each, 50)), "each_p99_ms": ms(percentile(each, 99)),
            "last_p50_ms": ms(percentile(last, 50)), "last_p99_ms": ms(percentile(last, 99)),
            "post_p50_ms": ms(percentile(posts, 50))}


def profile(server: Server, out: str | None) -> subprocess.Popen | None:
    """`--py-spy FILE`: sample the server with py-spy (collapsed stacks) while the cases run."""
    if not out:
        return None
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--format", "raw", "--rate", "1000", "--nonblocking", 
                             "-o", out, "-p", str(server.process.pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def case_a_b(args: argparse.Namespace) -> dict:
    server = Server(members=50)
    await server.start()
    spy = profile(server, args.py_spy)
    results = {}
    try:
        await server.debug(reset=True)
        if "a" in args.only:
            results["a"] = await run_rounds(server, 50, args.rounds_a, warmup=3)
            print("(a)", json.dumps(results["a"]), flush=True)
        if "b" in args.only:
            results["b"] = await run_rounds(server, args.waiters_b, args.rounds_b, warmup=1)
            print("(b)", json.dumps(results["b"]), flush=True)
        results["gc_a_b"] = (await server.debug())["gc"]
        print("    gc during (a)-(b):", json.dumps(results["gc_a_b"]), flush=True)
        return results
    finally:
        server.stop()
        if spy is not None:
            spy.wait(timeout=60)


async def case_c(args: argparse.Namespace) -> dict:
    server = Server(members=50)
    await server.start()
    try:
        idle = server.rss()
        await server.debug(reset=True)
        poster = await Http.open(server.port)
        async with trio.open_nursery() as nursery:
            fanout = Fanout(server, args.held_c)
            started = time.perf_counter()
            await fanout.park(nursery, await last_id(server))
            connect_s = time.perf_counter() - started
            await trio.sleep(args.hold)
            held = server.rss()
            gc_held = (await server.debug())["gc"]
            arrivals, _ = await fanout.round(poster, 0)
            await server.wait_parked(args.held_c)
            gc_all = (await server.debug())["gc"]
            nursery.cancel_scope.cancel()
        result = {"held": args.held_c, "connect_s": round(connect_s, 2), "rss_idle_mib": round(idle, 1),
                  "rss_held_mib": round(held, 1),
                  "kib_per_poll": round((held - idle) * 1024 / args.held_c, 1),
                  "gc_while_held": gc_held, "gc_incl_wake": gc_all,
                  "wake_last_ms": ms(max(arrivals)), "wake_each_p50_ms": ms(percentile(arrivals, 50))}
        print("(c)", json.dumps(result), flush=True)
        return result
    finally:
        server.stop()


# -- (d) the floor: a trio broadcast without HTTP --------------------------------------------------

async def floor(sizes: list[int], rounds: int) -> dict:
    from server.runner import tune_gc
    tune_gc()
    pauses: list[float] = []
    started = [0.0]

    def timer(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])
    gc.callbacks.append(timer)
    result = {}
    for n in sizes:
        last, each = [], []
        rss_before = rss_mib(os.getpid())
        rss_parked = 0.0
        for _ in range(rounds):
            event, woke = trio.Event(), []

            async def task() -> None:
                await event.wait()
                woke.append(time.perf_counter())
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(task)
                await trio.testing.wait_all_tasks_blocked()
                rss_parked = max(rss_parked, rss_mib(os.getpid()))
                t0 = time.perf_counter()
                event.set()
            each += [t - t0 for t in woke]
            last.append(max(woke) - t0)
        result[n] = {"each_p50_ms": ms(percentile(each, 50)), "last_p50_ms": ms(percentile(last, 50)),
                     "last_p99_ms": ms(percentile(last, 99)),
                     "kib_per_task": round((rss_parked - rss_before) * 1024 / n, 2)}
    result["max_gc_pause_ms"] = ms(max(pauses, default=0.0))
    return result


def case_d(args: argparse.Namespace) -> dict:
    out = subprocess.run([sys.executable, __file__, "--floor", "--rounds-b", str(args.rounds_a)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    result = json.loads(out.stdout)
    print("(d)", json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds-a", type=int, default=40, help="measured rounds of case (a)")
    parser.add_argument("--waiters-b", type=int, default=1000)
    parser.add_argument("--rounds-b", type=int, default=6, help="measured rounds of case (b)")
    parser.add_argument("--held-c", type=int, default=5000)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds to hold case (c) before measuring")
    parser.add_argument("--only", default="abcd", help="which cases to run, e.g. 'ab'")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--py-spy", help="profile the server of cases (a)-(b) into this file (collapsed stacks; "
                                         "needs `.venv/bin/pip install py-spy`)")
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.floor:
        print(json.dumps(trio.run(floor, [50, 1000, 5000], args.rounds_b)))
        return
    print(f"fd limit {raise_fd_limit()}, {os.cpu_count()} cores", flush=True)
    results: dict = {}
    if "a" in args.only or "b" in args.only:
        results.update(trio.run(case_a_b, args))
    if "c" in args.only:
        results["c"] = trio.run(case_c, args)
    if "d" in args.only:
        results["d"] = case_d(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
