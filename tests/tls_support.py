"""A throw-away CA (trustme) and a server certificate for the HTTPS tests (tests/deploy, tests/web)."""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

TEST_HOST = "parley.test"   # a name that is not localhost: the browser test maps it to 127.0.0.1


@dataclass(frozen=True)
class TlsFiles:
    ca: Path        # the test CA's certificate (what clients trust)
    cert: Path      # the server certificate chain: parley.test, localhost, 127.0.0.1, ::1
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls_files(directory: Path) -> TlsFiles:
    import trustme
    ca = trustme.CA()
    cert = ca.issue_cert(TEST_HOST, "localhost", "127.0.0.1", "::1")
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    cert.private_key_pem.write_to_path(str(files.key))
    with files.cert.open("wb") as f:
        for pem in cert.cert_chain_pems:
            f.write(pem.bytes())
    return files
