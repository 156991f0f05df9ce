"""The deployment tests run the built one-file binary (dist/parley)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def binary() -> Path:
    """dist/parley, built by `make binary` (a no-op when it is newer than every source file, which
    is the case under `make test`: that target builds it first)."""
    result = subprocess.run(["make", "-s", "binary"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"make binary failed:\n{result.stdout}\n{result.stderr}"
    path = ROOT / "dist" / "parley"
    assert path.is_file()
    return path
