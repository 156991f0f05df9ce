// Who is speaking: the audio level of each remote peer's incoming audio, read from its
// RTCRtpReceiver (getSynchronizationSources, no Web Audio graph and no autoplay rules involved),
// a few times a second. A tile lights up above the threshold and stays lit for HOLD_MS, so
// speech pauses between words do not make it flicker.
const SAMPLE_MS = 200;   // ok: sampling timer, the browser offers no level-change event
const THRESHOLD = 0.04;
const HOLD_MS = 700;

export class SpeakingDetector {
  constructor(call) {
    this.call = call;
    this.timer = null;
    this.lastLoud = new Map();   // session → time of the last loud sample
  }

  start() {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    return this;
  }

  sample() {
    const now = Date.now();
    for (const peer of this.call.peers.values()) {
      let level = 0;
      for (const receiver of peer.pc.getReceivers()) {
        if (receiver.track?.kind !== "audio") continue;
        for (const source of receiver.getSynchronizationSources?.() || []) {
          level = Math.max(level, source.audioLevel || 0);
        }
      }
      const muted = peer.tile.el.dataset.audio === "off";
      if (level > THRESHOLD && !muted) this.lastLoud.set(peer.sessionId, now);
      const speaking = !muted && now - (this.lastLoud.get(peer.sessionId) || 0) < HOLD_MS;
      if (peer.tile.el.classList.contains("speaking") !== speaking) {
        peer.tile.el.classList.toggle("speaking", speaking);
        peer.tile.el.dataset.speaking = speaking ? "yes" : "no";
      }
    }
  }

  stop() {
    clearInterval(this.timer);
  }
}
