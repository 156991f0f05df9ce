"""SFU benchmark: what Janus saves each participant, and what Parley pays per signaling message.

    sudo .venv/bin/python bench/sfu.py [--sizes 2 4 6] [--seconds 10] [--json]    # or: make bench-sfu

For each call size N and each mode (mesh: Parley without Janus; sfu: Parley driving Janus), one
Chromium with N contexts (N people, fake 320×240 camera at 15 fps from a Y4M file, and the fake
microphone) joins one call through the web client, waits until every participant plays N-1
remote videos, then measures for `--seconds`:
  * per-participant upload and download, from getStats() (outbound-rtp / inbound-rtp bytes of
    all of that page's RTCPeerConnections);
  * per-participant CPU: all Chromium processes' CPU / N (one browser holds every participant);
  * Janus's CPU (sfu mode);
and, over the call set-up (first join → everyone playing): Parley's own CPU per signaling message
(client→server WebSocket frames counted in the pages), in both modes.

Needs root (Janus runs in a network namespace with a veth pair, as in tests/sfu_support.py);
traffic never leaves the loopback interface and that veth pair.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sfu_support import JanusProcess, veth_namespace, write_y4m  # noqa: E402
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, log_in  # noqa: E402

API = "/ocs/v2.php/apps/spreed/api/v1"
PASSWORD = "bench-password"

# Every RTCPeerConnection and every signaling frame a page makes, for getStats() and counting.
INIT_SCRIPT = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) { const pc = new Original(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = Original.prototype;
  window.__frames = 0;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) { window.__ws = this; window.__frames += 1; return send.call(this, data); };
})();
"""
PLAYING = """() => [...document.querySelectorAll('.tile:not(.tile-local) video')]
    .filter(v => v.videoWidth > 0 && v.currentTime > 0).length"""
# Every participant re-subscribes to every other at once (a `requestoffer` per remote tile, as a
# Talk client re-sends them): pure SFU signaling, no REST request in the window.
RESUBSCRIBE = """() => {
  const ids = [...document.querySelectorAll('.tile:not(.tile-local)')].map(t => t.dataset.session);
  for (const id of ids) window.__ws.send(JSON.stringify({type: 'message', message: {
    recipient: {type: 'session', sessionid: id}, data: {type: 'requestoffer', roomType: 'video'}}}));
  return ids.length;
}"""
STATS = """async () => {
  let sent = 0, received = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp') sent += s.bytesSent + (s.headerBytesSent || 0);
      if (s.type === 'inbound-rtp') received += s.bytesReceived + (s.headerBytesReceived || 0);
    });
  }
  return { sent, received, t: performance.now() };
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def chromium_cpu() -> float:
    total = 0.0
    for pid in descendants(os.getpid()):
        try:
            if "chrom" in Path(f"/proc/{pid}/comm").read_text():
                total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def api(base: str, method: str, path: str, user: str, form: dict[str, str] | None = None) -> dict:
    data = urllib.parse.urlencode(form).encode() if form else None
    request = urllib.request.Request(base + API + path, data=data, method=method, headers={
        "OCS-APIRequest": "true", "Accept": "application/json",
        "Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["ocs"]["data"]


def start_parley(data_dir: Path, n: int, janus_url: str) -> tuple[subprocess.Popen, str]:
    for i in range(1, n + 1):
        subprocess.run([sys.executable, "-m", "server", "user", "add", f"user{i}", "--password", PASSWORD,
                        "--display-name", f"User {i}", "--data-dir", str(data_dir)],
                       cwd=ROOT, check=True, capture_output=True)
    config = data_dir / "parley.toml"
    config.write_text(f'[signaling]\nstun_servers = []\n[sfu]\njanus_url = "{janus_url}"\n')
    port = free_port()
    log = open(data_dir / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--bind", f"127.0.0.1:{port}",
                                "--data-dir", str(data_dir), "--config", str(config)],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)   # ok: waiting for the subprocess to bind
    process.kill()
    raise SystemExit("Parley did not start: " + (data_dir / "server.log").read_text()[-2000:])


def run_one(mode: str, n: int, janus: JanusProcess, camera: Path, seconds: float,
            setup_timeout: float) -> dict:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory(prefix="parley-bench-sfu-") as tmp:
        process, base = start_parley(Path(tmp), n, janus.url if mode == "sfu" else "")
        try:
            token = api(base, "POST", "/room", "user1", {"roomType": "2", "roomName": "Bench call"})["token"]
            for i in range(2, n + 1):
                api(base, "POST", f"/room/{token}/participants", "user1", {"newParticipant": f"user{i}"})
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                    *CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}",
                    "--disable-features=WebRtcHideLocalIpsWithMdns"])
                try:
                    pages = []
                    for i in range(1, n + 1):
                        context = chromium.new_context(base_url=base, viewport={"width": 800, "height": 600})
                        context.set_default_timeout(60_000)
                        context.add_init_script(INIT_SCRIPT)
                        page = context.new_page()
                        log_in(page, f"user{i}", PASSWORD)
                        page.get_by_role("link", name=re.compile("Bench call")).click()
                        pages.append(page)
                    parley0, t0 = cpu_seconds(process.pid), time.monotonic()
                    frames0 = sum(p.evaluate("window.__frames") for p in pages)
                    for i, page in enumerate(pages):
                        page.get_by_role("button", name="Start call" if i == 0 else "Join call").click()
                    deadline = time.monotonic() + setup_timeout
                    for page in pages:    # a mesh may never get there: measure what plays then
                        try:
                            page.wait_for_function(
                                f"() => [...document.querySelectorAll('.tile:not(.tile-local) video')]"
                                f".filter(x => x.videoWidth > 0 && x.currentTime > 0).length === {n - 1}",
                                timeout=max(1000, (deadline - time.monotonic()) * 1000))
                        except PlaywrightTimeout:
                            pass
                    playing = sum(p.evaluate(PLAYING) for p in pages)
                    setup_s = time.monotonic() - t0
                    setup_cpu = cpu_seconds(process.pid) - parley0
                    frames = sum(p.evaluate("window.__frames") for p in pages) - frames0
                    time.sleep(2)       # let bandwidth estimation settle a little
                    before = [p.evaluate(STATS) for p in pages]
                    chrome0, janus0, parley1 = chromium_cpu(), cpu_seconds(janus.proc.pid), cpu_seconds(process.pid)
                    w0 = time.monotonic()
                    time.sleep(seconds)
                    wall = time.monotonic() - w0
                    chrome = chromium_cpu() - chrome0
                    janus_cpu = cpu_seconds(janus.proc.pid) - janus0
                    parley_steady = cpu_seconds(process.pid) - parley1
                    after = [p.evaluate(STATS) for p in pages]
                    storm: dict[str, float] = {}
                    if mode == "sfu" and playing == n * (n - 1):
                        frames0, cpu0, s0 = (sum(p.evaluate("window.__frames") for p in pages),
                                             cpu_seconds(process.pid), time.monotonic())
                        storm["requests"] = sum(p.evaluate(RESUBSCRIBE) for p in pages)
                        time.sleep(1)      # old tiles are replaced as the new offers arrive
                        for page in pages:
                            page.wait_for_function(f"() => {{ const t = [...document.querySelectorAll("
                                                   f"'.tile:not(.tile-local)')]; return t.length === {n - 1} && "
                                                   f"t.every(x => x.dataset.connectionState === 'connected'); }}",
                                                   timeout=60_000)
                        time.sleep(2)      # trailing candidates and end-of-candidates
                        storm["seconds"] = time.monotonic() - s0
                        storm["frames"] = sum(p.evaluate("window.__frames") for p in pages) - frames0
                        storm["parley_cpu_s"] = cpu_seconds(process.pid) - cpu0
                finally:
                    chromium.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    up = [(a["sent"] - b["sent"]) * 8 / ((a["t"] - b["t"]) / 1000) / 1000 for a, b in zip(after, before)]
    down = [(a["received"] - b["received"]) * 8 / ((a["t"] - b["t"]) / 1000) / 1000 for a, b in zip(after, before)]
    return {"mode": mode, "n": n, "upload_kbps_per_participant": sum(up) / n, "upload_kbps_max": max(up),
            "download_kbps_per_participant": sum(down) / n,
            "browser_cpu_pct_per_participant": 100 * chrome / wall / n,
            "janus_cpu_pct": 100 * janus_cpu / wall if mode == "sfu" else 0.0,
            "parley_cpu_pct_steady": 100 * parley_steady / wall,
            "streams_playing": playing, "streams_expected": n * (n - 1), "setup_s": setup_s, "signaling_frames": frames, "parley_setup_cpu_s": setup_cpu,
            "parley_us_per_signaling_message": setup_cpu / max(1, frames) * 1e6,
            "resubscribe": storm, "parley_us_per_sfu_message": (
                storm["parley_cpu_s"] / max(1, storm["frames"]) * 1e6 if storm else None)}


def report(results: list[dict]) -> None:
    print(f"{'mode':5} {'N':>2} {'up kbit/s':>10} {'down kbit/s':>11} {'browser CPU':>11} {'Janus CPU':>9} "
          f"{'playing':>7} {'set-up':>7} {'frames':>6} {'Parley/frame':>12}")
    for r in results:
        print(f"{r['mode']:5} {r['n']:>2} {r['upload_kbps_per_participant']:>10.0f} "
              f"{r['download_kbps_per_participant']:>11.0f} {r['browser_cpu_pct_per_participant']:>10.1f}% "
              f"{r['janus_cpu_pct']:>8.1f}% {r['streams_playing']:>3}/{r['streams_expected']:<3} {r['setup_s']:>6.1f}s {r['signaling_frames']:>6} "
              f"{r['parley_us_per_signaling_message']:>10.0f}µs")
        if r["resubscribe"]:
            print(f"      re-subscription storm: {r['resubscribe']['requests']} requestoffers, "
                  f"{r['resubscribe']['frames']} client frames, Parley {r['resubscribe']['parley_cpu_s']:.2f} s CPU = "
                  f"{r['parley_us_per_sfu_message']:.0f} µs per SFU signaling message")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--modes", nargs="+", default=["mesh", "sfu"], choices=["mesh", "sfu"])
    parser.add_argument("--seconds", type=float, default=10.0, help="steady-state measuring window")
    parser.add_argument("--setup-timeout", type=float, default=90.0,
                        help="seconds for every stream to play; then it measures what plays")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    with veth_namespace() as veth, tempfile.TemporaryDirectory(prefix="parley-bench-janus-") as tmp:
        camera = write_y4m(Path(tmp) / "camera.y4m", 320, 240, 15, 45)
        janus = JanusProcess(veth, Path(tmp))
        janus.start()
        try:
            for n in args.sizes:
                for mode in args.modes:
                    result = run_one(mode, n, janus, camera, args.seconds, args.setup_timeout)
                    results.append(result)
                    print(json.dumps(result), file=sys.stderr, flush=True)
        finally:
            janus.stop()
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
