// Talk's internal signaling over HTTP polling (signaling.md §2): a long-poll pull loop and a
// send queue. Payloads are opaque here; call.js gives them meaning.
import { api, ApiError } from "./api.js";
import { sleep } from "./dom.js";

export class Signaling {
  constructor(token, sessionId, { onMessage, onUsers, onGone }) {
    this.token = token;
    this.sessionId = sessionId;
    this.onMessage = onMessage;
    this.onUsers = onUsers;
    this.onGone = onGone;
    this.queue = [];
    this.sending = false;
    this.aborter = new AbortController();
  }

  start() {
    this.pullLoop();
  }

  stop() {
    this.aborter.abort();
  }

  get stopped() {
    return this.aborter.signal.aborted;
  }

  async pullLoop() {
    let failures = 0;
    while (!this.stopped) {
      try {
        const reply = await api.get(`/signaling/${this.token}`, null, { signal: this.aborter.signal });
        failures = 0;
        this.dispatch(reply.data);
      } catch (error) {
        if (this.stopped) return;
        if (error instanceof ApiError && error.status === 404) {
          this.stop();
          this.onGone?.();
          return;
        }
        failures += 1;
        // Talk's client retries after 5 s; back off a little further when the server stays away.
        await sleep(Math.min(5000 * failures, 30000), this.aborter.signal);
      }
    }
  }

  dispatch(entries) {
    // A proper array from Parley; PHP Talk could send an object with numeric keys.
    const list = Array.isArray(entries) ? entries : Object.values(entries || {});
    const carriedMessages = list.some((entry) => entry.type === "message");
    for (const entry of list) {
      if (entry.type === "message") {
        let message = entry.data;
        if (typeof message === "string") {
          try {
            message = JSON.parse(message);
          } catch {
            continue;
          }
        }
        if (message && typeof message === "object") this.onMessage?.(message);
      } else if (entry.type === "usersInRoom") {
        // A pull without messages returned because the participants changed (or it timed out).
        this.onUsers?.(Array.isArray(entry.data) ? entry.data : Object.values(entry.data || {}), !carriedMessages);
      }
    }
  }

  // Queue one message for `to`; the server stamps `from`.
  send(message) {
    this.queue.push(message);
    if (!this.sending) queueMicrotask(() => this.flush());
  }

  async flush() {
    if (this.sending || this.stopped || this.queue.length === 0) return;
    this.sending = true;
    const batch = this.queue.splice(0);
    const messages = batch.map((m) => ({ ev: "message", fn: JSON.stringify(m), sessionId: this.sessionId }));
    try {
      await api.post(`/signaling/${this.token}`, { messages: JSON.stringify(messages) }, { signal: this.aborter.signal });
    } catch (error) {
      if (!this.stopped) console.warn("signaling send failed", error);
    } finally {
      this.sending = false;
    }
    if (this.queue.length) this.flush();
  }
}
