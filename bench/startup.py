"""Start-up of the one-file binary next to the venv: file size, `parley --version`, and the time
from starting `parley serve` to its first 200 answer (a fresh data directory each run).

    make binary && .venv/bin/python bench/startup.py [--runs 7]

Both run with a minimal environment (PATH=/usr/bin:/bin); only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = {"venv": ROOT / ".venv" / "bin" / "parley", "binary": ROOT / "dist" / "parley"}
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_version(exe: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree): CPU time hardly depends on how busy
    the machine is, wall time does."""
    cpu = cpu_of_children()
    start = time.perf_counter()
    subprocess.run([str(exe), "--version"], env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start, cpu_of_children() - cpu


def time_first_200(exe: Path) -> float:
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        url = f"http://127.0.0.1:{port}/ocs/v2.php/cloud/capabilities"
        start = time.perf_counter()
        process = subprocess.Popen([str(exe), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data],
                                   env={**ENV, "HOME": data}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=1) as reply:
                        if reply.status == 200:
                            return time.perf_counter() - start
                except OSError:
                    if process.poll() is not None:
                        raise RuntimeError(f"{exe} serve exited with {process.returncode}")
                    time.sleep(0.005)
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'':8} {'size':>10} {'--version p50 (min)':>22} {'--version CPU p50':>18} {'serve→first 200 p50 (min)':>28}")
    for name, exe in CANDIDATES.items():
        if not exe.exists():
            print(f"{name:8} missing: {exe}")
            continue
        size = exe.stat().st_size if name == "binary" else None
        runs = [time_version(exe) for _ in range(args.runs)]
        versions, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
        firsts = [time_first_200(exe) for _ in range(args.runs)]
        size_text = f"{size / 1e6:.1f} MB" if size else "(venv)"
        print(f"{name:8} {size_text:>10} {statistics.median(versions) * 1000:>13.0f} ms ({min(versions) * 1000:.0f})"
              f" {statistics.median(cpus) * 1000:>15.0f} ms"
              f" {statistics.median(firsts) * 1000:>17.0f} ms ({min(firsts) * 1000:.0f})")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
