"""One Talk-like participant of an SFU call (aiortc, asyncio), run as a subprocess by tests/sfu.

It joins the room and the call, then follows the MCU flow of the standalone protocol: with
`--publish` it offers a small synthetic video stream to its **own** session id and applies the
answer; for every other in-call session it sends `requestoffer` and answers the offer that comes
back from that session's id, counting the decoded frames it receives.

    python -m tests.sfu.sfu_peer --url http://127.0.0.1:PORT --token T --mode websocket \
        --host-ip 10.231.x.1 --publish --expect 2 [--user u --password p]

Prints JSON lines: {"ready": ...} once `--expect` remote streams each delivered `--frames`
decoded frames (again after {"restarted": ...}, when the SFU restarted and it republished and
re-subscribed); then, when a line `report` arrives on stdin, the current counts; on `leave` (or
end of stdin) it leaves the call and the room, prints {"left": ...} and exits. ICE uses only
`--host-ip` (the host end of the test's veth pair) and no STUN server.
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import sys
import time
from typing import Any

import aioice.ice

from tests.e2e.webrtc_peer import Http, PollingSignaling, WebSocketSignaling  # noqa: E402  (pins loopback)

import av  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack  # noqa: E402


class SmallVideo(VideoStreamTrack):
    """160×120 at 10 fps, a flat colour that changes every frame (cheap to encode)."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        self.n += 1
        await asyncio.sleep(max(0.0, self.start + self.n / 10 - time.monotonic()))
        frame = av.VideoFrame(width=160, height=120, format="yuv420p")
        for i, plane in enumerate(frame.planes):
            plane.update(bytes([(self.n * 7 + 60 * i) % 256]) * plane.buffer_size)
        frame.pts = self.n * 9000
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


async def run(args: argparse.Namespace) -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.host_ip]
    http = Http(args.url, args.user, args.password)
    status, joined = await http("POST", f"/room/{args.token}/participants/active")
    assert status == 200, (status, joined)
    me = joined["sessionId"]
    status, settings = await http("GET", "/signaling/settings")
    assert "mcu" in settings.get("features", []), settings
    if args.mode == "websocket":
        signaling: Any = WebSocketSignaling(args.url, args.token, me, args.user, settings["ticket"])
        await signaling.connect()
    else:
        signaling = PollingSignaling(http, args.token, me)
    assert (await http("POST", f"/call/{args.token}"))[0] == 200

    config = RTCConfiguration(iceServers=[])
    frames: dict[str, int] = {}
    sizes: dict[str, list[int]] = {}
    subscribers: dict[str, RTCPeerConnection] = {}
    requested: set[str] = set()
    ready = asyncio.Event()
    publisher: RTCPeerConnection | None = None

    in_call: set[str] = set()

    def check_ready() -> None:
        if not ready.is_set() and sum(1 for n in frames.values() if n >= args.frames) >= args.expect:
            ready.set()
            report("ready")      # again after an SFU restart, once media flows anew

    async def consume(peer: str, track) -> None:
        try:
            while True:
                frame = await track.recv()
                if frame.width > 0:
                    frames[peer] = frames.get(peer, 0) + 1
                    sizes[peer] = [frame.width, frame.height]
                    check_ready()
        except MediaStreamError:
            pass

    async def publish() -> None:
        nonlocal publisher
        if publisher is not None:
            await publisher.close()
        publisher = RTCPeerConnection(config)
        publisher.addTransceiver(SmallVideo(), direction="sendonly")
        await publisher.setLocalDescription(await publisher.createOffer())
        await signaling.send({"to": me, "type": "offer", "roomType": "video", "sid": "own",
                              "payload": {"type": "offer", "sdp": publisher.localDescription.sdp}})

    async def restarted() -> None:
        """The SFU lost every stream: republish, and ask every peer in the call again."""
        ready.clear()
        frames.clear()
        for pc in list(subscribers.values()):
            await pc.close()
        subscribers.clear()
        print(json.dumps({"restarted": True, "session": me}), flush=True)
        if args.publish:
            await publish()
        for peer in sorted(in_call):
            await signaling.send({"to": peer, "type": "requestoffer", "roomType": "video"})

    if args.publish:
        await publish()

    async def on_offer(item: dict[str, Any]) -> None:
        peer = item["from"]
        old = subscribers.pop(peer, None)
        if old is not None:
            await old.close()
        pc = subscribers[peer] = RTCPeerConnection(config)
        pc.on("track", lambda track: asyncio.ensure_future(consume(peer, track)))
        await pc.setRemoteDescription(RTCSessionDescription(item["payload"]["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await signaling.send({"to": peer, "type": "answer", "roomType": item.get("roomType", "video"),
                              "sid": item.get("sid"), "payload": {"type": "answer", "sdp": pc.localDescription.sdp}})

    async def signaling_loop() -> None:
        async for kind, item in signaling.events():
            if kind == "users":
                for user in item:
                    peer = user.get("sessionId")
                    if user.get("inCall") and peer and peer != me:
                        in_call.add(peer)
                    if user.get("inCall") and peer and peer != me and peer not in requested:
                        requested.add(peer)
                        await signaling.send({"to": peer, "type": "requestoffer", "roomType": "video"})
            elif kind == "message":
                if item.get("type") == "answer" and item.get("from") == me and publisher is not None:
                    await publisher.setRemoteDescription(RTCSessionDescription(item["payload"]["sdp"], "answer"))
                elif item.get("type") == "offer" and item.get("from") != me:
                    await on_offer(item)
                elif item.get("type") == "sfuRestarted" and item.get("from") == me:
                    await restarted()

    def report(kind: str) -> None:
        print(json.dumps({kind: True, "session": me, "frames": frames, "sizes": sizes}), flush=True)

    loop_task = asyncio.create_task(signaling_loop())
    try:
        await asyncio.wait_for(ready.wait(), args.timeout)
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if line == "report":
                report("report")
            elif line in ("leave", ""):
                break
    except BaseException:
        print(f"{args.user or 'guest'} ({me[:12]}) gave up: frames={frames} requested={len(requested)} "
              f"publisher={publisher.connectionState if publisher else None}", file=sys.stderr, flush=True)
        raise
    finally:
        loop_task.cancel()
        for pc in subscribers.values():
            await pc.close()
        if publisher is not None:
            await publisher.close()
        await http("DELETE", f"/call/{args.token}")
        await http("DELETE", f"/room/{args.token}/participants/active")
    report("left")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=("polling", "websocket"), default="websocket")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--host-ip", required=True)
    parser.add_argument("--publish", action="store_true")
    parser.add_argument("--expect", type=int, default=1, help="remote streams to receive")
    parser.add_argument("--frames", type=int, default=10, help="decoded frames per stream for ready")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    asyncio.run(run(args))
    os._exit(0)    # do not wait for a pull thread still parked in the server


if __name__ == "__main__":
    main()
