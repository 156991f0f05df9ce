"""Graceful-shutdown benchmark: SIGTERM with thousands of parked clients.

    make bench-shutdown        (= .venv/bin/python bench/shutdown.py)

`parley serve` runs in a subprocess (fresh data dir) with $NOTIFY_SOCKET pointing at a datagram
socket this script bound, as systemd would. The script parks
  * `--polls` chat long-polls (default 3,000; one keep-alive connection each, timeout 60 s),
  * `--pulls` signaling pulls (default 200; one guest session each, Talk's 30 s pull),
  * `--sockets` WebSocket signaling sessions (default 100; hello + room join),
waits until /metrics reports them parked, sends SIGTERM and measures, from the signal:
  * when each client got its answer (304 / 200 pull / close frame 1001), p50 / max per kind,
  * when STOPPING=1 arrived and when the process exited (and its exit code),
  * the server's CPU time from the signal to its exit (the figure a loaded machine does not skew).
It fails if any client got something else or nothing. Client-side work is plain sockets built
before the clock starts (see bench/chat_fanout.py), so the numbers are the server's.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_fanout import API, PARLEY, Http, build, free_port, ms, percentile, raise_fd_limit  # noqa: E402


def guest_request(method: str, path: str, cookie: str = "") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "OCS-APIRequest: true", "Accept: application/json"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if method != "GET":
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="parley-shutdown-")
        self.notify_name = f"parley-bench-{secrets.token_hex(6)}"
        self.env = {**os.environ, "PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024",
                    "PARLEY_AUTH_CACHE_SECONDS": "86400", "PARLEY_LOG_LEVEL": "info",
                    "NOTIFY_SOCKET": "@" + self.notify_name}
        self.answers: dict[str, list[float]] = {"poll": [], "pull": [], "websocket": []}
        self.wrong: list[str] = []
        self.sigterm_at = 0.0

    async def start(self) -> None:
        self.notify = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        await self.notify.bind("\0" + self.notify_name)
        subprocess.run([str(PARLEY), "user", "add", "admin", "--password", "admin", "--admin", "--data-dir",
                        self.dir], env=self.env, check=True, capture_output=True)
        self.log = open(Path(self.dir) / "server.log", "w")
        started = time.perf_counter()
        self.process = subprocess.Popen([str(PARLEY), "serve", "--bind", f"127.0.0.1:{self.port}",
                                         "--data-dir", self.dir], env=self.env, stdout=self.log, stderr=self.log)
        with trio.fail_after(60):
            ready = (await self.notify.recv(4096)).decode()
        self.ready_after = time.perf_counter() - started
        assert ready.startswith("READY=1"), ready
        admin = await Http.open(self.port)
        room = await admin.json(build("POST", f"{API}/room", "admin", {"roomType": 3, "roomName": "bench"}), 201)
        self.token = room["ocs"]["data"]["token"]
        await admin.json(build("POST", f"{API}/chat/{self.token}", "admin", {"message": "hello"}), 201)
        page = await admin.json(build("GET", f"{API}/chat/{self.token}?lookIntoFuture=0&limit=1", "admin"))
        self.last = page["ocs"]["data"][0]["id"]
        await admin.stream.aclose()

    async def metric(self, name: str) -> float:
        conn = await Http.open(self.port)   # a fresh connection: set-up outlasts the keep-alive timeout
        status, _, body = await conn.call(build("GET", "/metrics"))
        await conn.stream.aclose()
        assert status == 200, status
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise RuntimeError(f"{name} missing from /metrics")

    # -- clients --------------------------------------------------------------------------------

    def answered(self, kind: str, ok: bool, what: str) -> None:
        if ok:
            self.answers[kind].append(time.perf_counter() - self.sigterm_at)
        else:
            self.wrong.append(f"{kind}: {what}")

    async def poll(self, conn: Http) -> None:
        request = build("GET", f"{API}/chat/{self.token}?lookIntoFuture=1&lastKnownMessageId={self.last}"
                               "&timeout=60", "admin")
        try:
            while True:
                status, _, body = await conn.call(request)
                if self.sigterm_at or status != 304:
                    break    # else its 60 s passed while the others were still connecting: again
            self.answered("poll", status == 304 and body == b"", f"status {status}")
        except (EOFError, OSError, trio.BrokenResourceError) as exc:
            self.answered("poll", False, repr(exc))

    async def guest(self) -> tuple[Http, str, str]:
        """A guest connection with a Talk session in the room: (connection, cookie, session id)."""
        conn = await Http.open(self.port)
        await conn.stream.send_all(guest_request("POST", f"{API}/room/{self.token}/participants/active"))
        status, headers, body = await conn.response()
        assert status == 200, (status, body[:200])
        cookie = headers["set-cookie"].split(";", 1)[0]
        return conn, cookie, json.loads(body)["ocs"]["data"]["sessionId"]

    async def pull(self, conn: Http, cookie: str) -> None:
        request = guest_request("GET", f"{API}/signaling/{self.token}", cookie)
        status, _, _ = await conn.call(request)          # the first pull answers at once
        assert status == 200, status
        try:
            while True:
                status, _, body = await conn.call(request)   # this one parks (30 s at most)
                if self.sigterm_at or status != 200:
                    break
            ok = status == 200 and json.loads(body)["ocs"]["data"][-1]["type"] == "usersInRoom"
            self.answered("pull", ok, f"status {status}")
        except (EOFError, OSError, trio.BrokenResourceError) as exc:
            self.answered("pull", False, repr(exc))

    async def websocket(self, conn: Http, cookie: str, session: str, ready: trio.Event) -> None:
        status, _, body = await conn.call(guest_request("GET", f"{API}/signaling/settings", cookie))
        ticket = json.loads(body)["ocs"]["data"]["ticket"]
        async with open_websocket_url(f"ws://127.0.0.1:{self.port}/spreed") as ws:
            await ws.send_message(json.dumps({"type": "hello", "id": "1", "hello": {
                "version": "1.0", "auth": {"url": "", "params": {"userid": None, "ticket": ticket}}}}))
            assert json.loads(await ws.get_message())["type"] == "hello"
            await ws.send_message(json.dumps({"type": "room", "id": "2", "room": {
                "roomid": self.token, "sessionid": session}}))
            while json.loads(await ws.get_message()).get("id") != "2":
                pass
            ready.set()
            try:
                while True:
                    await ws.get_message()
            except ConnectionClosed as closed:
                self.answered("websocket", closed.reason.code == 1001, f"close code {closed.reason.code}")

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> dict:
        args = self.args
        await self.start()
        limiter = trio.CapacityLimiter(100)
        async with trio.open_nursery() as clients:
            async def open_poll() -> None:
                async with limiter:
                    conn = await Http.open(self.port)
                clients.start_soon(self.poll, conn)

            async def open_pull() -> None:
                async with limiter:
                    conn, cookie, _ = await self.guest()
                clients.start_soon(self.pull, conn, cookie)

            async def open_socket() -> None:
                async with limiter:
                    conn, cookie, session = await self.guest()
                    ready = trio.Event()
                    clients.start_soon(self.websocket, conn, cookie, session, ready)
                    await ready.wait()
            async with trio.open_nursery() as opening:
                for _ in range(args.polls):
                    opening.start_soon(open_poll)
                for _ in range(args.pulls):
                    opening.start_soon(open_pull)
                for _ in range(args.sockets):
                    opening.start_soon(open_socket)
            with trio.fail_after(300):
                while (await self.metric("parley_chat_polls_parked") < args.polls
                       or await self.metric("parley_signaling_pulls_parked") < args.pulls
                       or await self.metric("parley_websocket_connections") < args.sockets):
                    await trio.sleep(0.1)
            rss = rss_kib(self.process.pid)
            spy = None
            if args.py_spy:   # profile the stop only (collapsed stacks, for flame graphs)
                spy = subprocess.Popen([str(PARLEY.parent / "py-spy"), "record", "--format", "raw", "--rate", "500",
                                        "--nonblocking", "-o", args.py_spy, "--pid", str(self.process.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await trio.sleep(1)
            cpu_before = cpu_seconds(self.process.pid)
            self.sigterm_at = time.perf_counter()
            self.process.send_signal(signal.SIGTERM)
            with trio.fail_after(60):
                stopping = (await self.notify.recv(4096)).decode()
                stopping_after = time.perf_counter() - self.sigterm_at
                while True:   # wait4, not Popen.poll: the child's total CPU time comes with it
                    pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
                    if pid:
                        break
                    await trio.sleep(0.005)
            exited_after = time.perf_counter() - self.sigterm_at
            self.process.returncode = os.waitstatus_to_exitcode(status)
            stop_cpu = usage.ru_utime + usage.ru_stime - cpu_before
            if spy is not None:
                spy.wait(timeout=30)
        self.log.close()
        expected = {"poll": args.polls, "pull": args.pulls, "websocket": args.sockets}
        missing = {k: expected[k] - len(v) for k, v in self.answers.items() if len(v) != expected[k]}
        result = {
            "parked": expected, "server_rss_mib_parked": round(rss / 1024, 1), "ready_after_ms": ms(self.ready_after),
            "stopping_notified": stopping == "STOPPING=1", "stopping_after_ms": ms(stopping_after),
            "exit_code": self.process.returncode, "exited_after_ms": ms(exited_after),
            "server_cpu_during_stop_ms": ms(stop_cpu),
            "answers_ms": {k: {"p50": ms(percentile(v, 50)), "max": ms(max(v))} for k, v in self.answers.items() if v},
            "wrong": self.wrong[:10], "missing": missing, "load_average": os.getloadavg(),
        }
        return result


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=3000)
    parser.add_argument("--pulls", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--py-spy", help="profile the server's stop into this file (needs `.venv/bin/pip install py-spy`)")
    args = parser.parse_args()
    print(f"fd limit {raise_fd_limit()}, {os.cpu_count()} cores, load average {os.getloadavg()}", flush=True)
    bench = Bench(args)
    result = trio.run(bench.run)
    print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    ok = (result["exit_code"] == 0 and result["stopping_notified"] and not result["wrong"] and not result["missing"])
    print("server log:", Path(bench.dir) / "server.log")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
