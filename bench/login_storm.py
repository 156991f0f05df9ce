"""Login-storm benchmark: N users' first Basic-auth requests at once, plus M requests with random
credentials, against a freshly restarted Parley (`make bench-login`, docs/PERFORMANCE.md).

Steps: start Parley as a subprocess on a temporary data directory, create an admin with the CLI
and N users through the provisioning API, restart the server (every client now has to log in
again, as after an upgrade), then fire at once:
- N requests `GET /ocs/v2.php/cloud/user`, one per user, each from its own loopback address
  (127.0.1.x: a reconnect storm comes from many clients); a 503 is retried after its Retry-After;
- M requests with random user ids and passwords from `--flood-addresses` addresses (127.0.2.x),
  each sent once;
- meanwhile, an unauthenticated `GET /ocs/v2.php/cloud/capabilities` every 20 ms on one
  keep-alive connection.
Printed: the time until every user was served, the server's RSS before the storm and its peak
during it (VmHWM, reset just before the storm), the capabilities latency, what the users needed
(503 retries) and what the flood got. Then a flood alone (`--sustained`, 1000 random credentials
from fresh addresses, 50 in flight): how many were hashed (401) or refused (429), and the server's
CPU time per request.

`--server-root DIR` runs the server from another source tree (e.g. `git archive` of an older
commit), for a before/after comparison with the same load generator. Requests are pre-built and
sent on raw sockets: an HTTP client library would cost more CPU than the server's own work.
"""
from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("admin", "admin-password-0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def request_bytes(method: str, path: str, port: int, *, auth: tuple[str, str] | None = None,
                  body: str = "", keep_alive: bool = False) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "OCS-APIRequest: true",
             "Accept: application/json", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    if auth:
        lines.append(f"Authorization: Basic {basic(*auth)}")
    if body:
        lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


async def connect(port: int, source: str = "127.0.0.1") -> trio.SocketStream:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


def parse_head(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, rest


async def one_shot(port: int, payload: bytes, source: str) -> tuple[int, dict[str, str]]:
    """Send one request on a fresh connection (Connection: close) and read the whole answer."""
    stream = await connect(port, source)
    async with stream:
        await stream.send_all(payload)
        chunks = []
        while chunk := await stream.receive_some(65536):
            chunks.append(chunk)
    status, headers, _ = parse_head(b"".join(chunks))
    return status, headers


class KeepAlive:
    """One keep-alive connection answering one request at a time (Content-Length bodies). When
    the server closes it (hypercorn does after 1000 requests) it reconnects, within the request."""

    def __init__(self, port: int) -> None:
        self.port, self.stream, self.buffer = port, None, b""

    async def _receive(self) -> bytes:
        chunk = await self.stream.receive_some(65536)
        if not chunk:
            raise EOFError
        return chunk

    async def request(self, payload: bytes) -> int:
        for _ in range(3):
            if self.stream is None:
                self.stream, self.buffer = await connect(self.port), b""
            try:
                await self.stream.send_all(payload)
                while b"\r\n\r\n" not in self.buffer:
                    self.buffer += await self._receive()
                status, headers, rest = parse_head(self.buffer)
                length = int(headers.get("content-length", "0"))
                while len(rest) < length:
                    rest += await self._receive()
            except (EOFError, trio.BrokenResourceError, OSError):
                await self.stream.aclose()
                self.stream = None
                continue
            self.buffer = rest[length:]
            if headers.get("connection", "").lower() == "close":
                await self.stream.aclose()
                self.stream = None
            return status
        raise SystemExit("the server keeps closing the capabilities connection")


# -- the server subprocess -----------------------------------------------------------------------

def start_server(root: Path, data_dir: Path, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PARLEY_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "server", "serve", "--bind", f"127.0.0.1:{port}",
                             "--data-dir", str(data_dir)], cwd=root, env=env, stdout=log, stderr=log)


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def wait_ready(port: int, proc: subprocess.Popen) -> None:
    payload = request_bytes("GET", "/ocs/v2.php/cloud/capabilities", port)
    with trio.fail_after(60):
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                if (await one_shot(port, payload, "127.0.0.1"))[0] == 200:
                    return
            except OSError:
                pass
            await trio.sleep(0.1)


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0])
    return values


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")   # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- the storm -------------------------------------------------------------------------------------

async def create_users(port: int, count: int, password: str) -> int:
    """Through the provisioning API, four at a time; returns how many 503s were retried."""
    retries = 0
    limiter = trio.CapacityLimiter(4)

    async def create(n: int) -> None:
        nonlocal retries
        body = f"userid=user{n}&password={password}"
        payload = request_bytes("POST", "/ocs/v2.php/cloud/users", port, auth=ADMIN, body=body)
        async with limiter:
            while True:
                status, headers = await one_shot(port, payload, "127.0.0.1")
                if status == 200:
                    return
                if status not in (503, 429):
                    raise SystemExit(f"creating user{n} answered {status}")
                retries += 1
                await trio.sleep(float(headers.get("retry-after", "1")))
    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(create, n)
    return retries


async def storm(port: int, users: int, flood: int, flood_addresses: int, password: str,
                deadline: float) -> dict:
    go = trio.Event()
    done_at: list[float] = []
    user_statuses: list[list[int]] = [[] for _ in range(users)]
    flood_statuses: list[int] = []
    latencies: list[float] = []
    finished = trio.Event()

    async def user(n: int) -> None:
        payload = request_bytes("GET", "/ocs/v2.php/cloud/user", port, auth=(f"user{n}", password))
        source = f"127.0.{1 + n // 250}.{1 + n % 250}"
        await go.wait()
        while True:
            status, headers = await one_shot(port, payload, source)
            user_statuses[n].append(status)
            if status == 200:
                done_at.append(time.perf_counter())
                return
            if status not in (503, 429):
                raise SystemExit(f"user{n} answered {status}")
            await trio.sleep(float(headers.get("retry-after", "1")))

    async def guesser(n: int) -> None:
        payload = request_bytes("GET", "/ocs/v2.php/cloud/user", port,
                                auth=(secrets.token_hex(6), secrets.token_urlsafe(12)))
        source = f"127.0.200.{1 + n % flood_addresses}"
        await go.wait()
        status, _ = await one_shot(port, payload, source)
        flood_statuses.append(status)

    async def prober() -> None:
        payload = request_bytes("GET", "/ocs/v2.php/cloud/capabilities", port, keep_alive=True)
        conn = KeepAlive(port)
        assert await conn.request(payload) == 200
        await go.wait()
        while not finished.is_set():
            started = time.perf_counter()
            assert await conn.request(payload) == 200
            latencies.append(time.perf_counter() - started)
            await trio.sleep(0.02)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(prober)
        for n in range(users):
            nursery.start_soon(user, n)
        for n in range(flood):
            nursery.start_soon(guesser, n)
        await trio.sleep(0.5)   # every task holds its pre-built request
        started = time.perf_counter()
        go.set()
        with trio.move_on_after(deadline):
            while len(done_at) < users or len(flood_statuses) < flood:
                await trio.sleep(0.05)
        finished.set()
        nursery.cancel_scope.cancel()   # after the deadline: whoever is left is reported unserved
    latencies.sort()
    return {
        "seconds": max(done_at) - started if done_at else float("nan"),
        "unserved": users - len(done_at),
        "latencies": latencies,
        "users_retried": sum(1 for s in user_statuses if len(s) > 1),
        "user_503": sum(s.count(503) for s in user_statuses),
        "user_429": sum(s.count(429) for s in user_statuses),
        "flood": {code: flood_statuses.count(code) for code in sorted(set(flood_statuses))},
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


async def sustained_flood(port: int, count: int, addresses: int, pid: int) -> dict:
    """`count` random-credential requests from `addresses` fresh addresses, 50 in flight: how many
    were hashed (401) and refused (429), and the server's CPU per request."""
    statuses: list[int] = []
    limiter = trio.CapacityLimiter(50)

    async def one(n: int) -> None:
        payload = request_bytes("GET", "/ocs/v2.php/cloud/user", port,
                                auth=(secrets.token_hex(6), secrets.token_urlsafe(12)))
        async with limiter:
            statuses.append((await one_shot(port, payload, f"127.0.201.{1 + n % addresses}"))[0])
    cpu, started = cpu_seconds(pid), time.perf_counter()
    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(one, n)
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds(pid) - cpu,
            "statuses": {code: statuses.count(code) for code in sorted(set(statuses))}}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def main(args: argparse.Namespace) -> None:
    root = Path(args.server_root).resolve()
    password = "storm-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="parley-login-storm-") as tmp:
        data_dir = Path(tmp) / "data"
        log = open(Path(tmp) / "server.log", "wb")
        env = {**os.environ, "PYTHONPATH": str(root)}
        env.pop("PARLEY_CONFIG", None)
        subprocess.run([sys.executable, "-m", "server", "user", "add", ADMIN[0], "--password", ADMIN[1],
                        "--admin", "--data-dir", str(data_dir)], cwd=root, env=env, check=True,
                       capture_output=True)
        port = free_port()
        proc = start_server(root, data_dir, port, log)
        try:
            await wait_ready(port, proc)
            created_at = time.perf_counter()
            retries = await create_users(port, args.users, password)
            print(f"created {args.users} users through the provisioning API in "
                  f"{time.perf_counter() - created_at:.1f} s ({retries} retried after 503/429)")
        finally:
            stop_server(proc)
        proc = start_server(root, data_dir, port, log)   # a restart: every client logs in again
        try:
            await wait_ready(port, proc)
            await trio.sleep(1)
            before = memory_kib(proc.pid)
            peak_reset = reset_peak(proc.pid)
            print(f"server from {root}; load average before the storm: {load_average()}")
            result = await storm(port, args.users, args.flood, args.flood_addresses, password, args.deadline)
            after = memory_kib(proc.pid)
            flood = await sustained_flood(port, args.sustained, args.flood_addresses, proc.pid) if args.sustained else None
        finally:
            stop_server(proc)
            log.close()
    lat = result["latencies"]
    print(f"storm: {args.users} users (one address each) + {args.flood} random credentials "
          f"from {args.flood_addresses} address(es)")
    if result["unserved"]:
        print(f"  NOT SERVED within {args.deadline:.0f} s: {result['unserved']} users "
              f"(the last served after {result['seconds']:.2f} s)")
    else:
        print(f"  every user served after       {result['seconds']:.2f} s")
    print(f"  users that needed a retry     {result['users_retried']} "
          f"({result['user_503']} answers 503, {result['user_429']} answers 429)")
    print(f"  random credentials answered   " + ", ".join(f"{n}× {code}" for code, n in result["flood"].items()))
    peak_note = "" if peak_reset else " (VmHWM could not be reset: includes start-up)"
    print(f"  server RSS before / peak / after  {before['VmRSS'] / 1024:.1f} / {after['VmHWM'] / 1024:.1f} / "
          f"{after['VmRSS'] / 1024:.1f} MiB  (peak growth {(after['VmHWM'] - before['VmRSS']) / 1024:.1f} MiB)"
          + peak_note)
    print(f"  capabilities during the storm  n={len(lat)} p50 {percentile(lat, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(lat, 0.99) * 1000:.1f} ms, max {max(lat) * 1000 if lat else float('nan'):.1f} ms")
    if flood is not None:
        print(f"then a flood alone: {args.sustained} random credentials from {args.flood_addresses} fresh "
              f"address(es), 50 in flight")
        print(f"  answered in {flood['seconds']:.2f} s: " + ", ".join(f"{n}× {code}" for code, n in flood["statuses"].items())
              + f"; server CPU {flood['cpu']:.2f} s ({flood['cpu'] / args.sustained * 1000:.2f} ms per request)")
    print(f"  load average after: {load_average()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--flood", type=int, default=200)
    parser.add_argument("--flood-addresses", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=300, help="give up on the storm after this many seconds")
    parser.add_argument("--sustained", type=int, default=1000,
                        help="random-credential requests sent after the storm (0: skip)")
    parser.add_argument("--server-root", default=str(ROOT), help="source tree to run the server from")
    trio.run(main, parser.parse_args())
