"""End-to-end prerequisites: aiortc (pip, the `test` extra) and coturn (Debian `coturn`).

Locally a missing prerequisite skips with the reason; in CI (CI=true) it fails, so these tests can
never silently stop running there.
"""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def require(what: str, *, module: str | None = None, binary: str | None = None) -> None:
    missing = (module is not None and importlib.util.find_spec(module) is None) or \
              (binary is not None and shutil.which(binary) is None)
    if not missing:
        return
    reason = f"{what} is not installed ({'pip install aiortc' if module else 'apt-get install -y coturn'})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the end-to-end tests (see .ci/install-system-deps.sh)")
    pytest.skip(reason)
