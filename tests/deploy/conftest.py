"""Fixtures for the deployment tests: the built one-file binary (dist/parley) and test certificates."""
from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

import pytest

from tests.tls_support import TlsFiles, make_tls_files

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TlsFiles:
    """A test CA and a certificate for parley.test, localhost, 127.0.0.1 and ::1."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def binary() -> Path:
    """dist/parley, built by `make binary` (a no-op when it is newer than every source file, which
    is the case under `make test`: that target builds it first)."""
    # One build at a time: xdist workers (and two sessions in one checkout) would otherwise run
    # PyInstaller on the same build/ and dist/ together when the binary is stale.
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / ".binary.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(["make", "-s", "binary"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"make binary failed:\n{result.stdout}\n{result.stderr}"
    path = ROOT / "dist" / "parley"
    assert path.is_file()
    return path
