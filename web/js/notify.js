// Telling the person about messages they have not seen: the unread count in the tab title and on
// the favicon, and, while the tab is hidden, a browser notification for mentions and one-to-one
// messages. Permission is asked once, from a click on "Enable notifications" (browsers ignore or
// block requests that do not come from a user gesture).
import { h } from "./dom.js";

const ICON = "/web/icon.svg";
const BODY_MAX = 140;

// `{mention-user1}` placeholders turned back into "@Name", for a notification's plain text.
export function plainText(message) {
  const params = message.messageParameters && !Array.isArray(message.messageParameters) ? message.messageParameters : {};
  return String(message.message || "").replace(/\{([a-z0-9-]+)\}/gi, (whole, key) => {
    const param = params[key];
    return param ? (param.type === "user" || param.type === "call" || param.type === "guest" ? `@${param.name || param.id}` : param.name || whole) : whole;
  });
}

// Does this message mention the user (directly, or everyone with @all)?
export function mentionsMe(message, userId) {
  const params = message.messageParameters && !Array.isArray(message.messageParameters) ? message.messageParameters : {};
  return Object.values(params).some((p) => p && ((p.type === "user" && userId && p.id === userId) || p.type === "call"));
}

class Notifier {
  constructor() {
    this.baseTitle = "Parley";
    this.listUnread = 0;      // from the room list (rooms other than the one on screen)
    this.hiddenUnread = 0;    // arrived in the open room while the tab was hidden
    this.seenCounts = new Map();   // token → unreadMessages last seen in the room list
    this.primed = false;
    this.iconImage = null;
    this.drawn = -1;
    this.open = null;         // (token) => show that conversation (set by main.js)
    this.button = null;
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        this.hiddenUnread = 0;
        this.render();
      }
    });
  }

  get supported() {
    return typeof Notification !== "undefined";
  }

  // The topbar button that asks for permission; hidden once the person decided.
  permissionButton() {
    this.button = h("button", { type: "button", class: "btn btn-ghost btn-small notify-button",
      "aria-label": "Enable notifications", title: "Enable notifications", onclick: () => this.askPermission() },
    h("span", { class: "icon icon-bell", "aria-hidden": "true" }), h("span", { class: "btn-label", text: "Enable notifications" }));
    this.syncButton();
    return this.button;
  }

  syncButton() {
    if (this.button) this.button.hidden = !this.supported || Notification.permission !== "default";
  }

  async askPermission() {
    if (!this.supported) return;
    try {
      await Notification.requestPermission();
    } catch (error) {
      console.warn("notification permission request failed", error);
    }
    this.syncButton();
  }

  setTitle(title) {
    this.baseTitle = title;
    this.render();
  }

  // The room list (every 10 s, and after changes): counts for the title, and notifications for
  // rooms that gained unread messages that concern the person while the tab is hidden.
  // The room object's `lastMessage` (talk-chat-later.md §7.3) gives the text; a room without one
  // (a server without the later chat API) still notifies, with a count.
  roomsChanged(rooms, currentToken) {
    this.listUnread = rooms.filter((r) => r.token !== currentToken)
      .reduce((sum, r) => sum + (r.unreadMessages || 0), 0);
    for (const room of rooms) {
      const before = this.seenCounts.get(room.token) ?? 0;
      const now = room.unreadMessages || 0;
      if (this.primed && room.token !== currentToken && now > before && (room.type === 1 || room.unreadMention)) {
        const fresh = now - before;
        const message = room.lastMessage && room.lastMessage.message !== undefined ? room.lastMessage
          : { message: fresh === 1 ? "1 new message" : `${fresh} new messages`, actorDisplayName: room.displayName };
        this.notify(room.token, room.displayName || room.name, message, room.type === 1);
      }
      this.seenCounts.set(room.token, now);
    }
    this.primed = true;
    this.render();
  }

  // A message that arrived in the room on screen (not our own).
  messageArrived(room, message, userId) {
    if (!document.hidden || message.systemMessage) return;
    this.hiddenUnread += 1;
    this.render();
    if (room.type === 1 || mentionsMe(message, userId)) {
      this.notify(room.token, room.displayName || room.name, message, room.type === 1);
    }
  }

  notify(token, roomName, message, oneToOne) {
    if (!document.hidden || !this.supported || Notification.permission !== "granted") return;
    const author = message.actorDisplayName || "Someone";
    const text = plainText(message);
    const body = text.length > BODY_MAX ? `${text.slice(0, BODY_MAX - 1)}…` : text;
    try {
      // One notification per conversation: a newer one replaces the older (same tag).
      const notification = new Notification(oneToOne ? author : `${author} in ${roomName}`,
        { body, tag: `parley-${token}`, icon: ICON, data: { token } });
      notification.onclick = () => {
        window.focus();
        notification.close();
        this.open?.(token);
      };
    } catch (error) {
      console.warn("could not show a notification", error);
    }
  }

  get unread() {
    return this.listUnread + this.hiddenUnread;
  }

  render() {
    const count = this.unread;
    const title = count > 0 ? `(${count > 99 ? "99+" : count}) ${this.baseTitle}` : this.baseTitle;
    if (document.title !== title) document.title = title;
    this.drawFavicon(count);
  }

  // The icon with a red badge holding the count, drawn on a canvas (no image files per count).
  drawFavicon(count) {
    if (count === this.drawn) return;
    this.drawn = count;
    const link = document.querySelector("link[rel=icon]");
    if (!link) return;
    if (count === 0) {
      link.href = ICON;
      link.type = "image/svg+xml";
      delete link.dataset.unread;
      return;
    }
    if (!this.iconImage) {
      this.iconImage = new Image();
      this.iconImage.onload = () => { this.drawn = -1; this.drawFavicon(this.unread); };
      this.iconImage.src = ICON;
    }
    if (!this.iconImage.complete) return;   // onload draws the count current by then
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const g = canvas.getContext("2d");
    g.drawImage(this.iconImage, 0, 0, 64, 64);
    g.fillStyle = "#dc2626";
    g.beginPath();
    g.arc(44, 20, 20, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = "#fff";
    g.font = "bold 26px system-ui, sans-serif";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(count > 9 ? "9+" : String(count), 44, 21);
    link.type = "image/png";
    link.href = canvas.toDataURL("image/png");
    link.dataset.unread = String(count);
  }
}

export const notifier = new Notifier();
