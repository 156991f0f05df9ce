// Calls through the SFU (Janus driven by Parley), used by call.js when /signaling/settings
// advertises the feature "mcu". The standalone protocol's MCU flow (hpb-interop.md §3):
//
//   publish    one RTCPeerConnection that only sends; its offer goes to our OWN session id and the
//              SFU's answer comes back from it. Candidates for it go to our own id too.
//   subscribe  per remote publisher: `requestoffer` to its session id; the SFU's offer arrives
//              from that id, we answer to it, candidates go to it. Re-asked every 10 s until an
//              offer arrives (as Talk does), and again when its connection fails.
//   restart    the server sends `sfuRestarted` from our own id when Janus restarted: everything
//              is gone there, so republish and subscribe again.
//
// Subscriptions live in call.peers with the mesh peers' shape, so call.js's tiles, mute
// indicators, departures and broadcasts (mute/unmute go peer to peer, not through the SFU) work
// unchanged. Screen sharing through the SFU lives in screenshare.js (roomType "screen", `sendoffer`);
// a restart tells it to republish too.
const REQUEST_AGAIN_MS = 10000;
const MCU_TYPES = new Set(["offer", "answer", "candidate", "endOfCandidates"]);

export class SfuSession {
  constructor(call) {
    this.call = call;
    this.publisher = null;      // { pc, sid }
    this.requested = new Map(); // session id → time of the last requestoffer
    this.timer = null;
    this.started = false;       // publishing and subscribing wait until we are in the call
    this.closed = false;
  }

  get me() {
    return this.call.sessionId;
  }

  start() {
    this.started = true;
    this.publish();
    this.updateUsers();
    this.timer = setInterval(() => this.requestMissing(), REQUEST_AGAIN_MS);
  }

  close() {
    this.closed = true;
    clearInterval(this.timer);
    this.publisher?.pc.close();
    this.publisher = null;
    this.requested.clear();
  }

  send(to, type, extra = {}) {
    this.call.signaling.send({ to, roomType: "video", type, ...extra });
  }

  // -- publishing -----------------------------------------------------------------------------------

  async publish() {
    this.publisher?.pc.close();
    this.publisher = null;
    const stream = this.call.stream;
    if (!stream || stream.getTracks().length === 0 || this.closed) return;   // watch-only
    const pc = new RTCPeerConnection({ iceServers: this.call.iceServers });
    const sid = String(Date.now());
    this.publisher = { pc, sid };
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    pc.onicecandidate = (event) => {
      if (this.publisher?.pc !== pc) return;
      if (!event.candidate || !event.candidate.candidate) {
        this.send(this.me, "endOfCandidates", { sid });
        return;
      }
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      this.send(this.me, "candidate", { sid, payload: { candidate: { candidate, sdpMid, sdpMLineIndex } } });
    };
    pc.onconnectionstatechange = () => {
      if (this.call.localTile) this.call.localTile.el.dataset.publishState = pc.connectionState;
      if (pc.connectionState === "failed" && this.publisher?.pc === pc && !this.closed) {
        setTimeout(() => this.publisher?.pc === pc && this.publish(), 1000);
      }
    };
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.send(this.me, "offer", { sid, payload: { type: "offer", sdp: offer.sdp, nick: this.call.nick } });
    } catch (error) {
      console.warn("could not publish to the SFU", error);
    }
  }

  // -- subscribing ----------------------------------------------------------------------------------

  updateUsers() {
    for (const sessionId of this.requested.keys()) {
      if (!this.call.inCallSessions.has(sessionId)) this.requested.delete(sessionId);
    }
    this.requestMissing();
  }

  requestMissing() {
    if (this.closed || !this.started) return;
    const now = Date.now();
    for (const sessionId of this.call.inCallSessions) {
      if (sessionId === this.me) continue;
      const peer = this.call.peers.get(sessionId);
      if (peer && peer.pc.connectionState !== "failed") continue;
      const last = this.requested.get(sessionId);
      if (last !== undefined && now - last < REQUEST_AGAIN_MS - 500) continue;
      this.requested.set(sessionId, now);
      this.send(sessionId, "requestoffer");
    }
  }

  subscribe(from, sid) {
    const call = this.call;
    call.removePeer(from);
    const pc = new RTCPeerConnection({ iceServers: call.iceServers });
    const peer = { sessionId: from, sid, pc, offerer: false, created: Date.now(), pending: [], nick: "",
      seenInCall: call.inCallSessions.has(from), graceTimer: null };
    peer.tile = call.makeTile(from, call.peerName(peer), false);
    call.peers.set(from, peer);
    pc.onicecandidate = (event) => {
      if (!event.candidate || !event.candidate.candidate) {
        this.send(from, "endOfCandidates", { sid });
        return;
      }
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      this.send(from, "candidate", { sid, payload: { candidate: { candidate, sdpMid, sdpMLineIndex } } });
    };
    pc.ontrack = (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      if (peer.tile.video.srcObject !== stream) {
        peer.tile.video.srcObject = stream;
        peer.tile.video.play().catch(() => call.offerPlayButton(peer));
      }
    };
    pc.onconnectionstatechange = () => {
      peer.tile.el.dataset.connectionState = pc.connectionState;
      if (pc.connectionState === "failed" && !this.closed) {
        this.requested.delete(from);
        setTimeout(() => this.requestMissing(), 1000);
      }
    };
    peer.tile.el.dataset.connectionState = pc.connectionState;
    return peer;
  }

  // -- messages ---------------------------------------------------------------------------------------

  // True when the message belonged to the SFU flow (call.js then does nothing more with it).
  async handleMessage(message) {
    const from = message.from;
    if (!this.started) return MCU_TYPES.has(message.type) || message.type === "sfuRestarted";
    if (message.type === "sfuRestarted") {
      if (from === this.me) await this.restart();
      return true;
    }
    if (!MCU_TYPES.has(message.type)) return false;
    try {
      if (from === this.me) {
        if (message.type === "answer" && this.publisher && this.publisher.pc.signalingState === "have-local-offer") {
          await this.publisher.pc.setRemoteDescription({ type: "answer", sdp: message.payload.sdp });
        }
        return true;
      }
      if (message.type === "offer") {
        const peer = this.subscribe(from, message.sid);
        peer.nick = message.payload?.nick || peer.nick;
        await peer.pc.setRemoteDescription({ type: "offer", sdp: message.payload.sdp });
        await this.call.flushCandidates(peer);
        const answer = await peer.pc.createAnswer();
        await peer.pc.setLocalDescription(answer);
        this.send(from, "answer", { sid: message.sid, payload: { type: "answer", sdp: answer.sdp, nick: this.call.nick } });
        this.call.sendMuteState(peer);
      } else if (message.type === "candidate") {
        const peer = this.call.peers.get(from);
        const candidate = message.payload?.candidate;
        if (!peer || !candidate) return true;
        if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(candidate);
        else peer.pending.push(candidate);
      }
    } catch (error) {
      console.warn(`SFU ${message.type} failed`, error);
    }
    return true;
  }

  async restart() {
    for (const sessionId of [...this.call.peers.keys()]) this.call.removePeer(sessionId);
    this.requested.clear();
    await this.publish();
    this.call.screens.sfuRestarted();
    this.requestMissing();
  }
}
