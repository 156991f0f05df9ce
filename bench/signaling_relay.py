"""Signaling relay benchmark: Parley in a subprocess, load from this process over loopback.

    .venv/bin/python bench/signaling_relay.py            # or: make bench-signaling

Measures
  1. polling relay latency: sender POST /signaling/{token} -> the receiver's parked pull has it
     (targets p50 <= 5 ms, p99 <= 20 ms);
  2. WebSocket relay latency: sender frame -> receiver frame (target p99 <= 10 ms);
  3. WebSocket throughput, the strukturag cmd/client pattern: 200 sessions in pairs, each sending
     session-addressed messages to its partner as fast as a small in-flight window allows; every
     message is checked on arrival (target >= 3,000 relayed msgs/s through one process, none lost,
     none duplicated).
2 and 3 run once per WebSocket path (`--paths asgi,fast`, `--rounds N` alternating, each in a fresh
server): `fast` serves /spreed below ASGI (server/ws_fast.py, the default), `asgi` is hypercorn's
path (`fast_websocket = false`); the server's CPU per relayed message compares them.
Requests are pre-built bytes on raw keep-alive sockets (HTTP) and trio-websocket frames: httpx
costs more than the server does and would measure itself. Only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
API = "/ocs/v2.php/apps/spreed/api/v1"
BASE_HEADERS = "OCS-APIRequest: true\r\nAccept: application/json\r\n"


# -- a minimal keep-alive HTTP/1.1 client ----------------------------------------------------------

class RawHttp:
    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self.stream, self.host, self.buffer, self.cookie = stream, host, b"", ""
        self.requests = 0

    @classmethod
    async def open(cls, port: int) -> "RawHttp":
        return cls(await trio.open_tcp_stream("127.0.0.1", port), f"127.0.0.1:{port}")

    def build(self, method: str, path: str, body: bytes = b"", extra: str = "",
              content_type: str = "application/x-www-form-urlencoded") -> bytes:
        head = f"{method} {API}{path} HTTP/1.1\r\nHost: {self.host}\r\n{BASE_HEADERS}{extra}"
        if self.cookie:
            head += f"Cookie: {self.cookie}\r\n"
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + body

    async def send(self, request: bytes) -> None:
        if self.requests >= 900:      # hypercorn closes a keep-alive connection after 1000 requests
            await self.stream.aclose()
            self.stream = await trio.open_tcp_stream("127.0.0.1", int(self.host.rsplit(":", 1)[1]))
            self.requests, self.buffer = 0, b""
        self.requests += 1
        await self.stream.send_all(request)

    async def response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buffer:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "set-cookie" and not self.cookie:
                self.cookie = value.strip().split(";")[0]
        while len(rest) < length:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rest += chunk
        self.buffer = rest[length:]
        return status, rest[:length]

    async def call(self, method: str, path: str, body: bytes = b"", extra: str = "") -> tuple[int, dict]:
        await self.send(self.build(method, path, body, extra))
        status, payload = await self.response()
        return status, json.loads(payload) if payload else {}


# -- Parley in a subprocess ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_parley(data_dir: str, port: int, profile: str | None = None, fast: bool = True) -> subprocess.Popen:
    python = sys.executable
    subprocess.run([python, "-m", "server", "user", "add", "bench", "--password", "bench-password",
                    "--data-dir", data_dir], cwd=ROOT, check=True, capture_output=True)
    wrapper = ["-m", "cProfile", "-o", profile] if profile else []
    log = open(Path(data_dir) / "server.log", "w")
    env = dict(os.environ, PARLEY_FAST_WEBSOCKET="1" if fast else "0")
    process = subprocess.Popen([python, *wrapper, "-m", "server", "serve", "--bind", f"127.0.0.1:{port}",
                                "--data-dir", data_dir], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)   # ok: waiting for the subprocess to bind
    process.kill()
    raise SystemExit("Parley did not start: " + (Path(data_dir) / "server.log").read_text()[-2000:])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- setup helpers -----------------------------------------------------------------------------------

AUTH = "Authorization: Basic " + base64.b64encode(b"bench:bench-password").decode() + "\r\n"


async def create_room(owner: RawHttp) -> str:
    status, body = await owner.call("POST", "/room", b"roomType=3&roomName=bench", AUTH)
    assert status == 201, body
    return body["ocs"]["data"]["token"]


async def guest(port: int, token: str) -> tuple[RawHttp, str, str]:
    """A guest with its own cookie, joined to `token`: (connection, Talk session id, ticket)."""
    http = await RawHttp.open(port)
    status, body = await http.call("POST", f"/room/{token}/participants/active")
    assert status == 200, body
    session = body["ocs"]["data"]["sessionId"]
    _, settings = await http.call("GET", "/signaling/settings")
    return http, session, settings["ocs"]["data"]["ticket"]


async def ws_join(port: int, token: str, session: str, ticket: str, nursery: trio.Nursery):
    ws = await nursery_ws(port, nursery)
    await ws.send_message(json.dumps({"type": "hello", "id": "1", "hello": {"version": "1.0", "auth": {
        "url": "", "params": {"userid": None, "ticket": ticket}}}}))
    assert json.loads(await ws.get_message())["type"] == "hello"
    await ws.send_message(json.dumps({"type": "room", "id": "2", "room": {"roomid": token, "sessionid": session}}))
    while json.loads(await ws.get_message()).get("id") != "2":
        pass
    return ws


async def nursery_ws(port: int, nursery: trio.Nursery):
    from trio_websocket import connect_websocket_url
    return await connect_websocket_url(nursery, f"ws://127.0.0.1:{port}/spreed", max_message_size=1 << 20)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": pick(0.50) * 1e3, "p99_ms": pick(0.99) * 1e3,
            "mean_ms": statistics.fmean(ordered) * 1e3, "max_ms": ordered[-1] * 1e3}


# -- 1. polling latency ------------------------------------------------------------------------------

async def polling_latency(port: int, owner: RawHttp, samples: int) -> dict[str, float]:
    token = await create_room(owner)
    sender, s_session, _ = await guest(port, token)
    receiver, r_session, _ = await guest(port, token)
    await receiver.call("GET", f"/signaling/{token}")          # the first pull answers at once
    payload = json.dumps({"to": r_session, "type": "candidate", "payload": {"candidate": "x" * 200}})
    form = "messages=" + urllib.parse.quote(json.dumps(
        [{"ev": "message", "fn": payload, "sessionId": s_session}]))
    post = sender.build("POST", f"/signaling/{token}", form.encode())
    pull = receiver.build("GET", f"/signaling/{token}")
    results = []
    for _ in range(samples):
        await receiver.send(pull)
        await trio.sleep(0.004)                                    # let the pull park
        start = time.perf_counter()
        await sender.send(post)
        status, body = await receiver.response()
        results.append(time.perf_counter() - start)
        assert status == 200 and b'"type":"message"' in body, body[:200]
        await sender.response()
    return percentiles(results)


# -- 2. WebSocket latency ----------------------------------------------------------------------------

async def websocket_latency(port: int, owner: RawHttp, samples: int) -> dict[str, float]:
    token = await create_room(owner)
    _, s_session, s_ticket = await guest(port, token)
    _, r_session, r_ticket = await guest(port, token)
    async with trio.open_nursery() as nursery:
        sender = await ws_join(port, token, s_session, s_ticket, nursery)
        receiver = await ws_join(port, token, r_session, r_ticket, nursery)
        frame = json.dumps({"type": "message", "message": {"recipient": {"type": "session", "sessionid": r_session},
                                                             "data": {"type": "candidate", "payload": "x" * 200}}})
        results = []
        for _ in range(samples):
            start = time.perf_counter()
            await sender.send_message(frame)
            while json.loads(await receiver.get_message())["type"] != "message":
                pass
            results.append(time.perf_counter() - start)
        nursery.cancel_scope.cancel()
    return percentiles(results)


# -- 3. WebSocket throughput -------------------------------------------------------------------------

async def websocket_throughput(port: int, owner: RawHttp, pairs: int, seconds: float, window: int,
                               server_pid: int, py_spy: str | None = None) -> dict[str, float]:
    clients = []
    for _ in range(pairs):
        token = await create_room(owner)
        a, b = await guest(port, token), await guest(port, token)
        clients.append((token, a[1], a[2], b[1], b[2]))
    n = pairs * 2
    sent = [0] * n
    received = [0] * n              # messages received *from* client i
    duplicates = out_of_order = 0
    next_expected = [0] * n
    stop = trio.Event()
    progress = [trio.Event() for _ in range(n)]

    async with trio.open_nursery() as nursery:
        sockets, sessions = [], []
        for token, sa, ta, sb, tb in clients:
            sockets.append(await ws_join(port, token, sa, ta, nursery))
            sockets.append(await ws_join(port, token, sb, tb, nursery))
            sessions += [sa, sb]
        partner = [i ^ 1 for i in range(n)]
        prefix = [json.dumps({"type": "message", "message": {"recipient": {"type": "session",
                  "sessionid": sessions[partner[i]]}, "data": {"s": i, "n": 0}}})[:-4] for i in range(n)]
        pad = "x" * 64

        async def sender(i: int) -> None:
            ws = sockets[i]
            rng = random.Random(i)
            while not stop.is_set():
                while sent[i] - received[i] >= window and not stop.is_set():
                    progress[i] = trio.Event()
                    await progress[i].wait()
                if stop.is_set():
                    return
                body = f'{prefix[i]}{sent[i]},"p":"{pad[:rng.randint(8, 64)]}"}}}}}}'
                sent[i] += 1
                await ws.send_message(body)

        async def receiver(i: int) -> None:
            nonlocal duplicates, out_of_order
            ws = sockets[i]
            while True:
                frame = json.loads(await ws.get_message())
                if frame["type"] != "message":
                    continue
                data = frame["message"]["data"]
                origin, seq = data["s"], data["n"]
                if seq < next_expected[origin]:
                    duplicates += 1
                elif seq > next_expected[origin]:
                    out_of_order += 1
                next_expected[origin] = max(next_expected[origin], seq + 1)
                received[origin] += 1
                progress[origin].set()

        for i in range(n):
            nursery.start_soon(receiver, i)
        await trio.sleep(0.5)                              # join events settle
        spy = None
        if py_spy:   # sample the server during the measured window only (not the set-up)
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server_pid),
                                    "--duration", str(int(seconds)), "--format", "raw", "--nonblocking",
                                    "-o", py_spy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0, t0, own0 = cpu_seconds(server_pid), time.perf_counter(), time.process_time()
        for i in range(n):
            nursery.start_soon(sender, i)
        await trio.sleep(seconds)
        stop.set()
        for event in progress:
            event.set()
        sent_total = sum(sent)
        with trio.move_on_after(10):                       # drain: everything sent must arrive
            while sum(received) < sent_total:
                await trio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(server_pid) - cpu0
        own = time.process_time() - own0
        if spy is not None:
            await trio.to_thread.run_sync(spy.wait)
        nursery.cancel_scope.cancel()
    received_total = sum(received)
    return {"sessions": n, "seconds": round(elapsed, 2), "sent": sent_total, "received": received_total,
            "lost": sent_total - received_total, "duplicated": duplicates, "out_of_order": out_of_order,
            "msgs_per_s": received_total / elapsed, "server_cpu_s": round(cpu, 2),
            "server_cpu_us_per_msg": cpu / max(1, received_total) * 1e6,
            "load_generator_cpu_s": round(own, 2)}


PATHS = {"fast": True, "asgi": False}


async def run_one(args: argparse.Namespace, path: str, polling: bool, py_spy: str | None) -> dict:
    """One Parley process serving /spreed on `path`: latencies and the throughput run."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as data_dir:
        process = start_parley(data_dir, port, args.profile, PATHS[path])
        try:
            owner = await RawHttp.open(port)
            results = {"path": path}
            if polling:
                results["polling_latency"] = await polling_latency(port, owner, args.samples)
            results["websocket_latency"] = await websocket_latency(port, owner, args.samples)
            results["websocket_throughput"] = await websocket_throughput(
                port, owner, args.pairs, args.seconds, args.window, process.pid, py_spy)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return results


async def main(args: argparse.Namespace) -> dict:
    """Each path in `--paths`, `--rounds` times, alternating (so both see the same machine load)."""
    runs = []
    for round_ in range(args.rounds):
        for path in args.paths.split(","):
            spy = f"{args.py_spy}.{path}.{round_}" if args.py_spy else None
            runs.append(await run_one(args, path, polling=not runs, py_spy=spy))
    return {"polling_latency": runs[0]["polling_latency"], "runs": runs,
            "load_average": os.getloadavg()}


def report(results: dict) -> bool:
    pl = results["polling_latency"]
    print(f"polling relay latency   n={pl['n']}  p50 {pl['p50_ms']:.2f} ms  p99 {pl['p99_ms']:.2f} ms  "
          f"max {pl['max_ms']:.2f} ms")
    checks = [("polling p50 <= 5 ms", pl["p50_ms"] <= 5), ("polling p99 <= 20 ms", pl["p99_ms"] <= 20)]
    for run in results["runs"]:
        wl, tp, path = run["websocket_latency"], run["websocket_throughput"], run["path"]
        print(f"[{path}] websocket relay latency n={wl['n']}  p50 {wl['p50_ms']:.2f} ms  "
              f"p99 {wl['p99_ms']:.2f} ms  max {wl['max_ms']:.2f} ms")
        print(f"[{path}] websocket throughput    {tp['sessions']} sessions, {tp['received']} msgs in "
              f"{tp['seconds']} s = {tp['msgs_per_s']:.0f} msgs/s; lost {tp['lost']}, duplicated "
              f"{tp['duplicated']}, out of order {tp['out_of_order']}\n"
              f"[{path}]   CPU over the run: server {tp['server_cpu_s']} s "
              f"({tp['server_cpu_us_per_msg']:.0f} us/msg), load generator {tp['load_generator_cpu_s']} s")
        checks += [(f"[{path}] websocket p99 <= 10 ms", wl["p99_ms"] <= 10),
                   (f"[{path}] throughput >= 3000 msgs/s", tp["msgs_per_s"] >= 3000),
                   (f"[{path}] none lost", tp["lost"] == 0), (f"[{path}] none duplicated", tp["duplicated"] == 0)]
    print("load average at the end: " + " ".join(f"{x:.2f}" for x in results["load_average"]))
    for name, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {name}")
    return all(ok for _, ok in checks)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000, help="latency samples per transport")
    parser.add_argument("--pairs", type=int, default=100, help="WebSocket session pairs (2 sessions each)")
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput phase duration")
    parser.add_argument("--window", type=int, default=8, help="messages in flight per sender")
    parser.add_argument("--paths", default="asgi,fast", help="WebSocket paths to compare, in order: "
                        "fast (below ASGI, the default) and/or asgi (hypercorn's, fast_websocket = false)")
    parser.add_argument("--rounds", type=int, default=1, help="how many times to run each path, alternating")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON too")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile, stats to FILE")
    parser.add_argument("--py-spy", metavar="FILE", help="py-spy (pip install py-spy) samples the server "
                        "during the throughput window; collapsed stacks to FILE.<path>.<round>")
    args = parser.parse_args()
    results = trio.run(main, args)
    if args.json:
        print(json.dumps(results, indent=2))
    sys.exit(0 if report(results) else 1)
