// Signaling over Parley's WebSocket (the standalone signaling API v1 subset, docs/SIGNALING.md):
// hello with the ticket from /signaling/settings, then a `room` join with the Talk session id,
// which from then on is our signaling id. Same interface as PollingSignaling (signaling.js).
// A dropped connection is resumed with the hello's `resumeid` while the server keeps the session
// (30 s); after that the Talk session is gone, and so are we.

const OPEN_TIMEOUT_MS = 5000;       // open + hello + room join, else the caller falls back to polling
const RESUME_FOR_MS = 25000;        // the server keeps a dropped session for 30 s
const REQUEST_TIMEOUT_MS = 5000;

export class WebSocketSignaling {
  name = "websocket";

  constructor(token, sessionId, { server, ticket, userId }, { onMessage, onUsers, onGone }) {
    this.token = token;
    this.sessionId = sessionId;
    this.url = `${server.replace(/^http/, "ws").replace(/\/+$/, "")}/spreed`;
    this.ticket = ticket;
    this.userId = userId || null;
    this.onMessage = onMessage;
    this.onUsers = onUsers;
    this.onGone = onGone;
    this.ws = null;
    this.resumeId = null;
    this.ready = false;          // hello answered and in the room on the current socket
    this.stopped = false;
    this.queue = [];             // frames waiting for a resumed socket
    this.resuming = false;
    this.pending = new Map();    // request id → { resolve, reject, timer }
    this.nextId = 1;
    this.roster = new Map();     // session id → usersInRoom-style entry
  }

  // Open the socket, say hello and join the room; rejects (for the polling fallback) on failure.
  async start() {
    const deadline = new Promise((_, reject) => {
      this.startTimer = setTimeout(() => reject(new Error("the WebSocket did not answer in time")), OPEN_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.handshake(), deadline]);
    } finally {
      clearTimeout(this.startTimer);
    }
  }

  async handshake() {
    await this.connect();
    const hello = await this.request({ type: "hello", hello: { version: "1.0",
      auth: { params: { userid: this.userId, ticket: this.ticket } } } });
    this.resumeId = hello.hello.resumeid;
    const joined = await this.request({ type: "room", room: { roomid: this.token, sessionid: this.sessionId } });
    // From now on our signaling id is the Talk session id, repeated here.
    this.sessionId = joined.room.sessionid || this.sessionId;
    this.ready = true;
  }

  // A new socket, resolved once open; its close starts a resume (or ends us) unless we stopped.
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => { opened = true; resolve(); };
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.ready = false;
        this.failPending(new Error("the WebSocket closed"));
        if (!opened) reject(new Error("the WebSocket could not be opened"));
        else if (!this.stopped && this.resumeId && !this.resuming) this.resume();
      };
    });
  }

  request(frame) {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${frame.type}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ id, ...frame }));
    });
  }

  failPending(error) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this.pending.clear();
  }

  async resume() {
    this.resuming = true;
    try {
      await this.resumeLoop();
    } finally {
      this.resuming = false;
    }
  }

  async resumeLoop() {
    const until = Date.now() + RESUME_FOR_MS;
    let wait = 500;
    while (!this.stopped && Date.now() < until) {
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5000);
      if (this.stopped) return;
      try {
        await this.connect();
        const hello = await this.request({ type: "hello", hello: { version: "1.0", resumeid: this.resumeId } });
        this.resumeId = hello.hello.resumeid || this.resumeId;
        this.ready = true;
        for (const text of this.queue.splice(0)) this.ws.send(text);
        return;
      } catch (error) {
        if (error.code === "no_such_session") break;   // the server ended it: so is our Talk session
        const ws = this.ws;
        this.ws = null;        // this socket's close must not start a second resume
        ws?.close();
      }
    }
    if (!this.stopped) {
      this.stop({ bye: false });
      this.onGone?.();
    }
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    const waiter = frame.id !== undefined ? this.pending.get(String(frame.id)) : null;
    if (waiter) {
      this.pending.delete(String(frame.id));
      clearTimeout(waiter.timer);
      if (frame.type === "error") {
        const error = new Error(frame.error?.message || "signaling error");
        error.code = frame.error?.code;
        waiter.reject(error);
      } else {
        waiter.resolve(frame);
      }
      return;
    }
    switch (frame.type) {
      case "message": {
        const data = frame.message?.data;
        const from = frame.message?.sender?.sessionid;
        if (data && typeof data === "object" && from) this.onMessage?.({ ...data, from });
        break;
      }
      case "event":
        this.event(frame.event || {});
        break;
      case "room":
        // Without an id and with no room: the server took us out (kicked, removed, room deleted).
        if (!frame.room?.roomid) this.gone();
        break;
      case "bye":
        this.gone();
        break;
      case "error":
        console.warn("signaling error", frame.error);
        break;
      default:
        break;
    }
  }

  event(event) {
    if (event.target === "room" && event.type === "join") {
      for (const entry of event.join || []) {
        if (!this.roster.has(entry.sessionid)) {
          this.roster.set(entry.sessionid, { userId: entry.userid || "", sessionId: entry.sessionid,
            inCall: 0, lastPing: 0 });
        }
      }
      this.onUsers?.([...this.roster.values()], false);
    } else if (event.target === "room" && event.type === "leave") {
      for (const sessionId of event.leave || []) this.roster.delete(sessionId);
      this.onUsers?.([...this.roster.values()], false);
    } else if (event.target === "participants" && event.type === "update") {
      // The full list of the room's active sessions: it replaces what join/leave built.
      const users = event.update?.users || [];
      this.roster = new Map(users.map((u) => [u.sessionId, { userId: u.userId || "", sessionId: u.sessionId,
        inCall: u.inCall, lastPing: u.lastPing }]));
      this.onUsers?.([...this.roster.values()], true);
    } else if (event.target === "roomlist") {
      this.onUsers?.([...this.roster.values()], true);    // room properties changed: refresh
    }
    // Chat refresh hints (target "room", type "message") are ignored: chat.js long-polls.
  }

  gone() {
    if (this.stopped) return;
    this.stop({ bye: false });
    this.onGone?.();
  }

  // One SimpleWebRTC-style payload to the session in `message.to`; the server stamps the sender.
  send(message) {
    if (this.stopped) return;
    const text = JSON.stringify({ type: "message", message: {
      recipient: { type: "session", sessionid: message.to }, data: message } });
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
    else this.queue.push(text);
  }

  // `bye` ends the signaling session and with it the Talk session (leaving the room does too).
  stop({ bye = true } = {}) {
    this.stopped = true;
    this.ready = false;
    this.failPending(new Error("signaling stopped"));
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    if (bye && ws.readyState === WebSocket.OPEN) {
      try {
        ws.send(JSON.stringify({ type: "bye", bye: {} }));
      } catch {
        // closing anyway
      }
    }
    ws.onclose = null;
    ws.close(1000);
  }
}
