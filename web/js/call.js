// A call: local media and a mesh of RTCPeerConnections, one per other in-call session, negotiated
// over signaling.js. The session with the smaller id (string compare) sends the offer, so two
// peers never offer to each other at once. Payloads follow signaling.md §2.6.
import { api } from "./api.js";
import { preferredDevice } from "./devices.js";
import { avatar, h, toast } from "./dom.js";
import { SfuSession } from "./sfu.js";
import { ScreenShare } from "./screenshare.js";
import { SpeakingDetector } from "./speaking.js";

const PEER_GRACE_MS = 8000;   // a peer met through its offer may not be in usersInRoom yet

function iceServers(settings) {
  const servers = [];
  for (const entry of [...(settings.stunservers || []), ...(settings.turnservers || [])]) {
    const urls = entry.urls || entry.url;
    if (!urls || (Array.isArray(urls) && urls.length === 0)) continue;
    const server = { urls };
    if (entry.username) server.username = entry.username;
    if (entry.credential) server.credential = entry.credential;
    servers.push(server);
  }
  return servers;
}

export class Call {
  constructor({ token, sessionId, signaling, stage, screenStage, nick, nameOf }) {
    this.token = token;
    this.sessionId = sessionId;
    this.signaling = signaling;
    this.stage = stage;
    this.nick = nick;
    this.nameOf = nameOf;
    this.peers = new Map();   // remote session id → peer
    this.stream = null;
    this.audioOn = true;
    this.videoOn = true;
    this.active = false;
    this.inCallSessions = new Set();
    this.screens = new ScreenShare(this, screenStage);   // screenshare.js: its own connections
    this.speaking = null;
  }

  async start() {
    let settings = {};
    try {
      settings = (await api.get("/signaling/settings")).data || {};
    } catch (error) {
      console.warn("no signaling settings; calling without STUN/TURN", error);
    }
    this.iceServers = iceServers(settings);
    // Calls go through the SFU (sfu.js) when the server says so; it exists before we are active,
    // so no mesh peer is ever started, and publishes once the server has us in the call.
    this.sfu = (settings.features || []).includes("mcu") ? new SfuSession(this) : null;
    this.stream = await this.openMedia();
    this.localTile = this.makeTile(this.sessionId, `${this.nick} (you)`, true);
    if (this.stream) {
      this.localTile.video.srcObject = this.stream;
      this.localTile.video.play().catch(() => {});
    }
    this.audioOn = Boolean(this.stream && this.stream.getAudioTracks().length);
    this.videoOn = Boolean(this.stream && this.stream.getVideoTracks().length);
    this.refreshLocalTile();
    this.speaking = new SpeakingDetector(this).start();
    // Active before the server hears of it: an offer may arrive as soon as others see us in the call.
    this.active = true;
    try {
      await api.post(`/call/${this.token}`);
    } catch (error) {
      await this.stop();
      throw error;
    }
    if (this.active) this.sfu?.start();
  }

  async openMedia() {
    const attempts = [
      // The camera and microphone chosen last time (devices.js), when they are still there.
      { audio: { ...preferredDevice("audio") }, video: { ...preferredDevice("video"), width: { ideal: 640 }, height: { ideal: 360 } } },
      { audio: { ...preferredDevice("audio") }, video: false },
      { audio: false, video: { ...preferredDevice("video") } },
    ];
    for (const constraints of attempts) {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch (error) {
        if (error && error.name === "NotAllowedError") break;
      }
    }
    toast("No camera or microphone available: you can watch and listen only.", "warn");
    return null;
  }

  async stop({ keepalive = false } = {}) {
    const wasActive = this.active;
    this.active = false;
    this.sfu?.close();
    this.sfu = null;
    this.screens.stop();
    this.speaking?.stop();
    for (const peer of this.peers.values()) this.closePeer(peer);
    this.peers.clear();
    this.stream?.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.stage.replaceChildren();
    if (wasActive) {
      try {
        await api.del(`/call/${this.token}`, {}, { keepalive });
      } catch (error) {
        console.warn("leaving the call failed", error);
      }
    }
  }

  setAudio(on) {
    this.audioOn = on;
    this.stream?.getAudioTracks().forEach((t) => { t.enabled = on; });
    this.broadcast(on ? "unmute" : "mute", { name: "audio" });
    this.refreshLocalTile();
  }

  setVideo(on) {
    this.videoOn = on;
    this.stream?.getVideoTracks().forEach((t) => { t.enabled = on; });
    this.broadcast(on ? "unmute" : "mute", { name: "video" });
    this.refreshLocalTile();
  }

  get hasAudio() {
    return Boolean(this.stream && this.stream.getAudioTracks().length);
  }

  get hasVideo() {
    return Boolean(this.stream && this.stream.getVideoTracks().length);
  }

  refreshLocalTile() {
    if (!this.localTile) return;
    this.localTile.el.classList.toggle("video-off", !this.videoOn);
    this.localTile.el.dataset.audio = this.audioOn ? "on" : "off";
  }

  broadcast(type, payload) {
    for (const peer of this.peers.values()) this.send(peer, type, payload);
  }

  send(peer, type, payload) {
    this.signaling.send({ to: peer.sessionId, sid: peer.sid, roomType: "video", type, payload });
  }

  // usersInRoom from the signaling pull: start peers for new in-call sessions, drop departed ones.
  updateUsers(users) {
    this.inCallSessions = new Set(users.filter((u) => u.inCall).map((u) => u.sessionId));
    if (!this.active) return;
    if (this.sfu) this.sfu.updateUsers();
    this.screens.updateUsers(this.inCallSessions);
    for (const sessionId of this.sfu ? [] : this.inCallSessions) {
      if (sessionId === this.sessionId || this.peers.has(sessionId)) continue;
      if (this.sessionId < sessionId) this.createPeer(sessionId, String(Date.now()), true);
    }
    this.dropDeparted();
    for (const peer of this.peers.values()) peer.tile.caption.textContent = this.peerName(peer);
  }

  // A peer that left the call goes at once; one we only know from its offer gets a grace period,
  // because its offer can overtake the usersInRoom that shows it in the call.
  dropDeparted() {
    for (const peer of [...this.peers.values()]) {
      if (this.inCallSessions.has(peer.sessionId)) {
        peer.seenInCall = true;
      } else if (peer.seenInCall || Date.now() - peer.created > PEER_GRACE_MS) {
        this.removePeer(peer.sessionId);
      } else {
        clearTimeout(peer.graceTimer);
        peer.graceTimer = setTimeout(() => this.active && this.dropDeparted(), PEER_GRACE_MS);
      }
    }
  }

  peerName(peer) {
    return this.nameOf(peer.sessionId) || peer.nick || "Guest";
  }

  createPeer(sessionId, sid, offerer) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const peer = { sessionId, sid, pc, offerer, created: Date.now(), pending: [], nick: "",
      seenInCall: this.inCallSessions.has(sessionId), graceTimer: null };
    peer.tile = this.makeTile(sessionId, this.peerName(peer), false);
    this.peers.set(sessionId, peer);

    if (this.stream) {
      for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
    }
    // Receive both kinds even when we have nothing to send.
    if (!this.hasAudio) pc.addTransceiver("audio", { direction: "recvonly" });
    if (!this.hasVideo) pc.addTransceiver("video", { direction: "recvonly" });

    pc.onicecandidate = (event) => {
      if (!event.candidate || !event.candidate.candidate) return;
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      this.send(peer, "candidate", { candidate: { candidate, sdpMid, sdpMLineIndex } });
    };
    pc.ontrack = (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      if (peer.tile.video.srcObject !== stream) {
        peer.tile.video.srcObject = stream;
        peer.tile.video.play().catch(() => this.offerPlayButton(peer));
      }
    };
    pc.onconnectionstatechange = () => {
      peer.tile.el.dataset.connectionState = pc.connectionState;
      if (pc.connectionState === "failed" && peer.offerer && this.active) {
        // Start over with a fresh connection; the other side replaces its peer on the new sid.
        this.removePeer(sessionId);
        setTimeout(() => {
          if (this.active && this.inCallSessions.has(sessionId) && !this.peers.has(sessionId)) {
            this.createPeer(sessionId, String(Date.now()), true);
          }
        }, 1000);
      }
    };
    peer.tile.el.dataset.connectionState = pc.connectionState;
    if (offerer) this.makeOffer(peer);
    return peer;
  }

  async makeOffer(peer) {
    try {
      const offer = await peer.pc.createOffer();
      await peer.pc.setLocalDescription(offer);
      this.send(peer, "offer", { type: "offer", sdp: offer.sdp, nick: this.nick });
    } catch (error) {
      console.warn("could not create an offer", error);
    }
  }

  offerPlayButton(peer) {
    if (peer.tile.el.querySelector(".play-button")) return;
    const button = h("button", {
      type: "button", class: "btn play-button",
      onclick: () => { peer.tile.video.play().then(() => button.remove()).catch(() => {}); },
    }, `Play ${this.peerName(peer)}`);
    peer.tile.el.append(button);
  }

  async handleMessage(message) {
    if (this.active && message.roomType === "screen") return this.screens.handleMessage(message);
    if (!this.active || message.roomType && message.roomType !== "video") return;
    if (this.sfu && await this.sfu.handleMessage(message)) return;
    const from = message.from;
    if (!from || from === this.sessionId) return;
    let peer = this.peers.get(from);
    try {
      switch (message.type) {
        case "offer": {
          if (peer && peer.sid !== message.sid) {
            this.removePeer(from);
            peer = null;
          }
          if (!peer) peer = this.createPeer(from, message.sid, false);
          peer.nick = message.payload?.nick || peer.nick;
          peer.tile.caption.textContent = this.peerName(peer);
          await peer.pc.setRemoteDescription({ type: "offer", sdp: message.payload.sdp });
          await this.flushCandidates(peer);
          const answer = await peer.pc.createAnswer();
          await peer.pc.setLocalDescription(answer);
          this.send(peer, "answer", { type: "answer", sdp: answer.sdp, nick: this.nick });
          this.sendMuteState(peer);
          break;
        }
        case "answer": {
          if (!peer || peer.sid !== message.sid || peer.pc.signalingState !== "have-local-offer") return;
          peer.nick = message.payload?.nick || peer.nick;
          peer.tile.caption.textContent = this.peerName(peer);
          await peer.pc.setRemoteDescription({ type: "answer", sdp: message.payload.sdp });
          await this.flushCandidates(peer);
          this.sendMuteState(peer);
          break;
        }
        case "candidate": {
          if (!peer || peer.sid !== message.sid) return;
          const candidate = message.payload?.candidate;
          if (!candidate) return;
          if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(candidate);
          else peer.pending.push(candidate);
          break;
        }
        case "mute":
        case "unmute": {
          if (!peer) return;
          const kind = message.payload?.name;
          if (kind === "audio" || kind === "video") {
            peer.tile.el.classList.toggle(kind === "video" ? "video-off" : "audio-off", message.type === "mute");
            if (kind === "audio") peer.tile.el.dataset.audio = message.type === "mute" ? "off" : "on";
          }
          break;
        }
        default:
          break;
      }
    } catch (error) {
      console.warn(`signaling ${message.type} from a peer failed`, error);
    }
  }

  sendMuteState(peer) {
    if (!this.audioOn) this.send(peer, "mute", { name: "audio" });
    if (!this.videoOn) this.send(peer, "mute", { name: "video" });
  }

  async flushCandidates(peer) {
    for (const candidate of peer.pending.splice(0)) {
      try {
        await peer.pc.addIceCandidate(candidate);
      } catch (error) {
        console.warn("dropped an ICE candidate", error);
      }
    }
  }

  removePeer(sessionId) {
    const peer = this.peers.get(sessionId);
    if (!peer) return;
    this.peers.delete(sessionId);
    this.closePeer(peer);
  }

  closePeer(peer) {
    clearTimeout(peer.graceTimer);
    peer.pc.onconnectionstatechange = null;
    peer.pc.close();
    peer.tile.video.srcObject = null;
    peer.tile.el.remove();
    this.layout();
  }

  makeTile(sessionId, name, local) {
    const video = h("video", { autoplay: true, playsinline: true });
    video.muted = local;   // never play our own microphone back
    const caption = h("figcaption", { text: name });
    const el = h("figure", { class: `tile${local ? " tile-local" : ""}`, dataset: { session: sessionId } },
      video, h("div", { class: "tile-placeholder", "aria-hidden": "true" }, avatar(name, "avatar-xl")),
      h("span", { class: "tile-muted", title: "Microphone off", "aria-label": "Microphone off" }), caption);
    if (local) this.stage.prepend(el);
    else this.stage.append(el);
    this.layout();
    return { el, video, caption };
  }

  layout() {
    this.stage.dataset.count = String(this.stage.children.length);
  }
}
