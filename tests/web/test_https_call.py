"""A call over built-in HTTPS on a host name that is not localhost: browsers give camera and
microphone only to secure origins (HTTPS, or localhost), so this is what lets a team call from
their own machines. Chromium resolves parley.test to 127.0.0.1 (--host-resolver-rules) and trusts
the test CA through its NSS database (certutil), exactly as a machine would trust a real CA: no
certificate error is ignored."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import add_background_users
from tests.tls_support import TEST_HOST, TlsFiles, make_tls_files
from tests.web.browser import in_browser, log_in
from tests.web.test_calls import remote_video_plays


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server_options(tls_files) -> dict:
    return {"tls_cert": str(tls_files.cert), "tls_key": str(tls_files.key)}


def chromium_home(directory: Path, ca: Path) -> Path:
    """A HOME whose NSS database (~/.pki/nssdb, what Chromium on Linux reads) trusts `ca`."""
    certutil = "/usr/bin/certutil"
    if not os.access(certutil, os.X_OK):
        message = "certutil is missing (apt-get install libnss3-tools; .ci/install-system-deps.sh does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    nssdb = directory / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run([certutil, "-A", "-d", f"sql:{nssdb}", "-n", "parley-test-ca", "-t", "C,,", "-i", str(ca)],
                   check=True, capture_output=True)
    return directory


@pytest.mark.usefixtures("browser_available")
async def test_call_over_https_on_a_real_host_name(server, tls_files, tmp_path):
    server.ssl_context = tls_files.client_context()
    await add_background_users(server)
    p1 = server.actor("participant1")
    token = await p1.create_room(2, name="Secure call")
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert r.status == 200
    port = int(server.url.rsplit(":", 1)[1])
    origin = f"https://{TEST_HOST}:{port}"
    home = chromium_home(tmp_path / "home", tls_files.ca)

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        sockets: list[str] = []
        for page in (one, two):
            page.on("websocket", lambda ws: sockets.append(ws.url))
        for page, user in ((one, "participant1"), (two, "participant2")):
            log_in(page, user)
            assert page.evaluate("() => [window.isSecureContext, location.origin]") == [True, origin]
            assert page.evaluate("() => typeof navigator.mediaDevices?.getUserMedia") == "function"
            page.get_by_role("link", name=re.compile("Secure call")).click()
            expect(page.locator(".room")).to_have_attribute("data-signaling", "websocket")

        one.get_by_role("button", name="Start call").click()
        expect(one.locator(".tile-local")).to_have_count(1)
        expect(two.get_by_role("button", name="Join call")).to_be_visible(timeout=15_000)
        two.get_by_role("button", name="Join call").click()
        remote_video_plays(one, "participant2-displayname")
        remote_video_plays(two, "participant1-displayname")
        browser.assert_no_console_errors()
        assert sockets and all(u == f"wss://{TEST_HOST}:{port}/spreed" for u in sockets), sockets

    await in_browser(scenario, origin, extra_args=(f"--host-resolver-rules=MAP {TEST_HOST} 127.0.0.1",),
                     env={**os.environ, "HOME": str(home)})
