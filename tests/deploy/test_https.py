"""Built-in HTTPS: `tls_cert`/`tls_key` serve HTTPS and WSS on the bind address, cookies carry
`Secure`, `/signaling/settings` names a wss:// server, the optional redirect listener and HSTS,
and a bad certificate or key stops `parley serve` with one line naming the file."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from tests.signaling_helpers import SignalingSocket, joined, settings
from tests.support import add_background_users, serving
from tests.support import test_config as make_config

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def https_server(tmp_path, tls_files, **overrides):
    config = make_config(str(tmp_path / "data"), tls_cert=str(tls_files.cert), tls_key=str(tls_files.key),
                         **overrides)
    async with serving(config) as running:
        running.ssl_context = tls_files.client_context()
        await add_background_users(running)
        yield running


def cookie_attributes(headers: httpx.Headers, name: str) -> list[str]:
    for value in headers.get_list("set-cookie"):
        if value.startswith(name + "="):
            return [part.strip().lower() for part in value.split(";")[1:]]
    raise AssertionError(f"no {name} cookie in {headers.get_list('set-cookie')}")


async def test_https_serves_the_api_with_secure_cookies_and_a_wss_signaling_url(tmp_path, tls_files):
    async with https_server(tmp_path, tls_files) as server:
        assert server.url.startswith("https://127.0.0.1:")
        p1 = server.actor("participant1")
        s = await settings(p1)
        assert s["server"] == server.url.replace("https://", "wss://")

        login = await p1.post("/login", prefix="", user="participant1", password="123456")
        assert login.status == 200, login.text
        assert "secure" in cookie_attributes(login.headers, "parley_login")

        token = await p1.create_room(2, name="tls")
        r = await p1.join(token)
        assert r.status == 200, r.text
        assert "secure" in cookie_attributes(r.headers, "parley_session")
        assert "strict-transport-security" not in r.headers   # HSTS is off unless configured


async def test_websocket_signaling_over_wss(tmp_path, tls_files):
    async with https_server(tmp_path, tls_files) as server:
        p1 = server.actor("participant1")
        token = await p1.create_room(2, name="wss")
        session = await joined(p1, token)
        ticket = (await settings(p1))["ticket"]
        url = server.url.replace("https://", "wss://") + "/spreed"
        async with open_websocket_url(url, ssl_context=tls_files.client_context()) as ws:
            sock = SignalingSocket(ws)
            hello = await sock.hello("participant1", ticket)
            assert hello["type"] == "hello", hello
            room = await sock.join_room(token, session)
            assert room["type"] == "room" and room["room"]["roomid"] == token, room


async def test_plain_http_is_refused_on_the_tls_port(tmp_path, tls_files):
    async with https_server(tmp_path, tls_files) as server:
        plain = server.url.replace("https://", "http://")
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(plain + "/status.php")
        # and the server still serves HTTPS afterwards
        s = await settings(server.actor("participant1"))
        assert s["server"].startswith("wss://")


async def test_redirect_listener_and_hsts(tmp_path, tls_files):
    async with https_server(tmp_path, tls_files, http_redirect_bind="127.0.0.1:0", hsts_max_age=31536000) as server:
        https_url, http_url = server.binds
        assert https_url.startswith("https://") and http_url.startswith("http://")
        https_port = https_url.rsplit(":", 1)[1]
        async with httpx.AsyncClient(base_url=http_url) as client:
            r = await client.get("/ocs/v2.php/apps/spreed/api/v1/room?format=json&x=%C3%A9")
            assert r.status_code == 308
            assert r.headers["location"] == (f"https://127.0.0.1:{https_port}"
                                             "/ocs/v2.php/apps/spreed/api/v1/room?format=json&x=%C3%A9")
            r = await client.post("/login", data={"user": "participant1", "password": "x"},
                                  headers={"Host": "parley.test:8080"})
            assert r.status_code == 308   # keeps the method; the port is the HTTPS one
            assert r.headers["location"] == f"https://parley.test:{https_port}/login"
            assert "set-cookie" not in r.headers
            r = await client.get("/", headers={"Host": "evil/path"})
            assert r.status_code == 400
        ws_url = http_url.replace("http://", "ws://") + "/spreed"
        with pytest.raises(ConnectionRejected) as refused:   # no plain WebSocket on the redirect port
            async with open_websocket_url(ws_url):
                pass
        assert refused.value.status_code == 403

        p1 = server.actor("participant1")
        r = await p1.get("/room")
        assert r.status == 200
        assert r.headers["strict-transport-security"] == "max-age=31536000"


async def test_redirect_uses_public_url_when_configured(tmp_path, tls_files):
    async with https_server(tmp_path, tls_files, http_redirect_bind="127.0.0.1:0",
                            public_url="https://chat.example.org/") as server:
        async with httpx.AsyncClient(base_url=server.binds[1]) as client:
            r = await client.get("/call/abcd?x=1")
            assert r.status_code == 308
            assert r.headers["location"] == "https://chat.example.org/call/abcd?x=1"


# -- start-up errors ------------------------------------------------------------------------------

def _encrypted_key(tls_files, directory: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(tls_files.key.read_bytes(), password=None)
    path = directory / "encrypted.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"secret")))
    return path


def _other_key(directory: Path) -> Path:
    import trustme
    path = directory / "other-key.pem"
    trustme.CA().issue_cert("other.test").private_key_pem.write_to_path(str(path))
    return path


BAD_PAIRS = {
    # name: (cert, key, the path the message must name)
    "missing cert": ("{dir}/missing.pem", "{key}", "{dir}/missing.pem"),
    "missing key": ("{cert}", "{dir}/missing-key.pem", "{dir}/missing-key.pem"),
    "cert is a directory": ("{dir}", "{key}", "{dir}"),
    "cert holds a key": ("{key}", "{key}", "{key}"),
    "key holds a certificate": ("{cert}", "{cert}", "{cert}"),
    "key of another certificate": ("{cert}", "{other}", "{other}"),
    "encrypted key": ("{cert}", "{encrypted}", "{encrypted}"),
    "garbage certificate": ("{garbage}", "{key}", "{garbage}"),
}


def _names(tmp_path, tls_files) -> dict[str, str]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    return {"dir": str(tmp_path), "cert": str(tls_files.cert), "key": str(tls_files.key),
            "other": str(_other_key(tmp_path)), "encrypted": str(_encrypted_key(tls_files, tmp_path)),
            "garbage": str(garbage)}


@pytest.mark.parametrize("case", BAD_PAIRS, ids=list(BAD_PAIRS))
def test_a_bad_certificate_or_key_is_refused_with_one_line_naming_the_file(tmp_path, tls_files, case):
    from server.config import ConfigError
    from server.tls import check_files
    cert, key, named = (part.format(**_names(tmp_path, tls_files)) for part in BAD_PAIRS[case])
    with pytest.raises(ConfigError) as refused:
        check_files(cert, key)
    message = str(refused.value)
    assert named in message and "\n" not in message, message


def test_parley_serve_with_a_mismatched_key_exits_with_that_line_and_no_trace(tmp_path, tls_files):
    names = _names(tmp_path, tls_files)
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--bind", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
         "--tls-cert", names["cert"], "--tls-key", names["other"]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr.strip() == (f"parley: config error: TLS key {names['other']} does not match the "
                                     f"certificate {names['cert']}"), result.stderr
    assert "serving" not in result.stdout   # it never started


def test_cert_without_key_is_a_config_error(tmp_path, tls_files):
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--data-dir", str(tmp_path), "--tls-cert", str(tls_files.cert)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip() == "parley: config error: tls_cert and tls_key must be set together"


def test_network_keys_from_toml_and_environment(tmp_path):
    from server import config as config_mod
    path = tmp_path / "parley.toml"
    path.write_text('[server]\ntrusted_proxies = ["10.0.0.0/8", "::1"]\nhsts_max_age = 600\n')
    config = config_mod.load(str(path), env={})
    assert config.trusted_proxies == ("10.0.0.0/8", "::1") and config.hsts_max_age == 600
    config = config_mod.load(None, env={"PARLEY_TRUSTED_PROXIES": " 127.0.0.1, fd00::/8 ,",
                                        "PARLEY_TLS_CERT": "/c.pem", "PARLEY_TLS_KEY": "/k.pem"})
    assert config.trusted_proxies == ("127.0.0.1", "fd00::/8")
    assert (config.tls_cert, config.tls_key) == ("/c.pem", "/k.pem")
    with pytest.raises(config_mod.ConfigError, match="not an IP address"):
        config_mod.load(None, env={"PARLEY_TRUSTED_PROXIES": "proxy.example.org"})
    with pytest.raises(config_mod.ConfigError, match="needs tls_cert"):
        config_mod.load(None, env={"PARLEY_HTTP_REDIRECT_BIND": "127.0.0.1:80"})


def _serving_url(process: subprocess.Popen, deadline: float = 30.0) -> str:
    """The URL from `parley serve`'s "Parley is serving on URL" line."""
    import select
    import time
    end = time.monotonic() + deadline
    seen = ""
    while time.monotonic() < end:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            seen += line
            if line.startswith("Parley is serving on "):
                return line.split()[4]
    raise AssertionError(f"parley serve did not report its URL; output so far:\n{seen}")


def test_parley_serve_takes_tls_and_proxies_from_the_environment(tmp_path, tls_files):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PARLEY_DATA_DIR": str(tmp_path / "data"),
           "PARLEY_TLS_CERT": str(tls_files.cert), "PARLEY_TLS_KEY": str(tls_files.key),
           "PARLEY_TRUSTED_PROXIES": "192.0.2.0/24, 127.0.0.1", "PARLEY_HSTS_MAX_AGE": "600",
           "PARLEY_ARGON2_TIME_COST": "1", "PARLEY_ARGON2_MEMORY_KIB": "1024"}
    created = subprocess.run([sys.executable, "-m", "server", "user", "add", "alice", "--password", "secret123"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--bind", "127.0.0.1:0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        url = _serving_url(process)
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(base_url=url, verify=tls_files.client_context(), auth=("alice", "secret123"),
                          headers={"OCS-APIRequest": "true", "Accept": "application/json"}) as client:
            r = client.get("/ocs/v2.php/apps/spreed/api/v1/signaling/settings")
            assert r.status_code == 200 and r.headers["strict-transport-security"] == "max-age=600"
            assert r.json()["ocs"]["data"]["server"] == url.replace("https://", "wss://")
            r = client.get("/ocs/v2.php/apps/spreed/api/v1/signaling/settings",
                           headers={"X-Forwarded-For": "203.0.113.1", "X-Forwarded-Host": "chat.example.org"})
            assert r.json()["ocs"]["data"]["server"] == "wss://chat.example.org"
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
