"""GET /room for a user in many rooms: what the room list costs, `lastMessage` included.

    .venv/bin/python bench/room_list.py [--rooms 200] [--requests 40]

Not a test. `parley serve` runs in a subprocess from the current directory's code (run this from
another checkout, with this venv's python, to compare two versions side by side) on a fresh data
dir. One user is in `--rooms` group rooms, each with a second member, three messages (one
mentioning, one with a reaction); then the list is fetched `--requests` times, one after the other
on one keep-alive connection. Reported: median and p90 wall time per response (client parsing
included, the same for both versions), the server process's CPU time per response (user + system,
from /proc: much less disturbed than wall time when other work shares the machine), the body
size, and whether `lastMessage` is there.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.pg_support import free_port  # noqa: E402

API = "/ocs/v2.php/apps/spreed/api/v1"
PASSWORD = "bench-password"
FAST = {"PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parley(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "server", *args], check=True, env=env, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    env = {**os.environ, **FAST}
    env.pop("PARLEY_CONFIG", None)
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as data:
        for user in ("alice", "bob"):
            parley("user", "add", user, "--password", PASSWORD, "--data-dir", data, env=env)
        port = free_port()
        log = open(Path(data) / "server.log", "w")
        server = subprocess.Popen([sys.executable, "-m", "server", "serve", "--bind", f"127.0.0.1:{port}",
                                   "--data-dir", data], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            headers = {"OCS-APIRequest": "true", "Accept": "application/json"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}{API}", auth=("alice", PASSWORD),
                              headers=headers, timeout=60) as alice, \
                    httpx.Client(base_url=f"http://127.0.0.1:{port}{API}", auth=("bob", PASSWORD),
                                 headers=headers, timeout=60) as bob:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if alice.get("/room").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not start; see its log")
                    time.sleep(0.1)
                for n in range(args.rooms):
                    token = alice.post("/room", data={"roomType": 2, "roomName": f"room {n}"}).json()["ocs"]["data"]["token"]
                    alice.post(f"/room/{token}/participants", data={"newParticipant": "bob"})
                    alice.post(f"/chat/{token}", data={"message": f"hello @bob in room {n}"})
                    said = bob.post(f"/chat/{token}", data={"message": "hi"}).json()["ocs"]["data"]["id"]
                    alice.post(f"/reaction/{token}/{said}", data={"reaction": "👍"})
                    alice.post(f"/chat/{token}", data={"message": f"last words of room {n}"})
                for _ in range(5):   # warm-up
                    alice.get("/room")
                times = []
                cpu = cpu_seconds(server.pid)
                for _ in range(args.requests):
                    started = time.perf_counter()
                    r = alice.get("/room")
                    rooms = r.json()["ocs"]["data"]
                    times.append(time.perf_counter() - started)
                cpu_ms = (cpu_seconds(server.pid) - cpu) / args.requests * 1000
                assert r.status_code == 200 and len(rooms) == args.rooms
                with_last = sum(1 for room in rooms if room.get("lastMessage"))
                times.sort()
                print(f"GET /room, {args.rooms} rooms: median {statistics.median(times) * 1000:.1f} ms, "
                      f"p90 {times[int(len(times) * 0.9) - 1] * 1000:.1f} ms, server CPU {cpu_ms:.1f} ms/response, "
                      f"{len(r.content) / 1024:.0f} KiB, "
                      f"lastMessage in {with_last} rooms ({args.requests} requests)")
        finally:
            server.terminate()
            server.wait(timeout=20)
            log.close()


if __name__ == "__main__":
    main()
