"""One WebRTC peer (aiortc, asyncio) that joins a Parley room and call like a Talk client, signals
through Parley (polling or the /spreed WebSocket), opens a data channel and exchanges a message.

Run as a subprocess by the end-to-end tests (aiortc needs asyncio; the tests run on trio):

    python -m tests.e2e.webrtc_peer --url http://127.0.0.1:PORT --token T --mode polling \
        [--user alice --password secret] [--relay-only]

Prints one JSON line on success: {"session": ..., "received": ..., "candidates": {...}}.
Only loopback addresses are used: host candidates are pinned to 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import http.cookiejar
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]   # loopback only

from aiortc import (RTCConfiguration, RTCIceServer, RTCPeerConnection,  # noqa: E402
                    RTCSessionDescription)
from aiortc.rtcconfiguration import RTCIceTransportPolicy  # noqa: E402
from aiortc.sdp import candidate_from_sdp  # noqa: E402
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage  # noqa: E402

API = "/ocs/v2.php/apps/spreed/api/v1"


class Http:
    """A blocking cookie-jar client (run in threads): Talk's cookie session carries the Talk session."""

    def __init__(self, base: str, user: str | None, password: str | None) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.headers = {"OCS-APIRequest": "true", "Accept": "application/json"}
        if user:
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, Any]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + API + path, data=data, method=method, headers=self.headers)
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())["ocs"]["data"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b'{"ocs":{"data":null}}')["ocs"]["data"]

    async def __call__(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, Any]:
        return await asyncio.to_thread(self.call, method, path, form)


class PollingSignaling:
    def __init__(self, http: Http, token: str, session: str) -> None:
        self.http, self.token, self.session = http, token, session

    async def send(self, payload: dict[str, Any]) -> None:
        envelope = [{"ev": "message", "fn": json.dumps(payload), "sessionId": self.session}]
        await self.http("POST", f"/signaling/{self.token}", {"messages": json.dumps(envelope)})

    async def events(self):
        while True:
            status, data = await self.http("GET", f"/signaling/{self.token}")
            assert status == 200, (status, data)
            for entry in data:
                if entry["type"] == "message":
                    yield "message", json.loads(entry["data"])
                elif entry["type"] == "usersInRoom":
                    yield "users", entry["data"]


class WebSocketSignaling:
    """The standalone protocol over wsproto on asyncio streams (hello, room join, message)."""

    def __init__(self, url: str, token: str, session: str, user: str | None, ticket: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.token, self.session, self.user, self.ticket = token, session, user, ticket
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.buffer: list[str] = []

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.ws.send(Request(host=f"{self.host}:{self.port}", target="/spreed")))
        while not isinstance(await self._event(), AcceptConnection):
            pass
        await self._send({"type": "hello", "id": "1", "hello": {"version": "1.0", "auth": {
            "url": "", "params": {"userid": self.user, "ticket": self.ticket}}}})
        assert (await self._frame())["type"] == "hello"
        await self._send({"type": "room", "id": "2", "room": {"roomid": self.token, "sessionid": self.session}})

    async def _event(self):
        while True:
            for event in self.ws.events():
                if isinstance(event, TextMessage):
                    self.buffer.append(event.data)
                    if event.message_finished:
                        text, self.buffer = "".join(self.buffer), []
                        return text
                    continue
                if isinstance(event, CloseConnection):
                    raise ConnectionError("the server closed the WebSocket")
                return event
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("connection lost")
            self.ws.receive_data(data)

    async def _frame(self) -> dict[str, Any]:
        while True:
            event = await self._event()
            if isinstance(event, str):
                return json.loads(event)

    async def _send(self, frame: dict[str, Any]) -> None:
        self.writer.write(self.ws.send(TextMessage(data=json.dumps(frame))))
        await self.writer.drain()

    async def send(self, payload: dict[str, Any]) -> None:
        await self._send({"type": "message", "message": {"recipient": {"type": "session", "sessionid": payload["to"]},
                                                          "data": payload}})

    async def events(self):
        while True:
            frame = await self._frame()
            if frame["type"] == "message":
                yield "message", {**frame["message"]["data"], "from": frame["message"]["sender"]["sessionid"]}
            elif frame["type"] == "event" and frame["event"]["target"] == "participants":
                yield "users", frame["event"]["update"]["users"]
            elif frame["type"] == "error":
                raise RuntimeError(f"signaling error: {frame}")


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """Trickle ICE: the SDP without candidates, and the candidates to send one by one."""
    lines = sdp.splitlines()
    candidates = [line[2:] for line in lines if line.startswith("a=candidate:")]
    rest = [line for line in lines if not line.startswith("a=candidate:") and line != "a=end-of-candidates"]
    return "\r\n".join(rest) + "\r\n", candidates


async def run(args: argparse.Namespace) -> dict[str, Any]:
    http = Http(args.url, args.user, args.password)
    status, joined = await http("POST", f"/room/{args.token}/participants/active")
    assert status == 200, (status, joined)
    session = joined["sessionId"]
    status, settings = await http("GET", "/signaling/settings")
    servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
               for s in settings["stunservers"] + settings["turnservers"]]
    policy = RTCIceTransportPolicy.RELAY if args.relay_only else RTCIceTransportPolicy.ALL
    pc = RTCPeerConnection(RTCConfiguration(iceServers=servers, iceTransportPolicy=policy))
    if args.mode == "websocket":
        signaling: Any = WebSocketSignaling(args.url, args.token, session, args.user, settings["ticket"])
        await signaling.connect()
    else:
        signaling = PollingSignaling(http, args.token, session)
    assert (await http("POST", f"/call/{args.token}"))[0] == 200

    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    peer: dict[str, Any] = {}
    types_seen: set[str] = set()
    local_types: set[str] = set()

    def wire(channel) -> None:
        @channel.on("open")
        def on_open() -> None:
            channel.send(f"hello from {args.name}")

        @channel.on("message")
        def on_message(message: str) -> None:
            if not received.done():
                received.set_result(message)
        if channel.readyState == "open":
            on_open()

    pc.on("datachannel", wire)

    async def send_description(kind: str, to: str) -> None:
        sdp, candidates = split_candidates(pc.localDescription.sdp)
        local_types.update(line.split(" typ ")[1].split()[0] for line in candidates)
        await signaling.send({"to": to, "type": kind, "roomType": "video", "sid": "1",
                              "payload": {"type": kind, "sdp": sdp}})
        for line in candidates:
            await signaling.send({"to": to, "type": "candidate", "roomType": "video", "sid": "1", "payload": {
                "candidate": {"candidate": "candidate:" + line.split(":", 1)[1], "sdpMid": "0", "sdpMLineIndex": 0}}})

    async def add_candidate(payload: dict[str, Any]) -> None:
        candidate = candidate_from_sdp(payload["candidate"]["candidate"].split(":", 1)[1])
        candidate.sdpMid, candidate.sdpMLineIndex = payload["candidate"]["sdpMid"], payload["candidate"]["sdpMLineIndex"]
        await pc.addIceCandidate(candidate)

    async def signaling_loop() -> None:
        async for kind, item in signaling.events():
            if kind == "users":
                others = [u["sessionId"] for u in item if u["inCall"] and u["sessionId"] != session]
                # Talk's rule: the larger session id calls the smaller one.
                if others and "started" not in peer and others[0] < session:
                    peer["started"], peer["id"] = True, others[0]
                    wire(pc.createDataChannel("parley"))
                    await pc.setLocalDescription(await pc.createOffer())
                    await send_description("offer", others[0])
            elif kind == "message":
                types_seen.add(item["type"])
                if item["type"] == "offer":
                    peer["started"], peer["id"] = True, item["from"]
                    await pc.setRemoteDescription(RTCSessionDescription(item["payload"]["sdp"], "offer"))
                    await pc.setLocalDescription(await pc.createAnswer())
                    await send_description("answer", item["from"])
                elif item["type"] == "answer":
                    await pc.setRemoteDescription(RTCSessionDescription(item["payload"]["sdp"], "answer"))
                elif item["type"] == "candidate":
                    await add_candidate(item["payload"])

    loop_task = asyncio.create_task(signaling_loop())
    try:
        message = await asyncio.wait_for(received, args.timeout)
        await asyncio.sleep(0.5)       # let our own hello reach the other side before closing
    except BaseException:
        print(f"{args.name} ({session[:12]}) gave up: peer={str(peer.get('id'))[:12]} seen={sorted(types_seen)} "
              f"local={sorted(local_types)} ice={pc.iceConnectionState} connection={pc.connectionState} "
              f"signaling={pc.signalingState}", file=sys.stderr, flush=True)
        raise
    finally:
        loop_task.cancel()
        await pc.close()
        # Leave like a Talk client does; this also ends our own parked pull at once.
        await http("DELETE", f"/room/{args.token}/participants/active")
    return {"session": session, "received": message, "peer": peer.get("id"), "types": sorted(types_seen),
            "local_candidate_types": sorted(local_types)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--mode", choices=("polling", "websocket"), default="polling")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--name", default="peer")
    parser.add_argument("--relay-only", action="store_true")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    os._exit(0)    # do not wait for a pull thread still parked in the server


if __name__ == "__main__":
    main()
