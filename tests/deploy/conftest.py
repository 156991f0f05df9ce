"""Fixtures for the deployment tests."""
from __future__ import annotations

import pytest

from tests.tls_support import TlsFiles, make_tls_files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> TlsFiles:
    """A test CA and a certificate for parley.test, localhost, 127.0.0.1 and ::1."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))
