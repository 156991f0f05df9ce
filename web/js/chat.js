// The chat of one room: history, a long-poll for new messages (talk-api-v1.md §6.3), the composer
// with @-mention autocomplete (§6.5), and the "new messages" marker from unreadMessages.
import { api, ApiError } from "./api.js";
import { avatar, formatTime, h, sleep, uniqueId } from "./dom.js";

const PAGE = 100;
const GROUP_SECONDS = 300;
const MAX_LENGTH = 1000;

export class Chat {
  constructor({ token, me, unread, onGuestName, onGone, onArrived }) {
    this.token = token;
    this.me = me;                 // { actorType, actorId }
    this.unread = unread || 0;
    this.onGuestName = onGuestName;
    this.onGone = onGone;
    this.onArrived = onArrived;   // each new message from someone else, as the long-poll brings it
    this.aborter = new AbortController();
    this.oldestId = 0;
    this.newestId = 0;
    this.seen = new Set();
    this.build();
  }

  build() {
    this.list = h("ol", { class: "messages" });
    this.earlier = h("button", { type: "button", class: "btn btn-ghost btn-small load-earlier", hidden: true,
      onclick: () => this.loadEarlier() }, "Load earlier messages");
    this.empty = h("p", { class: "chat-empty", text: "No messages yet. Say hello!" });
    // The log role sits on the scroller, so the <ol> keeps its list semantics for its items.
    this.scroller = h("div", { class: "chat-scroll", role: "log", "aria-live": "polite", "aria-label": "Messages" },
      this.earlier, this.empty, this.list);

    const inputId = uniqueId("composer");
    const listId = uniqueId("mentions");
    this.input = h("textarea", {
      id: inputId, rows: 1, maxlength: MAX_LENGTH, placeholder: "Write a message…", autocomplete: "off",
      "aria-autocomplete": "list", "aria-controls": listId,
    });
    this.mentionList = h("ul", { id: listId, class: "mention-list", role: "listbox", hidden: true,
      "aria-label": "Mention suggestions" });
    this.sendButton = h("button", { type: "submit", class: "btn btn-primary", "aria-label": "Send message" },
      h("span", { class: "icon icon-send", "aria-hidden": "true" }), h("span", { class: "btn-label", text: "Send" }));
    this.form = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h("label", { for: inputId, class: "visually-hidden", text: "Message" }),
      this.mentionList, this.input, this.sendButton);
    this.el = h("section", { class: "chat", "aria-label": "Chat" }, this.scroller, this.form);

    this.mentions = new MentionAutocomplete(this.token, this.input, this.mentionList);
    this.input.addEventListener("keydown", (event) => {
      if (this.mentions.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  async start() {
    try {
      const reply = await api.get(`/chat/${this.token}`, { lookIntoFuture: 0, limit: PAGE },
        { signal: this.aborter.signal });
      const messages = reply.status === 304 ? [] : reply.data.slice().reverse();
      this.earlier.hidden = messages.length < PAGE;
      this.render(messages, { markUnread: true });
      this.scrollToBottom();
    } catch (error) {
      if (this.aborter.signal.aborted) return;
      if (error instanceof ApiError && error.status === 404) {
        this.onGone?.();
        return;
      }
      console.warn("chat history failed", error);
    }
    this.pollLoop();
  }

  stop() {
    this.aborter.abort();
    this.mentions.close();
  }

  async pollLoop() {
    let backoff = 1000;
    const signal = this.aborter.signal;
    while (!signal.aborted) {
      try {
        const reply = await api.get(`/chat/${this.token}`, {
          lookIntoFuture: 1, lastKnownMessageId: this.newestId, timeout: 30, limit: PAGE,
        }, { signal });
        backoff = 1000;
        if (reply.status === 200 && Array.isArray(reply.data)) {
          const stick = this.nearBottom();
          const fresh = this.render(reply.data, {});
          if (stick) this.scrollToBottom();
          fresh.filter((m) => !this.isMine(m)).forEach((m) => this.onArrived?.(m));
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.status === 404) {
          this.onGone?.();
          return;
        }
        // Talk's client backs off from 1 s to 64 s on errors.
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 64000);
      }
    }
  }

  async loadEarlier() {
    this.earlier.disabled = true;
    try {
      const reply = await api.get(`/chat/${this.token}`,
        { lookIntoFuture: 0, limit: PAGE, lastKnownMessageId: this.oldestId });
      const messages = reply.status === 304 ? [] : reply.data.slice().reverse();
      const before = this.scroller.scrollHeight;
      this.render(messages, { prepend: true });
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
      this.earlier.hidden = messages.length < PAGE;
    } catch (error) {
      console.warn("loading earlier messages failed", error);
    } finally {
      this.earlier.disabled = false;
    }
  }

  render(messages, { prepend = false, markUnread = false }) {
    const fresh = messages.filter((m) => !this.seen.has(m.id));
    if (fresh.length === 0) return fresh;
    const items = [];
    let previous = prepend ? null : this.lastMessage;
    const unreadFrom = markUnread && this.unread > 0 ? Math.max(fresh.length - this.unread, 0) : -1;
    fresh.forEach((message, index) => {
      this.seen.add(message.id);
      if (message.actorType === "guests") this.onGuestName?.(message.actorId, message.actorDisplayName);
      if (index === unreadFrom) {
        items.push(h("li", { class: "unread-marker" }, h("span", { role: "separator", text: "New messages" })));
        previous = null;
      }
      items.push(this.renderMessage(message, previous));
      previous = message;
    });
    if (prepend) {
      this.list.prepend(...items);
      this.oldestId = fresh[0].id;
    } else {
      this.list.append(...items);
      this.lastMessage = fresh[fresh.length - 1];
      this.newestId = Math.max(this.newestId, ...fresh.map((m) => m.id));
      if (!this.oldestId) this.oldestId = fresh[0].id;
    }
    this.empty.hidden = true;
    return fresh;
  }

  isMine(message) {
    return message.actorType === this.me.actorType && message.actorId === this.me.actorId;
  }

  renderMessage(message, previous) {
    const mine = this.isMine(message);
    const name = message.actorDisplayName || (message.actorType === "guests" ? "Guest" : message.actorId);
    const grouped = previous && previous.actorType === message.actorType && previous.actorId === message.actorId
      && message.timestamp - previous.timestamp < GROUP_SECONDS;
    const text = h("div", { class: "message-text" }, ...this.richText(message));
    const time = h("time", { datetime: new Date(message.timestamp * 1000).toISOString(),
      text: formatTime(message.timestamp) });
    const classes = ["message"];
    if (mine) classes.push("mine");
    if (grouped) classes.push("grouped");
    return h("li", { class: classes.join(" "), dataset: { id: message.id, actor: message.actorId } },
      grouped ? h("span", { class: "avatar-spacer" }) : avatar(name),
      h("div", { class: "message-body" },
        grouped ? null : h("div", { class: "message-meta" },
          h("span", { class: "message-author", text: mine ? `${name} (you)` : name }), time),
        text));
  }

  // `{mention-user1}` placeholders become chips; everything else stays plain text.
  richText(message) {
    const params = message.messageParameters && !Array.isArray(message.messageParameters)
      ? message.messageParameters : {};
    const parts = [];
    for (const piece of String(message.message).split(/(\{[a-z0-9-]+\})/i)) {
      const key = piece.startsWith("{") && piece.endsWith("}") ? piece.slice(1, -1) : null;
      const param = key && params[key];
      if (param) {
        const self = param.type === "user" && this.me.actorType === "users" && param.id === this.me.actorId;
        parts.push(h("span", { class: `mention${self ? " mention-self" : ""}`, title: param.id,
          text: `@${param.name || param.id}` }));
      } else if (piece) {
        parts.push(piece);
      }
    }
    return parts;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > MAX_LENGTH) return;
    this.sendButton.disabled = true;
    try {
      await api.post(`/chat/${this.token}`, { message: text });
      this.input.value = "";
      this.autosize();
      this.mentions.close();
      this.form.dispatchEvent(new CustomEvent("chat-sent", { bubbles: true }));
    } catch (error) {
      this.form.dispatchEvent(new CustomEvent("chat-error", { bubbles: true, detail: error }));
    } finally {
      this.sendButton.disabled = false;
      this.input.focus();
    }
  }
}

// The listbox under the composer: typing `@que` asks /chat/{token}/mentions?search=que.
class MentionAutocomplete {
  constructor(token, input, list) {
    this.token = token;
    this.input = input;
    this.list = list;
    this.options = [];
    this.active = -1;
    this.request = 0;
    this.timer = null;
    input.addEventListener("input", () => this.schedule());
    // Close when focus really left (a click on an option keeps it); a late timer must not close
    // a list the user opened again after coming back.
    input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== this.input) this.close();
    }, 150));
  }

  query() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const match = before.match(/(?:^|[\s\-@.'])@([A-Za-z0-9_.@\-']*)$/);
    return match ? match[1] : null;
  }

  schedule() {
    clearTimeout(this.timer);
    const search = this.query();
    if (search === null) {
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.fetch(search), 120);
  }

  async fetch(search) {
    const ticket = ++this.request;
    try {
      const reply = await api.get(`/chat/${this.token}/mentions`, { search, limit: 8 });
      if (ticket !== this.request || this.query() === null) return;
      this.show(reply.data || []);
    } catch (error) {
      console.warn("mention search failed", error);
      this.close();
    }
  }

  show(candidates) {
    this.options = candidates.slice(0, 8);
    if (this.options.length === 0) {
      this.close();
      return;
    }
    this.active = 0;
    this.list.replaceChildren(...this.options.map((c, i) => {
      const li = h("li", { id: `${this.list.id}-${i}`, role: "option", class: "mention-option" },
        avatar(c.label), h("span", { class: "mention-label", text: c.label }),
        h("span", { class: "mention-id", text: c.id }));
      li.addEventListener("mousedown", (event) => { event.preventDefault(); this.pick(i); });
      return li;
    }));
    this.list.hidden = false;
    this.highlight();
  }

  highlight() {
    [...this.list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
  }

  close() {
    clearTimeout(this.timer);
    this.request += 1;
    this.options = [];
    this.active = -1;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.input.removeAttribute("aria-activedescendant");
  }

  pick(index) {
    const choice = this.options[index];
    if (!choice) return;
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret);
    const after = this.input.value.slice(caret);
    const start = before.lastIndexOf("@");
    const inserted = `@${choice.id} `;
    this.input.value = before.slice(0, start) + inserted + after;
    const position = start + inserted.length;
    this.input.setSelectionRange(position, position);
    this.close();
    this.input.focus();
  }

  // Returns true when the key was meant for the suggestion list.
  handleKey(event) {
    if (this.list.hidden || this.options.length === 0) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.options.length) % this.options.length;
      this.highlight();
      return true;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      this.pick(this.active);
      return true;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      this.close();
      return true;
    }
    return false;
  }
}
