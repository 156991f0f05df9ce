// How one chat entry looks (talk-chat-later.md §1, §8): a comment with its reply quote, text with
// mention chips, shared files, "edited" mark, reactions and actions; a deleted message as a
// muted line; a system message as a compact centred line with its rendered text.
import { avatar, formatTime, h } from "./dom.js";
import { fileCard } from "./files.js";
import { reactionChips } from "./reactions.js";
import { menu } from "./room-settings.js";

const GROUP_SECONDS = 300;
const MENTION_TYPES = new Set(["user", "guest", "call", "user-group", "group", "email", "circle"]);

function params(message) {
  return message.messageParameters && !Array.isArray(message.messageParameters) ? message.messageParameters : {};
}

export function authorName(message) {
  return message.actorDisplayName || (message.actorType === "guests" ? "Guest" : message.actorId || "Someone");
}

// The text as pieces: plain strings, mention chips, names (system messages); `{file}` objects are
// left out here and rendered as cards.
export function richText(message, me) {
  const all = params(message);
  const parts = [];
  for (const piece of String(message.message ?? "").split(/(\{[a-z0-9-]+\})/i)) {
    const key = piece.startsWith("{") && piece.endsWith("}") ? piece.slice(1, -1) : null;
    const param = key && all[key];
    if (param) {
      if (param.type === "file") continue;
      if (message.messageType === "system" || message.messageType === "comment_deleted") {
        parts.push(h("strong", { class: "system-name", text: param.name || param.id }));
      } else if (MENTION_TYPES.has(param.type)) {
        const self = param.type === "user" && me.actorType === "users" && param.id === me.actorId;
        parts.push(h("span", { class: `mention${self ? " mention-self" : ""}`, title: param.id,
          text: `@${param.name || param.id}` }));
      } else {
        parts.push(param.name || piece);
      }
    } else if (piece) {
      parts.push(piece);
    }
  }
  return parts;
}

// The text as it was typed, for editing: placeholders back to `@id` / `@"id with space"`.
export function editableText(message) {
  const all = params(message);
  return String(message.message ?? "").replace(/\{([a-z0-9-]+)\}/gi, (whole, key) => {
    const p = all[key];
    if (!p) return whole;
    const id = p["mention-id"] || (p.type === "call" ? "all" : p.type === "guest" ? p.id : p.id);
    if (MENTION_TYPES.has(p.type)) return /^[A-Za-z0-9_.@-]+$/.test(id) ? `@${id}` : `@"${id}"`;
    return p.name || whole;
  });
}

// One line of plain text for the room list (the room's lastMessage): "You: …" / "Name: …" before a
// comment, a file's name for a share, system lines as they read in the chat.
export function previewText(message, me) {
  const plain = (m) => richText(m, me).map((p) => (typeof p === "string" ? p : p.textContent)).join("").trim();
  if (message.messageType === "system") return plain(message);
  const mine = me && message.actorType === me.actorType && message.actorId === me.actorId;
  const shared = files(message);
  const text = message.messageType === "comment_deleted" ? "Message deleted"
    : plain(message) || (shared.length ? shared.map((f) => f.name).join(", ") : "");
  return `${mine ? "You" : authorName(message)}: ${text}`.replace(/\s+/g, " ");
}

export function files(message) {
  return Object.values(params(message)).filter((p) => p && p.type === "file");
}

export function isGrouped(previous, message) {
  return Boolean(previous && previous.messageType !== "system" && message.messageType !== "system"
    && previous.actorType === message.actorType && previous.actorId === message.actorId
    && message.timestamp - previous.timestamp < GROUP_SECONDS && !message.parent);
}

export function renderSystem(message, me) {
  return h("li", { class: "system-message", dataset: { id: message.id, system: message.systemMessage } },
    h("span", { class: "system-text" }, ...richText(message, me)),
    h("time", { datetime: new Date(message.timestamp * 1000).toISOString(), text: formatTime(message.timestamp) }));
}

// chat: the Chat (for me, token, permissions and the actions); grouped: continue the author's block.
export function renderComment(chat, message, grouped) {
  const me = chat.me;
  const mine = chat.isMine(message);
  const deleted = message.messageType === "comment_deleted";
  const name = authorName(message);
  const classes = ["message"];
  if (mine) classes.push("mine");
  if (grouped) classes.push("grouped");
  if (deleted) classes.push("deleted");
  const time = h("time", { datetime: new Date(message.timestamp * 1000).toISOString(), text: formatTime(message.timestamp) });
  const edited = !deleted && message.lastEditTimestamp ? h("span", { class: "edited", text: "(edited)",
    title: `Edited by ${message.lastEditActorDisplayName || "someone"} at ${formatTime(message.lastEditTimestamp)}` }) : null;
  const body = h("div", { class: "message-body" });
  if (!grouped) {
    body.append(h("div", { class: "message-meta" },
      h("span", { class: "message-author", text: mine ? `${name} (you)` : name }), time, edited));
  }
  if (message.parent && !deleted) body.append(quote(chat, message.parent));
  const text = richText(message, me);
  if (text.length) body.append(h("div", { class: "message-text" }, ...text));
  if (grouped && edited) body.append(edited);
  if (!deleted) {
    for (const file of files(message)) body.append(fileCard(chat.token, file));
    const chips = reactionChips({ token: chat.token, message, onToggle: (emoji, had) => chat.toggleReaction(message, emoji, had) });
    if (chips) body.append(chips);
  }
  const li = h("li", { class: classes.join(" "), dataset: { id: message.id, actor: message.actorId } },
    grouped ? h("span", { class: "avatar-spacer" }) : avatar(name), body);
  if (!deleted) li.append(actions(chat, message, mine));
  return li;
}

function quote(chat, parent) {
  const deleted = parent.messageType === "comment_deleted";
  const text = deleted ? "Message deleted" : files(parent).length && /^\{file\}$/.test(parent.message)
    ? files(parent)[0].name : richText(parent, chat.me).map((p) => (typeof p === "string" ? p : p.textContent)).join("");
  return h("button", { type: "button", class: "reply-quote", dataset: { parent: parent.id },
    "aria-label": `Reply to ${authorName(parent)}: ${text.slice(0, 80)}. Show the message`,
    onclick: () => chat.jumpTo(parent.id) },
  h("span", { class: "reply-author", text: authorName(parent) }), h("span", { class: "reply-text", text }));
}

function actions(chat, message, mine) {
  const react = h("button", { type: "button", class: "btn btn-ghost btn-icon message-action", "aria-label": "Add reaction",
    title: "Add reaction", onclick: (event) => chat.pickReaction(message, event.currentTarget) },
  h("span", { class: "icon icon-smile", "aria-hidden": "true" }));
  const item = (label, fn, danger = false) => h("button", { type: "button", class: `menu-item${danger ? " danger" : ""}`,
    text: label, onclick: fn });
  const items = [];
  if (message.isReplyable !== false) items.push(item("Reply", () => chat.startReply(message)));
  if (chat.canEdit(message, mine)) items.push(item("Edit", () => chat.startEdit(message)));
  if (chat.canDelete(message, mine)) items.push(item("Delete", () => chat.confirmDelete(message), true));
  const bar = h("div", { class: "message-actions" }, react);
  if (items.length) bar.append(menu("Message actions", items));
  return bar;
}
