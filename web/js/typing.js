// "Alice is typing…" over signaling (talk-chat-later.md §10): client-to-client messages
// `{type: "startedTyping" | "stoppedTyping", to: <session>}`, one per other session of the room,
// on whichever transport is in use. The server only relays them and stores nothing.
//
// Sending is throttled: one startedTyping when typing begins, repeated every RESEND_MS while the
// person keeps typing (so a receiver's timeout never hides someone still at it), and to sessions
// that join meanwhile; stoppedTyping after IDLE_MS without a keystroke, when the field empties,
// and when the message is sent. A receiver forgets a typist after EXPIRE_MS without news, or when
// their session leaves, so a lost stoppedTyping never leaves "is typing" up for good.
import { h } from "./dom.js";

const IDLE_MS = 5000;
const RESEND_MS = 10000;
const EXPIRE_MS = 15000;

export class TypingIndicator {
  // signaling: {send}; sessionId: ours; peers(): the other session ids of the room;
  // nameOf(session): a display name; isMine(session): another tab of ours (not shown).
  constructor({ signaling, sessionId, input, peers, nameOf, isMine }) {
    this.signaling = signaling;
    this.sessionId = sessionId;
    this.input = input;
    this.peers = peers;
    this.nameOf = nameOf;
    this.isMine = isMine;
    this.typing = false;        // are we typing (as told to others)?
    this.toldSessions = new Set();
    this.lastStart = 0;
    this.idleTimer = null;
    this.typists = new Map();   // session → expiry timer
    this.el = h("p", { class: "typing-indicator", "aria-live": "polite" });
    this.onInput = () => this.inputChanged();
    input.addEventListener("input", this.onInput);
  }

  inputChanged() {
    if (!this.input.value.trim()) {
      this.stop();
      return;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), IDLE_MS);
    const now = Date.now();
    if (!this.typing || now - this.lastStart >= RESEND_MS) {
      this.typing = true;
      this.lastStart = now;
      this.toldSessions = new Set(this.peers());
      for (const session of this.toldSessions) this.send("startedTyping", session);
    }
  }

  // Typing is over: the message went out, the field was cleared, or the person paused.
  stop() {
    clearTimeout(this.idleTimer);
    if (!this.typing) return;
    this.typing = false;
    for (const session of this.toldSessions) this.send("stoppedTyping", session);
    this.toldSessions.clear();
  }

  send(type, to) {
    this.signaling.send({ type, to });
  }

  // The room's sessions changed: newcomers hear that we are typing; typists who left are dropped.
  updateSessions(sessionIds) {
    const present = new Set(sessionIds);
    if (this.typing) {
      for (const session of present) {
        if (session !== this.sessionId && !this.toldSessions.has(session)) {
          this.toldSessions.add(session);
          this.send("startedTyping", session);
        }
      }
    }
    for (const session of [...this.typists.keys()]) {
      if (!present.has(session)) this.forget(session);
    }
    this.render();
  }

  // Returns true when the signaling message was a typing message (and is handled).
  handle(message) {
    if (message.type !== "startedTyping" && message.type !== "stoppedTyping") return false;
    const from = message.from;
    if (!from || from === this.sessionId) return true;
    if (message.type === "startedTyping") {
      clearTimeout(this.typists.get(from));
      this.typists.set(from, setTimeout(() => { this.forget(from); this.render(); }, EXPIRE_MS));
    } else {
      this.forget(from);
    }
    this.render();
    return true;
  }

  forget(session) {
    clearTimeout(this.typists.get(session));
    this.typists.delete(session);
  }

  render() {
    const names = [...this.typists.keys()].filter((s) => !this.isMine(s))
      .map((s) => this.nameOf(s) || "Someone");
    const unique = [...new Set(names)];
    let text = "";
    if (unique.length === 1) text = `${unique[0]} is typing…`;
    else if (unique.length === 2) text = `${unique[0]} and ${unique[1]} are typing…`;
    else if (unique.length === 3) text = `${unique[0]}, ${unique[1]} and ${unique[2]} are typing…`;
    else if (unique.length > 3) text = `${unique[0]}, ${unique[1]} and ${unique.length - 2} others are typing…`;
    if (this.el.textContent !== text) this.el.textContent = text;
    this.el.classList.toggle("active", Boolean(text));
  }

  close() {
    this.stop();
    clearTimeout(this.idleTimer);
    for (const timer of this.typists.values()) clearTimeout(timer);
    this.typists.clear();
    this.input.removeEventListener("input", this.onInput);
  }
}
