// Who is speaking: the audio level of each remote peer's incoming audio, a few times a second. The
// level is the RMS over the last interval, from the inbound audio stream's cumulative
// `totalAudioEnergy` / `totalSamplesDuration` (getStats), so a short sound between two samples
// still counts; RTCRtpReceiver.getSynchronizationSources() (the level of the latest packet) is
// the fallback where those stats are missing. A tile lights up above the threshold and stays lit
// for HOLD_MS, so pauses between words do not make it flicker. No Web Audio graph is involved,
// so no autoplay rules apply.
const SAMPLE_MS = 200;   // the browser offers no level-change event, so the level is sampled
const THRESHOLD = 0.03;
const HOLD_MS = 700;

export class SpeakingDetector {
  constructor(call) {
    this.call = call;
    this.timer = null;
    this.busy = false;
    this.lastLoud = new Map();   // session → time of the last loud sample
    this.energy = new Map();     // session → { energy, duration } at the previous sample
  }

  start() {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);   // ok: sampling timer, see above
    return this;
  }

  async level(peer) {
    let level = 0;
    try {
      const stats = await peer.pc.getStats();
      stats.forEach((report) => {
        if (report.type !== "inbound-rtp" || report.kind !== "audio" || report.totalAudioEnergy === undefined) return;
        const before = this.energy.get(peer.sessionId);
        this.energy.set(peer.sessionId, { energy: report.totalAudioEnergy, duration: report.totalSamplesDuration });
        if (before && report.totalSamplesDuration > before.duration) {
          const meanSquare = (report.totalAudioEnergy - before.energy) / (report.totalSamplesDuration - before.duration);
          level = Math.max(level, Math.sqrt(Math.max(meanSquare, 0)));
        }
      });
    } catch {
      // a closed connection has no stats; the synchronization sources below still answer
    }
    for (const receiver of peer.pc.getReceivers()) {
      if (receiver.track?.kind !== "audio") continue;
      for (const source of receiver.getSynchronizationSources?.() || []) level = Math.max(level, source.audioLevel || 0);
    }
    return level;
  }

  async sample() {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = Date.now();
      for (const peer of [...this.call.peers.values()]) {
        const level = await this.level(peer);
        const muted = peer.tile.el.dataset.audio === "off";
        if (level > THRESHOLD && !muted) this.lastLoud.set(peer.sessionId, now);
        const speaking = !muted && now - (this.lastLoud.get(peer.sessionId) || 0) < HOLD_MS;
        if (peer.tile.el.classList.contains("speaking") !== speaking) {
          peer.tile.el.classList.toggle("speaking", speaking);
          peer.tile.el.dataset.speaking = speaking ? "yes" : "no";
        }
      }
    } finally {
      this.busy = false;
    }
  }

  stop() {
    clearInterval(this.timer);
  }
}
