"""A real Janus in a network namespace of this test session (tests/sfu_support.py).

Locally, without root, iproute2 or janus the SFU tests skip with the reason; under CI=true they
fail instead, so they can never silently stop running there.
"""
from __future__ import annotations

import os
import secrets
from typing import Iterator

import pytest

from tests.sfu_support import JanusProcess, Unavailable, Veth, veth_namespace


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the SFU tests (see .ci/install-system-deps.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def veth() -> Iterator[Veth]:
    try:
        with veth_namespace() as pair:
            yield pair
    except Unavailable as exc:
        _unavailable(str(exc))


@pytest.fixture
def janus(veth: Veth, tmp_path) -> Iterator[JanusProcess]:
    process = JanusProcess(veth, tmp_path, ws_port=8200 + secrets.randbelow(700))
    try:
        process.start()
    except Unavailable as exc:
        _unavailable(str(exc))
    try:
        yield process
    finally:
        process.stop()
