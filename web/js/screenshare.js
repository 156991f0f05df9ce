// Screen sharing in a mesh call, the way Talk does it: a screen travels on its own
// RTCPeerConnection per viewer, with `roomType: "screen"` on every signaling message, and the
// sharer always makes the offer (send-only). Viewers answer and show the screen large, above the
// camera tiles. Ending the share sends `unshareScreen`; a viewer that joins the call later gets
// its own offer from `updateUsers`.
//
// With the SFU (call.sfu, feature "mcu"; hpb-interop.md §3) the screen is published ONCE: one
// send-only connection whose offer goes to our own session id with roomType "screen", answered by
// the SFU from that id; then `sendoffer` to each viewer makes the SFU offer them the screen from
// our id (viewers take that offer exactly like a mesh one). Stopping sends `unshareScreen` to each
// viewer (tiles go) and to ourselves (the server detaches the screen publisher and its viewers).
import { avatar, h, toast } from "./dom.js";

export class ScreenShare {
  // call: the Call (for its signaling, ice servers, session id and names); container: where the
  // large screen view goes (above the camera grid).
  constructor(call, container) {
    this.call = call;
    this.container = container;
    this.stream = null;          // our own shared screen
    this.outgoing = new Map();   // viewer session → RTCPeerConnection (we share)
    this.incoming = new Map();   // sharer session → { pc, sid, tile }
    this.sid = "";
    this.publisher = null;       // SFU mode: our one send-only screen connection
    this.viewers = new Set();    // SFU mode: sessions we sent `sendoffer` for
    this.onChange = null;        // the room view updates its button
    this.queue = Promise.resolve();
  }

  get viaSfu() {
    return Boolean(this.call.sfu);
  }

  get sharing() {
    return Boolean(this.stream);
  }

  async start() {
    if (this.stream) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      if (error && error.name !== "NotAllowedError") toast(`Could not share the screen: ${error.message}`, "error");
      return;
    }
    this.stream = stream;
    this.sid = String(Date.now());
    // The browser's own "Stop sharing" bar ends the track: treat it like our button.
    stream.getVideoTracks()[0]?.addEventListener("ended", () => this.stopSharing());
    this.localTile = this.makeTile(this.call.sessionId, "Your screen", true);
    this.localTile.video.srcObject = stream;
    this.localTile.video.play().catch(() => {});
    if (this.viaSfu) this.publish();
    else for (const session of this.call.inCallSessions) this.offerTo(session);
    this.onChange?.();
  }

  stopSharing() {
    if (!this.stream) return;
    this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    for (const [session, pc] of this.outgoing) {
      pc.close();
      this.send(session, "unshareScreen", {});
    }
    this.outgoing.clear();
    if (this.publisher) {
      this.publisher.close();
      this.publisher = null;
      for (const session of this.viewers) this.send(session, "unshareScreen", {});
      this.send(this.call.sessionId, "unshareScreen", {});   // the SFU frees the stream
      this.viewers.clear();
    }
    this.localTile?.el.remove();
    this.localTile = null;
    this.layout();
    this.onChange?.();
  }

  send(to, type, payload) {
    this.call.signaling.send({ to, sid: this.sid, roomType: "screen", type, payload });
  }

  // -- SFU mode ----------------------------------------------------------------------------------------

  async publish() {
    this.publisher?.close();
    this.viewers.clear();
    const pc = new RTCPeerConnection({ iceServers: this.call.iceServers });
    this.publisher = pc;
    const me = this.call.sessionId;
    for (const track of this.stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [this.stream] });
    pc.onicecandidate = (event) => {
      if (this.publisher !== pc) return;
      if (!event.candidate || !event.candidate.candidate) {
        this.call.signaling.send({ to: me, sid: this.sid, roomType: "screen", type: "endOfCandidates" });
        return;
      }
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      this.send(me, "candidate", { candidate: { candidate, sdpMid, sdpMLineIndex } });
    };
    pc.onconnectionstatechange = () => {
      if (this.localTile) this.localTile.el.dataset.publishState = pc.connectionState;
      // Publish again (as sfu.js does for the camera): the SFU re-offers it to the viewers.
      if (pc.connectionState === "failed" && this.publisher === pc) {
        setTimeout(() => this.publisher === pc && this.stream && this.publish(), 1000);
      }
    };
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.send(me, "offer", { type: "offer", sdp: offer.sdp, nick: this.call.nick });
      // The SFU keeps these until the screen's media is up, then offers it to each viewer.
      for (const session of this.call.inCallSessions) this.sendOfferTo(session);
    } catch (error) {
      console.warn("could not publish the screen to the SFU", error);
    }
  }

  sendOfferTo(session) {
    if (!this.publisher || session === this.call.sessionId || this.viewers.has(session)) return;
    this.viewers.add(session);
    this.call.signaling.send({ to: session, sid: this.sid, roomType: "screen", type: "sendoffer" });
  }

  // The SFU restarted (sfu.js): every stream is gone there; viewers get new offers once we republish.
  sfuRestarted() {
    for (const session of [...this.incoming.keys()]) this.removeIncoming(session);
    if (this.stream && this.viaSfu) this.publish();
  }

  async offerTo(session) {
    if (!this.stream || session === this.call.sessionId || this.outgoing.has(session)) return;
    const pc = new RTCPeerConnection({ iceServers: this.call.iceServers });
    this.outgoing.set(session, pc);
    for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
    pc.onicecandidate = (event) => {
      if (!event.candidate || !event.candidate.candidate) return;
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      this.send(session, "candidate", { candidate: { candidate, sdpMid, sdpMLineIndex } });
    };
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.send(session, "offer", { type: "offer", sdp: offer.sdp, nick: this.call.nick });
    } catch (error) {
      console.warn("could not offer the screen", error);
    }
  }

  // The in-call sessions changed: offer our screen to newcomers, drop screens of those who left.
  updateUsers(inCallSessions) {
    for (const session of inCallSessions) {
      if (this.publisher) this.sendOfferTo(session);
      else if (this.stream && !this.viaSfu) this.offerTo(session);
    }
    for (const session of [...this.viewers]) if (!inCallSessions.has(session)) this.viewers.delete(session);
    for (const [session, pc] of [...this.outgoing]) {
      if (!inCallSessions.has(session)) {
        pc.close();
        this.outgoing.delete(session);
      }
    }
    for (const session of [...this.incoming.keys()]) {
      if (!inCallSessions.has(session)) this.removeIncoming(session);
    }
  }

  // One message at a time, in arrival order: a candidate must not overtake the offer or answer
  // it belongs to while that is still being applied.
  handleMessage(message) {
    this.queue = this.queue.then(() => this.process(message));
    return this.queue;
  }

  async process(message) {
    const from = message.from;
    if (from && from === this.call.sessionId) return this.fromSfu(message);
    if (!from) return;
    try {
      switch (message.type) {
        case "offer": {
          this.removeIncoming(from);
          const pc = new RTCPeerConnection({ iceServers: this.call.iceServers });
          const name = this.call.nameOf(from) || message.payload?.nick || "Someone";
          const entry = { pc, sid: message.sid, pending: [], tile: this.makeTile(from, `${name}'s screen`, false) };
          this.incoming.set(from, entry);
          pc.ontrack = (event) => {
            const stream = event.streams[0] || new MediaStream([event.track]);
            entry.tile.video.srcObject = stream;
            entry.tile.video.play().catch(() => {});
          };
          pc.onconnectionstatechange = () => {
            // Through the SFU a viewer asks for a fresh subscription (a mesh sharer re-offers).
            if (pc.connectionState === "failed" && this.viaSfu && this.incoming.get(from) === entry) {
              this.call.signaling.send({ to: from, sid: entry.sid, roomType: "screen", type: "requestoffer" });
            }
          };
          pc.onicecandidate = (event) => {
            if (!event.candidate || !event.candidate.candidate) return;
            const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
            this.call.signaling.send({ to: from, sid: entry.sid, roomType: "screen", type: "candidate",
              payload: { candidate: { candidate, sdpMid, sdpMLineIndex } } });
          };
          await pc.setRemoteDescription({ type: "offer", sdp: message.payload.sdp });
          for (const candidate of entry.pending.splice(0)) await pc.addIceCandidate(candidate);
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          this.call.signaling.send({ to: from, sid: entry.sid, roomType: "screen", type: "answer",
            payload: { type: "answer", sdp: answer.sdp, nick: this.call.nick } });
          break;
        }
        case "answer": {
          const pc = this.outgoing.get(from);
          if (!pc || message.sid !== this.sid || pc.signalingState !== "have-local-offer") return;
          await pc.setRemoteDescription({ type: "answer", sdp: message.payload.sdp });
          break;
        }
        case "candidate": {
          const candidate = message.payload?.candidate;
          if (!candidate) return;
          const mine = this.outgoing.get(from);
          if (mine && message.sid === this.sid) {
            await mine.addIceCandidate(candidate);
            return;
          }
          const theirs = this.incoming.get(from);
          if (!theirs || theirs.sid !== message.sid) return;
          if (theirs.pc.remoteDescription) await theirs.pc.addIceCandidate(candidate);
          else theirs.pending.push(candidate);
          break;
        }
        case "unshareScreen":
          this.removeIncoming(from);
          break;
        default:
          break;
      }
    } catch (error) {
      console.warn(`screen ${message.type} from a peer failed`, error);
    }
  }

  // SFU mode: the answer to our screen's offer comes from our own session id.
  async fromSfu(message) {
    const pc = this.publisher;
    if (message.type !== "answer" || !pc || pc.signalingState !== "have-local-offer") return;
    if (message.sid !== undefined && message.sid !== this.sid) return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: message.payload.sdp });
    } catch (error) {
      console.warn("the SFU's answer for the screen failed", error);
    }
  }

  removeIncoming(session) {
    const entry = this.incoming.get(session);
    if (!entry) return;
    this.incoming.delete(session);
    entry.pc.close();
    entry.tile.video.srcObject = null;
    entry.tile.el.remove();
    this.layout();
  }

  makeTile(session, label, local) {
    const video = h("video", { autoplay: true, playsinline: true });
    video.muted = true;
    const el = h("figure", { class: `tile tile-screen${local ? " tile-screen-local" : ""}`, dataset: { session } },
      video, h("div", { class: "tile-placeholder", "aria-hidden": "true" }, avatar(label, "avatar-xl")),
      h("figcaption", { text: label }));
    // Someone else's screen goes first: it is what the call is looking at.
    if (local) this.container.append(el);
    else this.container.prepend(el);
    this.layout();
    return { el, video };
  }

  layout() {
    this.container.hidden = this.container.children.length === 0;
    this.container.dataset.count = String(this.container.children.length);
    this.container.closest(".call")?.classList.toggle("has-screen", !this.container.hidden);
  }

  stop() {
    this.stopSharing();
    for (const session of [...this.incoming.keys()]) this.removeIncoming(session);
  }
}
