// Signaling for one room, over one of two transports with the same small interface:
//
//   new Transport(token, sessionId, { onMessage, onUsers, onGone })
//   await start()        resolves once the transport works (the WebSocket one rejects otherwise)
//   send(message)        one SimpleWebRTC-style payload {to, sid, roomType, type, payload}
//   stop()               end it (the WebSocket one says bye, which also ends the Talk session)
//   name                 "polling" or "websocket"
//
// Handlers: onMessage(payload with `from` = the sender's Talk session id), onUsers(users, refresh)
// with usersInRoom-style entries {userId, sessionId, inCall, lastPing} (`refresh`: the room object
// may have changed too), onGone() (no longer in the room). Payloads are opaque here; call.js gives
// them meaning. `openSignaling` picks the transport: the WebSocket when /signaling/settings names a
// `server`, polling when it does not, when the socket or its hello fails, or when polling is forced
// (`?signaling=polling` in the page URL or localStorage "parley.signaling" = "polling").
import { api, ApiError } from "./api.js";
import { sleep } from "./dom.js";
import { WebSocketSignaling } from "./websocket.js";

const FORCE_KEY = "parley.signaling";

function forcedPolling() {
  try {
    if (new URLSearchParams(location.search).get("signaling") === "polling") return true;
    return localStorage.getItem(FORCE_KEY) === "polling";
  } catch {
    return false;
  }
}

// `userId`: the signed-in user, or null for a guest (the ticket was issued to them).
export async function openSignaling(token, sessionId, userId, handlers) {
  let settings = {};
  try {
    settings = (await api.get("/signaling/settings")).data || {};
  } catch (error) {
    console.warn("no signaling settings; using polling", error);
  }
  if (settings.server && !forcedPolling()) {
    const socket = new WebSocketSignaling(token, sessionId, { ...settings, userId }, handlers);
    try {
      await socket.start();
      return socket;
    } catch (error) {
      socket.stop({ bye: false });
      console.warn("WebSocket signaling unavailable; falling back to polling", error);
    }
  }
  const polling = new PollingSignaling(token, sessionId, handlers);
  await polling.start();
  return polling;
}

// Talk's internal signaling over HTTP polling (signaling.md §2): a long-poll pull loop and a
// send queue.
export class PollingSignaling {
  name = "polling";

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

  async start() {
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
