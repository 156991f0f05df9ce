"""Cluster benchmark: what a second Parley node buys, what the Redis hop costs, PostgreSQL vs SQLite.

    make bench-cluster          (= .venv/bin/python bench/cluster.py; about 5 minutes)

Everything runs on this machine, started by the script in temp dirs on free loopback ports: one
PostgreSQL (tests/pg_support.py), one redis-server, and two `parley serve` subprocesses (nodes A
and B) on that PostgreSQL and that Redis, node A pinned to CPU 0 and node B to CPU 1 (when the
machine has two). PostgreSQL, Redis and the load generators are not pinned. Cases, measured side
by side in one run and repeated (`--repeat`), the modes alternating:

  rps   authenticated `GET /room` (Basic auth, `--users` users, each in two group rooms of ten, a
        cached password) from two `wrk` processes with `--connections` keep-alive connections in
        all, for `--seconds`: "one node" sends everything to A, "two nodes" half to A, half to B.
        Requests per second, and the CPU of wrk, each node, PostgreSQL and the whole machine.
  wake  `--polls` parked chat long-polls in one room of `--pollers` users (one keep-alive
        connection each, the users in turn): "one node" parks them all on A, "two nodes"
        alternately on A and B; the admin posts once, on A; time until the last poll has its
        answer (each poll re-polls at once, as clients do), and the CPU each part used meanwhile.
  hop   one parked poll, one post on A: the poll on A ("same node") or on B ("cross node", woken
        over Redis), the two alternating; post start → poll answered, p50/p99; extra = cross − same.
  fanout cases (a) and (b) of bench/chat_fanout.py (its own code, imported) on a single node,
        SQLite data dir vs a database on the PostgreSQL above, alternating.

Targets (issue 13): two/one ≥ 1.6× for rps and wake; hop extra p50 ≤ 2 ms, p99 ≤ 10 ms. Exit
status 0 when all are met, 3 when one is missed (1: it failed). The load generators share the two cores with the nodes (wrk is C, its
CPU is reported); on this shared machine also read the "machine busy" figure: other tenants' work
is whatever the machine did beyond ours.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chat_fanout import (API, PARLEY, PASSWORD, Fanout, Http, Server, build, free_port,  # noqa: E402
                               last_id, ms, percentile, raise_fd_limit, run_rounds)
from tests import pg_support  # noqa: E402
from tests.cluster.conftest import RedisServer  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_RATIO, TARGET_HOP_P50_MS, TARGET_HOP_P99_MS = 1.6, 2.0, 10.0


# -- CPU accounting from /proc ------------------------------------------------------------------

def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (all its threads); with `children`, plus its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return used / CLK_TCK


def postgres_cpu(postmaster: int) -> float:
    """The postmaster, its live backends and every backend that already exited (cutime)."""
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == postmaster:
                    total += (int(stat[11]) + int(stat[12])) / CLK_TCK
            except (OSError, IndexError):
                continue   # exited meanwhile
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


class CpuMeter:
    """CPU used by each of ours between `start()` and `stop()`, and by the machine."""

    def __init__(self, cluster: "Cluster") -> None:
        self.cluster = cluster

    def _sample(self) -> dict[str, float]:
        c = self.cluster
        busy, total = machine_busy()
        return {"node_a": cpu_seconds(c.nodes[0].process.pid), "node_b": cpu_seconds(c.nodes[1].process.pid),
                "postgres": postgres_cpu(c.pg.process.pid), "redis": cpu_seconds(c.redis.process.pid),
                "bench": time.process_time(), "machine": busy, "_total": total, "_wall": time.perf_counter()}

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        wall = after["_wall"] - self.before["_wall"]
        used = {k: round((after[k] - self.before[k]) / wall, 2) for k in after if not k.startswith("_")}
        used["wall_s"] = round(wall, 2)
        return used   # in cores (CPU seconds per wall second)


# -- the cluster: PostgreSQL, Redis, two nodes ---------------------------------------------------

def node_env() -> dict[str, str]:
    # As bench/chat_fanout.py: cheap argon2 and a long Basic-auth cache only speed up the set-up;
    # PARLEY_GC_LOG=1 serves /debug/gc, whose hub counters say when polls are parked.
    return {**os.environ, "PARLEY_GC_LOG": "1", "PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024",
            "PARLEY_AUTH_CACHE_SECONDS": "86400", "PARLEY_LOG_LEVEL": "warning"}


class Node:
    """`parley serve` on the cluster's PostgreSQL and Redis, pinned to one CPU."""

    def __init__(self, name: str, workdir: str, database_url: str, redis_url: str, cpu: int | None) -> None:
        self.name, self.cpu, self.port = name, cpu, free_port()
        self.dir = os.path.join(workdir, f"node-{name}")
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.args = [str(PARLEY), "serve", "--bind", f"127.0.0.1:{self.port}", "--data-dir", self.dir,
                     "--database-url", database_url, "--redis-url", redis_url]
        self.process: subprocess.Popen | None = None
        self.debug_conn: Http | None = None

    def start(self) -> None:
        cpu = self.cpu
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        # A session of its own: with the kernel's autogroup scheduling (on by default) CPU is shared
        # fairly between sessions, so on a busy machine two nodes in the benchmark's session would
        # get no more CPU than one. Alone, each gets the share a process on its own core would.
        self.process = subprocess.Popen(self.args, env=node_env(), stdout=self.log, stderr=self.log,
                                        preexec_fn=pin, start_new_session=True)

    async def ready(self) -> None:
        with trio.fail_after(60):
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"node {self.name} exited: {Path(self.dir, 'server.log').read_text()[-2000:]}")
                try:
                    self.debug_conn = await Http.open(self.port)
                    await self.waiters()
                    return
                except OSError:
                    await trio.sleep(0.05)

    async def gc(self, reset: bool = False) -> dict:
        """The node's garbage-collection figures since the last reset (server/gc_log.py)."""
        self.debug_conn = await Http.open(self.port) if self.debug_conn is None else self.debug_conn
        return (await self.debug_conn.json(build("DELETE" if reset else "GET", "/debug/gc")))["gc"]

    async def waiters(self) -> int:
        try:
            answer = await self.debug_conn.json(build("GET", "/debug/gc"))
        except (EOFError, OSError):   # the idle keep-alive connection timed out between cases
            self.debug_conn = await Http.open(self.port)
            answer = await self.debug_conn.json(build("GET", "/debug/gc"))
        return answer["hub"]["chat_waiters"]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Cluster:
    """The rps users each take part in two group rooms of ten (a room list as a typical user has
    one: a room object lists every participant, so one huge room would measure that list); the
    wake and hop cases use other users, all in one big room."""

    def __init__(self, workdir: str, users: int, pollers: int, pin: bool = True) -> None:
        self.workdir, self.pin = workdir, pin
        self.users = [f"member{i:05d}" for i in range(users)]
        self.pollers = [f"poller{i:05d}" for i in range(pollers)]
        self.token = ""

    async def _room(self, name: str, members: list[str]) -> str:
        room = await self.admin.json(build("POST", f"{API}/room", "admin", {"roomType": 2, "roomName": name}), 201)
        token = room["ocs"]["data"]["token"]
        for user in members:
            await self.admin.json(build("POST", f"{API}/room/{token}/participants", "admin", {"newParticipant": user}))
        await self.admin.json(build("POST", f"{API}/chat/{token}", "admin", {"message": "hello"}), 201)
        return token

    async def start(self) -> None:
        self.pg = pg_support.PostgresServer().start()
        self.database_url = self.pg.create_database("parley_bench")
        os.makedirs(os.path.join(self.workdir, "redis"))
        self.redis = RedisServer(os.path.join(self.workdir, "redis"))
        await self.redis.start()
        cpus = sorted(os.sched_getaffinity(0))
        two = len(cpus) >= 2 and self.pin
        self.nodes = [Node("a", self.workdir, self.database_url, self.redis.url, cpus[0] if two else None),
                      Node("b", self.workdir, self.database_url, self.redis.url, cpus[1] if two else None)]
        # The CLI migrates the schema; then both nodes start together.
        subprocess.run([str(PARLEY), "user", "add", "admin", "--password", "admin", "--admin",
                        "--data-dir", self.nodes[0].dir], env={**node_env(), "PARLEY_DATABASE_URL": self.database_url},
                       check=True, capture_output=True)
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            await node.ready()
        self.admin = await Http.open(self.nodes[0].port)
        for user in self.users + self.pollers:
            await self.admin.json(build("POST", "/ocs/v2.php/cloud/users", "admin",
                                        {"userid": user, "password": PASSWORD}))
        n = len(self.users)
        groups = max(1, n // 10)
        for g in range(groups):   # room g holds users 10g..10g+9, room groups+g every groups-th user
            await self._room(f"team {g}", self.users[g * 10:(g + 1) * 10] if g < groups - 1 else self.users[g * 10:])
            await self._room(f"mix {g}", self.users[g::groups])
        self.token = await self._room("everyone", self.pollers)
        # Every password verified once on every node (each node has its own verification cache).
        for node in self.nodes:
            warm = await Http.open(node.port)
            for user in self.users + self.pollers + ["admin"]:
                await warm.json(build("GET", f"{API}/room", user))
            await warm.stream.aclose()
        await self.admin.stream.aclose()

    async def last_id(self) -> int:
        """The room's newest message id, on a fresh connection (the admin's may have idled out)."""
        self.admin = await Http.open(self.nodes[0].port)
        try:
            return await last_id(self)
        finally:
            await self.admin.stream.aclose()

    async def wait_waiters(self, counts: list[int], timeout: float = 120) -> None:
        with trio.fail_after(timeout):
            while [await node.waiters() for node in self.nodes] != counts:
                await trio.sleep(0.01)

    async def stop_nodes(self) -> None:
        """Both nodes at once, their idle connections closed first (nothing left to drain)."""
        for node in self.nodes:
            if node.debug_conn is not None:
                await node.debug_conn.stream.aclose()
                node.debug_conn = None
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            node.stop()

    def stop(self) -> None:
        for node in getattr(self, "nodes", []):
            node.stop()
        if hasattr(self, "redis"):
            self.redis.stop()
        if hasattr(self, "pg"):
            self.pg.destroy()


# -- rps: GET /room through wrk -------------------------------------------------------------------

WRK_SCRIPT = """
-- Generated by bench/cluster.py: cycle through the users' pre-built Basic-auth requests.
local auth = {%s}
local requests, i = {}, 0
function init(args)
  i = tonumber(args[1]) or 0
  for k, v in ipairs(auth) do
    requests[k] = wrk.format("GET", nil, {["Authorization"] = "Basic " .. v,
                                          ["OCS-APIRequest"] = "true", ["Accept"] = "application/json"})
  end
end
function request()
  i = i %% #requests + 1
  return requests[i]
end
"""


def write_wrk_script(workdir: str, users: list[str]) -> str:
    creds = ",".join('"%s"' % base64.b64encode(f"{u}:{PASSWORD}".encode()).decode() for u in users)
    path = os.path.join(workdir, "room.lua")
    Path(path).write_text(WRK_SCRIPT % creds)
    return path


def parse_wrk(output: str) -> dict[str, Any]:
    done = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    if not done:
        raise RuntimeError(f"unexpected wrk output: {output}")
    seconds = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    latency = {p: re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M) for p in ("50", "99")}
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"requests": int(done.group(1)), "seconds": seconds, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
            **{f"p{p}_ms": round(float(m.group(1)) * scale[m.group(2)], 2) for p, m in latency.items() if m}}


async def run_wrk(ports: list[int], connections: int, seconds: float, script: str, users: int) -> list[dict]:
    """One wrk process per entry of `ports` (each single-threaded, `connections / len` connections),
    all at once; returns each one's figures and its own CPU time (from wait4's rusage)."""
    procs = []
    for n, port in enumerate(ports):
        procs.append(subprocess.Popen(
            ["wrk", "-t1", f"-c{max(1, connections // len(ports))}", f"-d{seconds}s", "--timeout", "20s", "--latency",
             "-s", script,
             f"http://127.0.0.1:{port}{API}/room", "--", str(n * users // len(ports))],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    results = []
    for proc in procs:
        output = await trio.to_thread.run_sync(proc.stdout.read)
        _, status, usage = await trio.to_thread.run_sync(os.wait4, proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed: {output}")
        results.append({**parse_wrk(output), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)})
    return results


async def case_rps(cluster: Cluster, args: argparse.Namespace, mode: str, script: str) -> dict:
    a, b = (node.port for node in cluster.nodes)
    ports = [a, a] if mode == "one" else [a, b]
    spy = None
    if args.py_spy and mode == "one" and not os.path.exists(args.py_spy):
        spy = subprocess.Popen([str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--format", "raw", "--rate", "250",
                                "--nonblocking", "--duration", str(args.seconds), "-o", args.py_spy,
                                "-p", str(cluster.nodes[0].process.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meter = CpuMeter(cluster)
    meter.start()
    runs = await run_wrk(ports, args.connections, args.seconds, script, len(cluster.users))
    cpu = meter.stop()
    if spy is not None:
        await trio.to_thread.run_sync(spy.wait)
    requests = sum(r["requests"] for r in runs)
    seconds = max(r["seconds"] for r in runs)
    if sum(r["non_2xx"] for r in runs):
        raise RuntimeError(f"rps {mode}: requests failed: {runs}")
    cpu["wrk"] = round(sum(r["cpu_s"] for r in runs) / cpu["wall_s"], 2)
    return {"mode": mode, "rps": round(requests / seconds), "requests": requests,
            "socket_errors": sum(r["socket_errors"] for r in runs),
            "p50_ms": max(r.get("p50_ms", 0) for r in runs), "p99_ms": max(r.get("p99_ms", 0) for r in runs),
            "server_cpu_us_per_request": round((cpu["node_a"] + cpu["node_b"]) * cpu["wall_s"] / requests * 1e6),
            "postgres_cpu_us_per_request": round(cpu["postgres"] * cpu["wall_s"] / requests * 1e6),
            "cores": cpu}


# -- wake: parked polls spread over the nodes ----------------------------------------------------

class Spread:
    """What bench/chat_fanout.Fanout needs of its server, with the connections dealt to the nodes
    in turn (`ports`) and "parked" meaning the nodes' counters add up."""

    def __init__(self, cluster: Cluster, ports: list[int]) -> None:
        self.cluster, self.ports, self.next = cluster, ports, 0
        self.users, self.token = cluster.pollers, cluster.token

    @property
    def port(self) -> int:
        self.next += 1
        return self.ports[(self.next - 1) % len(self.ports)]

    async def wait_parked(self, count: int, timeout: float = 120) -> None:
        with trio.fail_after(timeout):
            while sum([await node.waiters() for node in self.cluster.nodes]) < count:
                await trio.sleep(0.01)


async def case_wake(cluster: Cluster, args: argparse.Namespace, mode: str) -> dict:
    a, b = (node.port for node in cluster.nodes)
    spread = Spread(cluster, [a] if mode == "one" else [a, b])
    poster = await Http.open(a)
    last, each, rounds_cpu = [], [], []
    async with trio.open_nursery() as nursery:
        fanout = Fanout(spread, args.polls)
        await fanout.park(nursery, await cluster.last_id())
        per_node = [await node.waiters() for node in cluster.nodes]
        gc_pause = [0.0, 0.0]
        for number in range(1 + args.wake_rounds):
            await spread.wait_parked(args.polls)
            for node in cluster.nodes:
                await node.gc(reset=True)
            meter = CpuMeter(cluster)   # from the post until the last poll has its answer
            meter.start()
            arrivals, _ = await fanout.round(poster, number)
            cpu = meter.stop()
            if number:   # the first round warms up
                last.append(max(arrivals))
                each += arrivals
                rounds_cpu.append(cpu)
                for i, node in enumerate(cluster.nodes):   # collection pauses during the round
                    gc_pause[i] += (await node.gc())["total_pause_ms"] / args.wake_rounds
        await spread.wait_parked(args.polls)
        nursery.cancel_scope.cancel()
    for conn in fanout.connections:
        await conn.stream.aclose()
    await poster.stream.aclose()
    await cluster.wait_waiters([0, 0])
    # CPU seconds of each part per round (cores x wall), the median round.
    used = {k: ms(percentile([c[k] * c["wall_s"] for c in rounds_cpu], 50))
            for k in ("node_a", "node_b", "postgres", "redis", "bench", "machine")}
    return {"mode": mode, "polls": args.polls, "per_node": per_node, "rounds": args.wake_rounds,
            "last_p50_ms": ms(percentile(last, 50)), "last_max_ms": ms(max(last)),
            "each_p50_ms": ms(percentile(each, 50)), "cpu_ms_per_round": used,
            "nodes_cpu_us_per_poll": round((used["node_a"] + used["node_b"]) * 1000 / args.polls),
            "gc_pause_ms_per_round": [round(p, 1) for p in gc_pause]}


# -- hop: a cross-node wake-up over Redis ---------------------------------------------------------

async def case_hop(cluster: Cluster, samples: int) -> dict:
    a, b = cluster.nodes
    user = cluster.pollers[0]
    pollers = {"same": await Http.open(a.port), "cross": await Http.open(b.port)}
    poster = await Http.open(a.port)
    cursor = await cluster.last_id()
    times: dict[str, list[float]] = {"same": [], "cross": []}
    warmup = min(10, samples)
    for i in range(2 * (samples + warmup)):
        kind = ("same", "cross")[i % 2]
        node = a if kind == "same" else b
        conn = pollers[kind]
        await conn.stream.send_all(build(
            "GET", f"{API}/chat/{cluster.token}?lookIntoFuture=1&lastKnownMessageId={cursor}&timeout=30", user))
        with trio.fail_after(30):
            while await node.waiters() < 1:
                await trio.sleep(0.001)
        got: dict[str, Any] = {}

        async def read_poll() -> None:
            got["r"] = await conn.response()
            got["t"] = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_poll)
            started = time.perf_counter()
            status, _, _ = await poster.call(build("POST", f"{API}/chat/{cluster.token}", "admin",
                                                   {"message": f"hop {i}"}))
            if status != 201:
                raise RuntimeError(f"post answered {status}")
        status, headers, _ = got["r"]
        if status != 200:
            raise RuntimeError(f"poll answered {status}")
        cursor = int(headers["x-chat-last-given"])
        if i >= 2 * warmup:
            times[kind].append(got["t"] - started)
    for conn in (*pollers.values(), poster):
        await conn.stream.aclose()
    result: dict[str, Any] = {"samples": samples}
    for kind, values in times.items():
        result[f"{kind}_p50_ms"] = ms(percentile(values, 50))
        result[f"{kind}_p99_ms"] = ms(percentile(values, 99))
    result["extra_p50_ms"] = round(result["cross_p50_ms"] - result["same_p50_ms"], 2)
    result["extra_p99_ms"] = round(result["cross_p99_ms"] - result["same_p99_ms"], 2)
    return result


# -- fanout: bench/chat_fanout.py's (a) and (b), SQLite vs PostgreSQL -----------------------------

async def case_fanout(pg: pg_support.PostgresServer, args: argparse.Namespace, engine: str, number: int) -> dict:
    server = Server(members=args.fanout_members)
    if engine == "postgres":
        server.env["PARLEY_DATABASE_URL"] = pg.create_database(f"parley_fanout_{number}")
    await server.start()
    try:
        a = await run_rounds(server, args.fanout_members, args.rounds_a, warmup=3)
        b = await run_rounds(server, args.waiters_b, args.rounds_b, warmup=1)
        return {"engine": engine, "a": a, "b": b}
    finally:
        server.stop()


# -- the run ------------------------------------------------------------------------------------

def spread_of(values: list[float]) -> str:
    return f"{min(values)}–{max(values)}" if len(values) > 1 else f"{values[0]}"


async def run(args: argparse.Namespace) -> dict:
    results: dict[str, Any] = {"load_before": Path("/proc/loadavg").read_text().strip(),
                               "cpus": sorted(os.sched_getaffinity(0)), "rps": [], "wake": [], "fanout": []}
    workdir = tempfile.mkdtemp(prefix="parley-bench-cluster-")
    cluster = Cluster(workdir, args.users, args.pollers, pin=not args.no_pin)
    ok = False
    try:
        await cluster.start()
        print(f"cluster up: PostgreSQL :{cluster.pg.port}, Redis :{cluster.redis.port}, nodes "
              + ", ".join(f"{n.name} :{n.port} (cpu {n.cpu})" for n in cluster.nodes), flush=True)
        script = write_wrk_script(workdir, cluster.users)
        if "r" in args.only:
            await run_wrk([n.port for n in cluster.nodes], args.connections, min(2, args.seconds), script,
                          len(cluster.users))   # warm-up of both nodes and PostgreSQL
        for repeat in range(args.repeat):
            modes = ("one", "two") if repeat % 2 == 0 else ("two", "one")
            for mode in modes if "r" in args.only else ():
                r = await case_rps(cluster, args, mode, script)
                results["rps"].append(r)
                print("rps ", json.dumps(r), flush=True)
            for mode in modes if "w" in args.only else ():
                w = await case_wake(cluster, args, mode)
                results["wake"].append(w)
                print("wake", json.dumps(w), flush=True)
        if "h" in args.only:
            results["hop"] = await case_hop(cluster, args.samples)
            print("hop ", json.dumps(results["hop"]), flush=True)
        await cluster.stop_nodes()   # the fan-out servers use the cores alone
        if "f" in args.only:
            for repeat in range(args.repeat):
                engines = [e for e in ("sqlite", "postgres") if e in args.fanout_engines.split(",")]
                for engine in engines if repeat % 2 == 0 else engines[::-1]:
                    f = await case_fanout(cluster.pg, args, engine, repeat)
                    results["fanout"].append(f)
                    print("fanout", json.dumps(f), flush=True)
        ok = True
    finally:
        cluster.stop()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (node logs)", file=sys.stderr)
    results["load_after"] = Path("/proc/loadavg").read_text().strip()
    return results


def ratios(results: dict) -> dict:
    """two/one per repeat, pairing the runs in the order they were taken."""
    out: dict[str, list[float]] = {}
    rps = {m: [r["rps"] for r in results["rps"] if r["mode"] == m] for m in ("one", "two")}
    if rps["one"]:
        out["rps"] = [round(t / o, 2) for o, t in zip(rps["one"], rps["two"])]
    wake = {m: [w["last_p50_ms"] for w in results["wake"] if w["mode"] == m] for m in ("one", "two")}
    if wake["one"]:
        out["wake"] = [round(o / t, 2) for o, t in zip(wake["one"], wake["two"])]
    return out


def cpu_model(results: dict) -> dict:
    """What the measured CPU costs allow on an otherwise idle machine with these two cores: the
    wall-clock ratios above are set as much by other tenants' load as by Parley. rps: one node
    uses at most its core (PostgreSQL and wrk get the other); two nodes at most theirs, and
    everything shares the two cores. wake: one round is at least the busiest core's work."""
    model: dict[str, Any] = {}
    cores = len(results["cpus"])

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)
    per = {m: [r for r in results["rps"] if r["mode"] == m] for m in ("one", "two")}
    if per["one"] and per["two"]:
        cost = {}
        for mode, runs in per.items():
            node = mean([r["server_cpu_us_per_request"] for r in runs])
            rest = mean([r["postgres_cpu_us_per_request"] + r["cores"]["wrk"] * r["cores"]["wall_s"] / r["requests"] * 1e6
                         for r in runs])
            cost[mode] = (node, rest)
        node1, rest1 = cost["one"]
        one = min(1e6 / node1, (cores - 1) * 1e6 / rest1) if cores > 1 else 1e6 / (node1 + rest1)
        two = min(2e6 / cost["two"][0], cores * 1e6 / sum(cost["two"]))
        model["rps"] = {"one": round(one), "two": round(two), "ratio": round(two / one, 2),
                        "node_us": [round(c[0]) for c in cost.values()], "rest_us": [round(c[1]) for c in cost.values()]}
    wake = {m: [w for w in results["wake"] if w["mode"] == m] for m in ("one", "two")}
    if wake["one"] and wake["two"]:
        def part(runs: list[dict], key: str) -> float:
            return mean([w["cpu_ms_per_round"][key] for w in runs])
        a1 = part(wake["one"], "node_a")
        rest1 = sum(part(wake["one"], k) for k in ("bench", "postgres", "redis"))
        t1 = max(a1, rest1)
        a2, b2 = part(wake["two"], "node_a"), part(wake["two"], "node_b")
        total2 = a2 + b2 + sum(part(wake["two"], k) for k in ("bench", "postgres", "redis"))
        t2 = max(a2, b2, total2 / cores)
        model["wake"] = {"one_ms": round(t1), "two_ms": round(t2), "ratio": round(t1 / t2, 2)}
    return model


def summary(results: dict) -> bool:
    met = True
    print(f"load average before: {results['load_before']}; after: {results['load_after']}")
    for name, values in ratios(results).items():
        best = round(statistics.median(values), 2)
        verdict = "met" if best >= TARGET_RATIO else "MISSED"
        met &= best >= TARGET_RATIO
        print(f"{name}: two/one {spread_of(values)} (median {best}×, target ≥ {TARGET_RATIO}×): {verdict}")
    for mode in ("one", "two"):
        rps = [r for r in results["rps"] if r["mode"] == mode]
        if rps:
            print(f"  rps {mode}: {spread_of([r['rps'] for r in rps])} req/s; CPU per request: nodes "
                  f"{spread_of([r['server_cpu_us_per_request'] for r in rps])} µs, PostgreSQL "
                  f"{spread_of([r['postgres_cpu_us_per_request'] for r in rps])} µs; wrk "
                  f"{spread_of([r['cores']['wrk'] for r in rps])} cores; machine busy "
                  f"{spread_of([r['cores']['machine'] for r in rps])} of {len(results['cpus'])} cores")
        wake = [w for w in results["wake"] if w["mode"] == mode]
        if wake:
            print(f"  wake {mode}: last of {wake[0]['polls']} {spread_of([w['last_p50_ms'] for w in wake])} ms; "
                  f"nodes' CPU per woken poll {spread_of([w['nodes_cpu_us_per_poll'] for w in wake])} µs, "
                  f"bench CPU per round {spread_of([w['cpu_ms_per_round']['bench'] for w in wake])} ms")
    for name, m in results.get("model", {}).items():
        print(f"CPU-bound estimate for an idle machine, {name}: {json.dumps(m)}")
    if "hop" in results:
        h = results["hop"]
        hop_met = h["extra_p50_ms"] <= TARGET_HOP_P50_MS and h["extra_p99_ms"] <= TARGET_HOP_P99_MS
        met &= hop_met
        print(f"hop: same {h['same_p50_ms']} / {h['same_p99_ms']} ms, cross {h['cross_p50_ms']} / "
              f"{h['cross_p99_ms']} ms, extra p50 {h['extra_p50_ms']} ms, p99 {h['extra_p99_ms']} ms "
              f"(targets ≤ {TARGET_HOP_P50_MS} / ≤ {TARGET_HOP_P99_MS}): {'met' if hop_met else 'MISSED'}")
    for engine in ("sqlite", "postgres"):
        runs = [f for f in results["fanout"] if f["engine"] == engine]
        if runs:
            print(f"fanout {engine}: (a) each p50 {spread_of([f['a']['each_p50_ms'] for f in runs])} ms, "
                  f"last p99 {spread_of([f['a']['last_p99_ms'] for f in runs])} ms; "
                  f"(b) last p50 {spread_of([f['b']['last_p50_ms'] for f in runs])} ms")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections in all")
    parser.add_argument("--seconds", type=int, default=10, help="length of one rps measurement")
    parser.add_argument("--polls", type=int, default=2000, help="parked polls of the wake case")
    parser.add_argument("--pollers", type=int, default=100, help="users of the wake and hop cases (one room)")
    parser.add_argument("--wake-rounds", type=int, default=4, help="measured posts per wake measurement")
    parser.add_argument("--samples", type=int, default=300, help="hop samples of each kind")
    parser.add_argument("--fanout-members", type=int, default=50, help="chat_fanout case (a) waiters")
    parser.add_argument("--fanout-engines", default="sqlite,postgres", help="storage engines of the fanout case")
    parser.add_argument("--rounds-a", type=int, default=20)
    parser.add_argument("--waiters-b", type=int, default=1000)
    parser.add_argument("--rounds-b", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="alternating repeats of rps, wake and fanout")
    parser.add_argument("--only", default="rwhf", help="cases: r(ps) w(ake) h(op) f(anout)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--no-pin", action="store_true", help="let the kernel place the nodes (no CPU affinity)")
    parser.add_argument("--py-spy", help="profile node A during the first one-node rps run into this file "
                                         "(collapsed stacks; needs `.venv/bin/pip install py-spy`)")
    args = parser.parse_args()
    if "r" in args.only and shutil.which("wrk") is None:
        sys.exit("wrk not found: run .ci/install-system-deps.sh (Debian package wrk)")
    if not pg_support.available():
        sys.exit(f"PostgreSQL binaries not found in {pg_support.PG_BIN}: run .ci/install-system-deps.sh")
    print(f"fd limit {raise_fd_limit()}, cpus {sorted(os.sched_getaffinity(0))}, "
          f"load {Path('/proc/loadavg').read_text().strip()}", flush=True)
    results = trio.run(run, args)
    results["ratios"] = ratios(results)
    results["model"] = cpu_model(results)
    met = summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if met else 3)   # 1 is a crash


if __name__ == "__main__":
    main()
