"""A real Janus for the SFU tests and benchmarks, reachable only over a veth pair the test creates.

Janus ignores 127/8 when gathering ICE candidates, so it runs inside a network namespace of its
own (random-suffixed name, one per test session) whose only interface besides `lo` is one end of
a veth pair; the other end stays on the host. Both ends carry addresses of one private /30 and the
namespace has no default route, so nothing can leave it: Parley (on the host) reaches Janus's
WebSocket at the namespace address, and media peers on the host reach Janus over the same pair.

Everything is removed on exit, also on failure (deleting the namespace deletes both veth ends).
Creating a namespace needs root: without it the tests skip locally and fail under CI=true.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

JANUS = "/usr/bin/janus"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
KEEP_PLUGINS = {"libjanus_videoroom.so"}
KEEP_TRANSPORTS = {"libjanus_websockets.so"}


class Unavailable(Exception):
    """The namespace or Janus cannot be set up here (not root, no janus, no iproute2)."""


@dataclass
class Veth:
    namespace: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    def run(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *cmd]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _unused_pair() -> tuple[str, str]:
    """The two addresses of a random /30 inside 10.231.0.0/16 that no host interface uses yet.
    Several sessions may hold a pair at once (xdist workers, other checkouts on the machine):
    two host routes for one /30 would send one session's packets into the other's namespace."""
    taken = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                           timeout=10).stdout
    for _ in range(100):
        third, octet = 1 + secrets.randbelow(250), 4 * secrets.randbelow(60)
        prefix = f"10.231.{third}."
        pair = f"{prefix}{octet + 1}", f"{prefix}{octet + 2}"
        if f" {pair[0]}/" not in taken and f" {pair[1]}/" not in taken:
            return pair
    raise Unavailable("no free /30 left in 10.231.0.0/16")


@contextmanager
def veth_namespace() -> Iterator[Veth]:
    if os.geteuid() != 0:
        raise Unavailable("creating a network namespace needs root")
    if shutil.which("ip") is None:
        raise Unavailable("iproute2 (`ip`) is not installed")
    suffix = secrets.token_hex(3)
    host_ip, ns_ip = _unused_pair()
    veth = Veth(f"parley-sfu-{suffix}", f"pvh{suffix}", f"pvn{suffix}", host_ip, ns_ip)
    try:
        _ip("netns", "add", veth.namespace)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"ip netns add failed: {exc.stderr.decode(errors='replace').strip()}") from None
    try:
        _ip("-n", veth.namespace, "link", "set", "lo", "up")
        _ip("link", "add", veth.host_if, "type", "veth", "peer", "name", veth.ns_if, "netns", veth.namespace)
        _ip("addr", "add", f"{veth.host_ip}/30", "dev", veth.host_if)
        _ip("link", "set", veth.host_if, "up")
        _ip("-n", veth.namespace, "addr", "add", f"{veth.ns_ip}/30", "dev", veth.ns_if)
        _ip("-n", veth.namespace, "link", "set", veth.ns_if, "up")
        yield veth
    finally:
        subprocess.run(["ip", "netns", "del", veth.namespace], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", veth.host_if], capture_output=True, timeout=10)


def _disabled(folder: Path, keep: set[str]) -> str:
    return ",".join(sorted(p.name for p in folder.glob("*.so") if p.name not in keep))


def write_janus_config(directory: Path, veth: Veth, ws_port: int) -> Path:
    """A private config dir: videoroom + websockets only, ICE on the veth address only."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{directory}"
    plugins_folder = "{JANUS_LIB / 'plugins'}"
    transports_folder = "{JANUS_LIB / 'transports'}"
    events_folder = "{JANUS_LIB / 'events'}"
    loggers_folder = "{JANUS_LIB / 'loggers'}"
    debug_level = 4
    interface = "{veth.ns_ip}"
    session_timeout = 60
}}
media: {{
    ipv6 = false
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "{veth.ns_if}"
    ignore_mdns = true
    nice_debug = false
}}
plugins: {{
    disable = "{_disabled(JANUS_LIB / 'plugins', KEEP_PLUGINS)}"
}}
transports: {{
    disable = "{_disabled(JANUS_LIB / 'transports', KEEP_TRANSPORTS)}"
}}
events: {{
    broadcast = false
}}
""")
    (directory / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    (directory / "janus.transport.websockets.jcfg").write_text(f"""
general: {{
    json = "compact"
    ws = true
    ws_port = {ws_port}
    ws_ip = "{veth.ns_ip}"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
""")
    return directory / "janus.jcfg"


class JanusProcess:
    """`janus` inside the namespace; `start()` waits until its WebSocket port accepts."""

    def __init__(self, veth: Veth, workdir: Path, ws_port: int = 8188) -> None:
        self.veth, self.workdir, self.ws_port = veth, workdir, ws_port
        self.config = write_janus_config(workdir / "janus-config", veth, ws_port)
        self.log_path = workdir / "janus.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.veth.ns_ip}:{self.ws_port}"

    def start(self, timeout: float = 20.0) -> None:
        if shutil.which(JANUS) is None:
            raise Unavailable("janus is not installed (apt-get install janus)")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.veth.run(JANUS, f"--configs-folder={self.config.parent}",
                                                   f"--config={self.config}", "--disable-colors"),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"janus exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((self.veth.ns_ip, self.ws_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"janus did not listen within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def running_janus() -> Iterator[JanusProcess]:
    """A namespace, a veth pair and a Janus in it; all removed afterwards."""
    with veth_namespace() as veth, tempfile.TemporaryDirectory(prefix="parley-janus-") as tmp:
        janus = JanusProcess(veth, Path(tmp))
        try:
            janus.start()
            yield janus
        finally:
            janus.stop()


def write_y4m(path: Path, width: int = 160, height: int = 120, fps: int = 10, frames: int = 30) -> Path:
    """A small looping fake camera: a bright bar moving over a grey background."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for n in range(frames):
            luma = bytearray([90]) * (width * height)
            x0 = (n * width // frames) % width
            for y in range(height):
                row = y * width
                for x in range(x0, min(width, x0 + 16)):
                    luma[row + x] = 235
            out.write(b"FRAME\n" + bytes(luma) + bytes([128]) * (width * height // 2))
    return path
