// The chat of one room: history, a long-poll for new messages (talk-api-v1.md §6.3), and the
// later chat (talk-chat-later.md): replies, reactions, edits and deletions (applied from the
// hidden system entries' `parent`), system messages, the unread separator with a jump to it,
// "seen" from X-Chat-Last-Common-Read in one-to-one rooms, files, and the composer with
// `@` autocomplete. Rendering of one entry lives in message-view.js.
import { api, ApiError } from "./api.js";
import { h, sleep, toast, uniqueId } from "./dom.js";
import { Uploads } from "./files.js";
import { MentionAutocomplete } from "./mentions.js";
import { authorName, editableText, isGrouped, renderComment, renderSystem } from "./message-view.js";
import { openPicker } from "./reactions.js";

const PAGE = 100;
const MAX_LENGTH = 1000;   // the server's limit (server/domain/chat.py)
const JUMP_PAGES = 20;
// Entries clients hide: they only carry the new state of their `parent` (§8.3).
const HIDDEN = new Set(["reaction", "reaction_deleted", "reaction_revoked", "message_deleted", "message_edited", "poll_voted"]);

export class Chat {
  // me: { actorType, actorId }; lastRead: the room's lastReadMessage; oneToOne: show "seen";
  // isModerator(): may delete others' messages.
  constructor({ token, me, unread, lastRead, oneToOne, isModerator, onGuestName, onGone, onArrived }) {
    this.token = token;
    this.me = me;
    this.unread = unread || 0;
    this.lastRead = lastRead || 0;
    this.oneToOne = Boolean(oneToOne);
    this.isModerator = isModerator || (() => false);
    this.onGuestName = onGuestName;
    this.onGone = onGone;
    this.onArrived = onArrived;   // each new message from someone else, as the long-poll brings it
    this.aborter = new AbortController();
    this.oldestId = 0;
    this.newestId = 0;
    this.commonRead = 0;
    this.seen = new Set();
    this.entries = new Map();   // id → { message, el, grouped }
    this.myReactions = new Map();   // id → Set of our emojis (the parent copies in system entries are not per viewer)
    this.replyTo = null;
    this.editing = null;
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
    this.jumpButton = h("button", { type: "button", class: "btn btn-secondary btn-small jump-unread", hidden: true,
      text: "Jump to unread", onclick: () => this.jumpToUnread() });
    this.scroller.addEventListener("scroll", () => this.updateJump());

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
    const fileId = uniqueId("file");
    // Not displayed: the "Attach files" button opens it (click() works on a hidden file input).
    this.fileInput = h("input", { id: fileId, type: "file", multiple: true, hidden: true });
    this.attachButton = h("button", { type: "button", class: "btn btn-ghost btn-icon attach-button",
      "aria-label": "Attach files", title: "Attach files", onclick: () => this.fileInput.click() },
    h("span", { class: "icon icon-clip", "aria-hidden": "true" }));
    this.uploads = new Uploads(this.token, { replyTo: () => this.replyTo?.id || 0 });
    this.fileInput.addEventListener("change", () => {
      const chosen = [...this.fileInput.files];
      this.fileInput.value = "";
      this.uploads.send(chosen).then(() => this.cancelReply());
    });
    this.contextBar = h("div", { class: "composer-context", hidden: true });
    this.form = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); this.send(); } },
      h("label", { for: inputId, class: "visually-hidden", text: "Message" }),
      this.mentionList, this.attachButton, this.fileInput, this.input, this.sendButton);
    this.el = h("section", { class: "chat", "aria-label": "Chat" }, this.scroller, this.jumpButton,
      this.uploads.el, this.contextBar, this.form);
    this.uploads.attach(this.el, this.input);

    this.mentions = new MentionAutocomplete(this.token, this.input, this.mentionList);
    this.input.addEventListener("keydown", (event) => {
      if (this.mentions.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      } else if (event.key === "Escape" && (this.editing || this.replyTo)) {
        event.preventDefault();
        this.cancelReply();
      } else if (event.key === "ArrowUp" && !this.input.value && this.me.actorType === "users") {
        const last = [...this.entries.values()].reverse().find((e) => this.canEdit(e.message, this.isMine(e.message)));
        if (last) {
          event.preventDefault();
          this.startEdit(last.message);
        }
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.onVisible = () => { if (!document.hidden) this.markRead(); };
    document.addEventListener("visibilitychange", this.onVisible);
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  // A hidden tab does not move the read marker: the person has not seen those messages yet.
  get readParam() {
    return document.hidden ? 0 : 1;
  }

  async start() {
    try {
      const reply = await api.get(`/chat/${this.token}`, { lookIntoFuture: 0, limit: PAGE, setReadMarker: this.readParam },
        { signal: this.aborter.signal });
      const messages = reply.status === 304 ? [] : reply.data.slice().reverse();
      this.earlier.hidden = messages.length < PAGE;
      this.render(messages, { markUnread: true });
      this.commonReadFrom(reply);
      this.scrollToBottom();
      this.updateJump();
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
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  async pollLoop() {
    let backoff = 1000;
    const signal = this.aborter.signal;
    while (!signal.aborted) {
      try {
        const cursor = this.newestId;
        const marks = this.readParam;
        const reply = await api.get(`/chat/${this.token}`, {
          lookIntoFuture: 1, lastKnownMessageId: cursor, timeout: this.pollTimeout, limit: PAGE,
          setReadMarker: marks, lastCommonReadId: this.oneToOne ? this.commonRead : undefined,
        }, { signal });
        backoff = 1000;
        if (reply.status === 200 && Array.isArray(reply.data)) {
          const stick = this.nearBottom();
          const fresh = this.render(reply.data, {});
          if (stick) this.scrollToBottom();
          fresh.filter((m) => !this.isMine(m) && !HIDDEN.has(m.systemMessage)).forEach((m) => this.onArrived?.(m));
          // Sent from a visible tab, the poll let the server mark what it found at once as read;
          // if the tab was hidden before the answer came, nobody saw those: put the marker back.
          if (marks && document.hidden && fresh.length) this.keepUnreadAfter(cursor);
        }
        this.commonReadFrom(reply);
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

  // A parked poll is not woken when the other person reads (only a new message wakes it), so
  // while one of our messages in a one-to-one room is unseen, polls come back every 5 s to pick
  // up X-Chat-Last-Common-Read; otherwise they wait the usual 30 s.
  get pollTimeout() {
    if (!this.oneToOne) return 30;
    const unseen = [...this.entries.values()].some((e) => this.isMine(e.message) && e.message.id > this.commonRead);
    return unseen ? 5 : 30;
  }

  async loadEarlier() {
    this.earlier.disabled = true;
    try {
      const reply = await api.get(`/chat/${this.token}`,
        { lookIntoFuture: 0, limit: PAGE, lastKnownMessageId: this.oldestId, setReadMarker: 0 });
      const messages = reply.status === 304 ? [] : reply.data.slice().reverse();
      const before = this.scroller.scrollHeight;
      this.render(messages, { prepend: true });
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
      this.earlier.hidden = messages.length < PAGE;
      return messages.length;
    } catch (error) {
      console.warn("loading earlier messages failed", error);
      return 0;
    } finally {
      this.earlier.disabled = false;
    }
  }

  // Renders the entries not seen yet; returns them. Hidden entries update their parent instead.
  render(messages, { prepend = false, markUnread = false }) {
    const fresh = messages.filter((m) => !this.seen.has(m.id));
    if (fresh.length === 0) return fresh;
    const items = [];
    let previous = prepend ? null : this.lastShown;
    const unreadFrom = markUnread ? this.firstUnread(fresh) : -1;
    fresh.forEach((message, index) => {
      this.seen.add(message.id);
      if (message.actorType === "guests") this.onGuestName?.(message.actorId, message.actorDisplayName);
      for (const emoji of message.reactionsSelf || []) this.mine(message.id).add(emoji);
      if (HIDDEN.has(message.systemMessage)) {
        if (message.parent) this.update(message.parent);
        return;
      }
      if (message.systemMessage === "history_cleared") {
        this.list.replaceChildren();
        this.entries.clear();
        items.length = 0;
        previous = null;
      }
      if (index === unreadFrom) {
        this.separator = h("li", { class: "unread-marker" }, h("span", { role: "separator", text: "New messages" }));
        items.push(this.separator);
        previous = null;
      }
      const entry = this.makeEntry(message, previous);
      items.push(entry.el);
      previous = message;
    });
    if (prepend) {
      this.list.prepend(...items);
      this.oldestId = fresh[0].id;
    } else {
      this.list.append(...items);
      if (previous) this.lastShown = previous;
      this.newestId = Math.max(this.newestId, ...fresh.map((m) => m.id));
      if (!this.oldestId) this.oldestId = fresh[0].id;
    }
    this.empty.hidden = this.entries.size > 0;
    this.showSeen();
    return fresh;
  }

  // Where the "New messages" separator goes: the first comment by someone else past the read
  // marker; without a marker (Talk's −1 / −2, guests) the room's unread count from the end.
  firstUnread(fresh) {
    if (this.lastRead > 0) {
      return fresh.findIndex((m) => m.id > this.lastRead && !this.isMine(m) && m.messageType !== "system");
    }
    return this.unread > 0 ? Math.max(fresh.length - this.unread, 0) : -1;
  }

  makeEntry(message, previous) {
    const grouped = isGrouped(previous, message);
    const el = this.renderEntry(message, grouped);
    const entry = { message, el, grouped };
    this.entries.set(message.id, entry);
    return entry;
  }

  renderEntry(message, grouped) {
    if (message.messageType === "system") return renderSystem(message, this.me);
    // Ours come from what we know (history, our own requests), never from a parent copy.
    return renderComment(this, { ...message, reactionsSelf: [...this.mine(message.id)] }, grouped);
  }

  mine(id) {
    if (!this.myReactions.has(id)) this.myReactions.set(id, new Set());
    return this.myReactions.get(id);
  }

  // A newer copy of a message we show (edited, deleted, reacted to): redraw it in place.
  update(message) {
    const entry = this.entries.get(message.id);
    if (!entry) return;
    const focused = entry.el.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    entry.message = { ...entry.message, ...message };
    if (message.messageType === "comment_deleted") {
      delete entry.message.lastEditTimestamp;
      entry.message.reactions = {};
    }
    const el = this.renderEntry(entry.message, entry.grouped);
    entry.el.replaceWith(el);
    entry.el = el;
    // Replies quoting it show the new text too.
    for (const other of this.entries.values()) {
      if (other.message.parent?.id === message.id) {
        other.message = { ...other.message, parent: { ...other.message.parent, ...message } };
        const redrawn = this.renderEntry(other.message, other.grouped);
        other.el.replaceWith(redrawn);
        other.el = redrawn;
      }
    }
    if (focused) [...el.querySelectorAll("[aria-label]")].find((b) => b.getAttribute("aria-label") === focused)?.focus();
    this.showSeen();
  }

  isMine(message) {
    return message.actorType === this.me.actorType && message.actorId === this.me.actorId;
  }

  // Edit and delete need a login (the routes answer 404 to guests, talk-chat-later.md §0.1).
  canEdit(message, mine) {
    return mine && this.me.actorType === "users" && message.messageType === "comment"
      && !/^\{file\}$/.test(message.message);
  }

  canDelete(message, mine) {
    if (this.me.actorType !== "users" || message.messageType !== "comment") return false;
    return mine || (this.isModerator() && !this.oneToOne);
  }

  // -- actions -------------------------------------------------------------------------------

  async toggleReaction(message, emoji, had) {
    try {
      const reply = had ? await api.del(`/reaction/${this.token}/${message.id}`, { reaction: emoji })
        : await api.post(`/reaction/${this.token}/${message.id}`, { reaction: emoji });
      // The answer lists every reaction with its actors: the counts and ours, at once.
      const listing = reply.data && !Array.isArray(reply.data) ? reply.data : {};
      const reactions = {};
      const mine = new Set();
      for (const [key, actors] of Object.entries(listing)) {
        reactions[key] = actors.length;
        if (actors.some((a) => a.actorType === this.me.actorType && a.actorId === this.me.actorId)) mine.add(key);
      }
      this.myReactions.set(message.id, mine);
      this.update({ id: message.id, reactions });
    } catch (error) {
      this.report(error, "Could not react");
    }
  }

  pickReaction(message, opener) {
    openPicker(opener, (emoji) => {
      const had = this.mine(message.id).has(emoji);
      this.toggleReaction(message, emoji, had);
    });
  }

  startReply(message) {
    this.editing = null;
    this.replyTo = message;
    const text = editableText(message).replace(/\{file\}/g, "").trim() || "a file";
    this.showContext(`Replying to ${authorName(message)}`, text.slice(0, 120));
    this.input.focus();
  }

  startEdit(message) {
    this.replyTo = null;
    this.editing = message;
    this.showContext("Editing your message", "");
    this.input.value = editableText(message);
    this.autosize();
    this.input.focus();
    this.input.setSelectionRange(this.input.value.length, this.input.value.length);
  }

  showContext(title, text) {
    this.contextBar.replaceChildren(
      h("span", { class: "composer-context-text" }, h("strong", { text: title }), text ? ` ${text}` : ""),
      h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": `Cancel: ${title}`,
        onclick: () => { this.cancelReply(); this.input.focus(); } }, h("span", { class: "icon icon-close" })));
    this.contextBar.hidden = false;
  }

  cancelReply() {
    if (this.editing) {
      this.input.value = "";
      this.autosize();
    }
    this.replyTo = null;
    this.editing = null;
    this.contextBar.hidden = true;
    this.contextBar.replaceChildren();
  }

  confirmDelete(message) {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "delete-title" });
    const close = () => { dialog.close(); dialog.remove(); this.input.focus(); };
    dialog.append(h("h2", { id: "delete-title", text: "Delete this message?" }),
      h("p", { class: "hint", text: "Everyone in the conversation will see that a message was deleted." }),
      h("div", { class: "button-row" },
        h("button", { type: "button", class: "btn btn-ghost", text: "Cancel", onclick: close }),
        h("button", { type: "button", class: "btn btn-danger", text: "Delete", onclick: async () => {
          close();
          try {
            const reply = await api.del(`/chat/${this.token}/${message.id}`);
            if (reply.data?.parent) this.update(reply.data.parent);
          } catch (error) {
            this.report(error, "Could not delete the message");
          }
        } })));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector(".btn-danger").focus();
  }

  // -- unread, seen, jumping -----------------------------------------------------------------

  async markRead(id = this.newestId) {
    if (this.me.actorType !== "users" || !id) return;
    try {
      const reply = await api.post(`/chat/${this.token}/read`, { lastReadMessage: id });
      this.commonReadFrom(reply);
    } catch (error) {
      console.warn("could not move the read marker", error);
    }
  }

  // Move the read marker back to `id` (the poll's cursor): what came after it is unseen.
  async keepUnreadAfter(id) {
    await this.markRead(id);
    if (!document.hidden) this.markRead();   // the tab came back meanwhile: seen after all
  }

  commonReadFrom(reply) {
    const value = Number(reply?.headers?.get("X-Chat-Last-Common-Read"));
    if (Number.isFinite(value) && value > this.commonRead) {
      this.commonRead = value;
      this.showSeen();
    }
  }

  // One-to-one rooms: "Seen" under our newest message the other person has read.
  showSeen() {
    if (!this.oneToOne) return;
    const target = [...this.entries.values()].reverse()
      .find((e) => this.isMine(e.message) && e.message.messageType !== "system" && e.message.id <= this.commonRead);
    const current = this.list.querySelector(".seen");
    if (current && target && current.closest(".message") === target.el) return;
    current?.remove();
    target?.el.querySelector(".message-body")?.append(h("span", { class: "seen", text: "Seen" }));
  }

  updateJump() {
    if (!this.separator || !this.separator.isConnected) {
      this.jumpButton.hidden = true;
      return;
    }
    const box = this.separator.getBoundingClientRect();
    const view = this.scroller.getBoundingClientRect();
    this.jumpButton.hidden = box.bottom >= view.top && box.top <= view.bottom;
  }

  jumpToUnread() {
    this.separator?.scrollIntoView({ block: "start" });
    this.jumpButton.hidden = true;
  }

  // Show message `id`, loading earlier pages until it is there (a search hit, a reply's parent).
  async jumpTo(id) {
    for (let page = 0; !this.entries.has(id) && page < JUMP_PAGES && this.oldestId > id; page += 1) {
      if (await this.loadEarlier() === 0) break;
    }
    const entry = this.entries.get(id);
    if (!entry) {
      toast("That message is no longer there.", "warn");
      return;
    }
    entry.el.scrollIntoView({ block: "center" });
    entry.el.classList.add("highlight");
    entry.el.tabIndex = -1;
    entry.el.focus({ preventScroll: true });
    setTimeout(() => entry.el.classList.remove("highlight"), 4000);
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  report(error, what) {
    const detail = error instanceof ApiError ? (error.status === 403 ? "not allowed" : error.message) : String(error.message || error);
    toast(`${what}: ${detail}`, "error");
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || text.length > MAX_LENGTH) return;
    this.sendButton.disabled = true;
    try {
      if (this.editing) {
        const reply = await api.put(`/chat/${this.token}/${this.editing.id}`, { message: text });
        if (reply.data?.parent) this.update(reply.data.parent);
      } else {
        await api.post(`/chat/${this.token}`, { message: text, replyTo: this.replyTo?.id || undefined });
      }
      this.input.value = "";
      this.autosize();
      this.mentions.close();
      this.cancelReply();
      this.form.dispatchEvent(new CustomEvent("chat-sent", { bubbles: true }));
    } catch (error) {
      this.form.dispatchEvent(new CustomEvent("chat-error", { bubbles: true, detail: error }));
    } finally {
      this.sendButton.disabled = false;
      this.input.focus();
    }
  }
}
