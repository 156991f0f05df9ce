"""bench/cluster.py at a tiny scale, so the benchmark cannot rot: every case runs end to end on a
real PostgreSQL, redis-server and two `parley serve` nodes, and reports figures of the right shape.
Speed is not asserted here (that is what the benchmark itself reports)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .. import pg_support

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--users", "4", "--pollers", "2", "--connections", "4", "--seconds", "1", "--polls", "8",
        "--wake-rounds", "1", "--samples", "4", "--fanout-members", "2", "--rounds-a", "1",
        "--waiters-b", "4", "--rounds-b", "1", "--repeat", "1",
        # The fan-out case on PostgreSQL only: on SQLite it is bench/chat_fanout.py's own default run.
        "--fanout-engines", "postgres"]


def test_the_cluster_benchmark_runs_every_case_at_a_tiny_scale(tmp_path):
    if shutil.which("wrk") is None or not pg_support.available() or shutil.which("redis-server") is None:
        pytest.fail("wrk, PostgreSQL or redis-server missing: run .ci/install-system-deps.sh")
    out = tmp_path / "result.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "cluster.py"), *TINY, "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    # 0: every target met, 3: one missed (likely at this scale); anything else is a failure.
    assert run.returncode in (0, 3), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [r["mode"] for r in result["rps"]] == ["one", "two"]
    assert all(r["requests"] > 0 and r["rps"] > 0 and r["cores"]["wrk"] >= 0 for r in result["rps"])
    one, two = result["rps"]
    assert one["cores"]["node_b"] < two["cores"]["node_b"]   # only the two-node run loads node B
    assert [(w["mode"], w["per_node"]) for w in result["wake"]] == [("one", [8, 0]), ("two", [4, 4])]
    assert all(w["last_p50_ms"] > 0 for w in result["wake"])
    hop = result["hop"]
    assert hop["samples"] == 4 and hop["cross_p50_ms"] > 0 and hop["same_p50_ms"] > 0
    assert [f["engine"] for f in result["fanout"]] == ["postgres"]
    assert all(f["a"]["waiters"] == 2 and f["b"]["waiters"] == 4 for f in result["fanout"])
    assert set(result["ratios"]) == {"rps", "wake"}
    assert "two/one" in run.stdout and "hop:" in run.stdout
