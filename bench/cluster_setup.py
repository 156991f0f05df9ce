"""The cluster bench/cluster.py measures: PostgreSQL, redis-server and two `parley serve` nodes,
started in temp dirs on free loopback ports, and the CPU accounting of each part from /proc."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import trio

from bench.chat_fanout import API, PARLEY, PASSWORD, Http, build, free_port, last_id
from tests import pg_support
from tests.cluster.conftest import RedisServer

CLK_TCK = os.sysconf("SC_CLK_TCK")


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
