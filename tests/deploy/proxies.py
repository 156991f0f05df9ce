"""Running the shipped reverse-proxy configs for real: contrib/nginx/parley.conf in a temp dir on
free loopback ports, with only its ports and paths replaced (the file is not forked)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "contrib" / "nginx" / "parley.conf"
CADDYFILE = ROOT / "contrib" / "caddy" / "Caddyfile"


def require(program: str, package: str) -> str:
    """The program's path; skip locally without it, fail in CI (.ci/install-system-deps.sh installs it)."""
    path = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}")
                                          if os.access(p, os.X_OK)), None)
    if path is None:
        message = f"{program} is missing (apt-get install {package}; .ci/install-system-deps.sh does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replace_once(text: str, old: str, new: str, shipped: str = "contrib/nginx/parley.conf") -> str:
    """Fail loudly if the shipped file no longer has the line the test fills in."""
    assert text.count(old) == 1, f"{shipped} should contain {old!r} exactly once"
    return text.replace(old, new)


def nginx_site(parley_port: int, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """The shipped server blocks with the test's ports and certificate (IPv4 loopback only)."""
    text = NGINX_CONF.read_text()
    text = replace_once(text, "server 127.0.0.1:8080;", f"server 127.0.0.1:{parley_port};")
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = replace_once(text, "listen [::]:80;", "")
    text = replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = replace_once(text, "listen [::]:443 ssl http2;", "")
    text = replace_once(text, "/etc/letsencrypt/live/chat.example.org/fullchain.pem", str(cert))
    text = replace_once(text, "/etc/letsencrypt/live/chat.example.org/privkey.pem", str(key))
    return text


def nginx_main(directory: Path) -> str:
    """A minimal nginx.conf around the site: everything nginx writes stays in `directory`."""
    user = "user root;\n" if os.geteuid() == 0 else ""   # workers would be `nobody`, locked out of the temp dir
    temp = "\n".join(f"    {kind}_temp_path {directory}/{kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
            f"error_log {directory}/error.log info;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {directory}/access.log;\n{temp}\n"
            f"    include {directory}/parley.conf;\n}}\n")


async def _wait_listening(port: int, process: subprocess.Popen, log: Path) -> None:
    with trio.fail_after(15):
        while True:
            if process.poll() is not None:
                raise AssertionError(f"nginx exited with {process.returncode}:\n{log.read_text()}")
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return


@asynccontextmanager
async def nginx_process(directory: Path, port: int) -> AsyncIterator[None]:
    """nginx on `directory`'s nginx.conf (checked with -t first), until it listens on `port`;
    stopped (SIGTERM: its fast shutdown, then SIGKILL after 10 s) when the block ends."""
    nginx = require("nginx", "nginx")
    log = directory / "error.log"
    command = [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", str(log)]
    check = subprocess.run(command + ["-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        await _wait_listening(port, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def running_nginx(directory: Path, parley_port: int, cert: Path, key: Path) -> AsyncIterator[tuple[int, int]]:
    """nginx serving the shipped config; yields (https_port, http_port)."""
    https_port, http_port = free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "parley.conf").write_text(nginx_site(parley_port, https_port, http_port, cert, key))
    (directory / "nginx.conf").write_text(nginx_main(directory))
    async with nginx_process(directory, https_port):
        yield https_port, http_port


def caddy_config(directory: Path, parley_port: int, https_port: int, http_port: int, cert: Path, key: Path) -> str:
    """The shipped Caddyfile serving the test certificate on loopback: global options keep Caddy
    off the admin port, ports 80/443 and the user's data dir; the site block is the shipped one."""
    text = CADDYFILE.read_text()
    assert text.count("chat.example.org {") == 1 and text.count("reverse_proxy 127.0.0.1:8080 {") == 1
    text = text.replace("chat.example.org {", f"https://127.0.0.1:{https_port} {{\n\ttls {cert} {key}")
    text = text.replace("reverse_proxy 127.0.0.1:8080 {", f"reverse_proxy 127.0.0.1:{parley_port} {{")
    options = (f"{{\n\tadmin off\n\tauto_https off\n\thttp_port {http_port}\n\thttps_port {https_port}\n"
               f"\tstorage file_system {directory}/data\n}}\n\n")
    return options + text


@asynccontextmanager
async def running_caddy(directory: Path, parley_port: int, cert: Path, key: Path) -> AsyncIterator[int]:
    """Caddy serving (a copy of) the shipped Caddyfile; yields its HTTPS port."""
    caddy = require("caddy", "caddy")
    https_port, http_port = free_port(), free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "Caddyfile"
    config.write_text(caddy_config(directory, parley_port, https_port, http_port, cert, key))
    log = directory / "caddy.log"
    env = {"HOME": str(directory), "XDG_DATA_HOME": str(directory), "XDG_CONFIG_HOME": str(directory),
           "PATH": "/usr/bin:/bin"}
    with log.open("wb") as out:
        process = subprocess.Popen([caddy, "run", "--config", str(config), "--adapter", "caddyfile"], env=env,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        await _wait_listening(https_port, process, log)
        yield https_port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
