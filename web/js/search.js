// Searching messages (docs/FILES-AND-SEARCH.md): a search field over the room list; while it
// holds a term, the list shows the hits (author, conversation, time, the text with the matching
// words marked) and a click opens the message in its conversation.
import { api } from "./api.js";
import { avatar, formatTime, h, uniqueId } from "./dom.js";
import { plainText } from "./notify.js";

const DEBOUNCE_MS = 300;
const LIMIT = 30;

// `text` split into plain pieces and <mark>s for every word of the term (case-insensitive).
export function highlighted(text, term) {
  const words = term.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (words.length === 0) return [text];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const parts = String(text).split(new RegExp(`(${escaped.join("|")})`, "iu"));
  return parts.map((part, i) => (i % 2 === 1 ? h("mark", { text: part }) : part)).filter((p) => p !== "");
}

// Long messages are cut around the first hit, so the context of the match is what shows.
function excerpt(text, term, width = 160) {
  if (text.length <= width) return text;
  const first = term.toLowerCase().split(/[^\p{L}\p{N}]+/u).find(Boolean) || "";
  const at = Math.max(0, text.toLowerCase().indexOf(first) - 40);
  return `${at > 0 ? "…" : ""}${text.slice(at, at + width)}${at + width < text.length ? "…" : ""}`;
}

export class MessageSearch {
  // roomName(token): the conversation's name; onOpen(token, messageId): show that message.
  constructor({ roomName, onOpen, onActive }) {
    this.roomName = roomName;
    this.onOpen = onOpen;
    this.onActive = onActive;   // (searching) => the caller hides or shows its room list
    this.ticket = 0;
    this.timer = null;
    const id = uniqueId("search");
    this.input = h("input", { id, type: "search", class: "search-input", placeholder: "Search messages",
      autocomplete: "off" });
    this.results = h("ul", { class: "search-results", "aria-label": "Search results", hidden: true });
    this.status = h("p", { class: "search-status", role: "status" });
    this.el = h("div", { class: "search", role: "search" },
      h("label", { for: id, class: "visually-hidden", text: "Search messages" }), this.input, this.status, this.results);
    this.input.addEventListener("input", () => this.schedule());
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.input.value) {
        event.preventDefault();
        this.clear();
      }
    });
  }

  get term() {
    return this.input.value.trim();
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.term) {
      this.clear();
      return;
    }
    this.timer = setTimeout(() => this.run(this.term), DEBOUNCE_MS);
  }

  clear() {
    clearTimeout(this.timer);
    this.ticket += 1;
    this.input.value = "";
    this.results.hidden = true;
    this.results.replaceChildren();
    this.status.textContent = "";
    this.onActive?.(false);
  }

  async run(term) {
    const ticket = ++this.ticket;
    this.onActive?.(true);
    this.status.textContent = "Searching…";
    let hits = [];
    try {
      hits = (await api.get("/search", { term, limit: LIMIT })).data || [];
    } catch (error) {
      if (ticket !== this.ticket) return;
      this.status.textContent = error.status === 400 ? "Type a word with letters or digits." : "Search failed.";
      this.results.replaceChildren();
      return;
    }
    if (ticket !== this.ticket) return;
    this.status.textContent = hits.length === 0 ? `No messages found for “${term}”.`
      : `${hits.length}${hits.length === LIMIT ? "+" : ""} message${hits.length === 1 ? "" : "s"} found`;
    this.results.hidden = false;
    this.results.replaceChildren(...hits.map((hit) => this.renderHit(hit, term)));
  }

  renderHit(hit, term) {
    const author = hit.actorDisplayName || (hit.actorType === "guests" ? "Guest" : hit.actorId);
    const room = this.roomName(hit.token) || "Conversation";
    const button = h("button", { type: "button", class: "search-hit", dataset: { token: hit.token, id: hit.id },
      onclick: () => this.onOpen(hit.token, hit.id) },
    avatar(author, "avatar-sm"),
    h("span", { class: "search-hit-text" },
      h("span", { class: "search-hit-meta" }, h("strong", { text: author }), ` in ${room} · `,
        h("time", { text: formatTime(hit.timestamp) })),
      h("span", { class: "search-hit-message" }, ...highlighted(excerpt(plainText(hit), term), term))));
    return h("li", {}, button);
  }
}
