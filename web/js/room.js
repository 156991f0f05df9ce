// One open room: header, chat, call stage and participant list, kept live by signaling (WebSocket or
// polling: participant changes), the chat long-poll, a 5 s ping and a 10 s refresh of the room object.
import { api, ApiError } from "./api.js";
import { Call } from "./call.js";
import { Chat } from "./chat.js";
import { openDeviceDialog } from "./devices.js";
import { avatar, h, replaceChildren, toast, uniqueId } from "./dom.js";
import { menu, openRoomSettings } from "./room-settings.js";
import { notifier } from "./notify.js";
import { PeopleSearch } from "./people.js";
import { openSignaling } from "./signaling.js";
import { TypingIndicator } from "./typing.js";

const PING_MS = 5000;
const REFRESH_MS = 10000;
const TYPE_LABEL = { 1: "One-to-one", 2: "Group", 3: "Public" };
const ROLE_LABEL = { 1: "Owner", 2: "Moderator", 3: "", 4: "Guest", 5: "" };

async function sha1(text) {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class RoomView {
  // me: { userId, displayName } for a user, or { guestName } for a guest.
  constructor({ token, sessionId, me, unread, onBack, onLeft, onRoomsChanged }) {
    this.token = token;
    this.sessionId = sessionId;
    this.me = me;
    this.isGuest = !me.userId;
    this.unread = unread || 0;
    this.onBack = onBack;
    this.onLeft = onLeft;
    this.onRoomsChanged = onRoomsChanged;
    this.room = null;
    this.users = [];            // usersInRoom from signaling
    this.participants = [];     // the moderator view (users only)
    this.guestNames = new Map();    // sha1(session) → name, learned from chat
    this.sessionHashes = new Map(); // session → sha1(session)
    this.call = null;
    this.closed = false;
    this.timers = [];
  }

  get nick() {
    return this.isGuest ? this.me.guestName || "Guest" : this.me.displayName;
  }

  get isModerator() {
    return !this.isGuest && this.room && (this.room.participantType === 1 || this.room.participantType === 2);
  }

  async open(container) {
    this.room = (await api.get(`/room/${this.token}`)).data;
    const myActorId = this.isGuest ? await sha1(this.sessionId) : this.me.userId;
    if (this.isGuest) this.guestNames.set(myActorId, this.nick);
    this.chat = new Chat({
      token: this.token,
      me: { actorType: this.isGuest ? "guests" : "users", actorId: myActorId },
      unread: this.unread,
      lastRead: this.room.lastReadMessage,
      oneToOne: this.room.type === 1,
      isModerator: () => this.isModerator,
      onGuestName: (id, name) => {
        if (name && this.guestNames.get(id) !== name) {
          this.guestNames.set(id, name);
          this.renderParticipants();
        }
      },
      onGone: () => this.gone(),
      onArrived: (message) => notifier.messageArrived(this.room, message, this.me.userId),
    });
    this.build(container);
    this.renderHeader();
    this.callButton.disabled = true;     // until signaling is up
    this.chat.start();
    // The WebSocket when the server offers one, else polling (signaling.js); one interface.
    const signaling = await openSignaling(this.token, this.sessionId, this.isGuest ? null : this.me.userId, {
      onMessage: (message) => {
        if (this.typing?.handle(message)) return;
        this.call?.handleMessage(message);
      },
      onUsers: (users, participantsMayHaveChanged) => this.usersChanged(users, participantsMayHaveChanged),
      onGone: () => this.gone(),
    });
    if (this.closed) {
      signaling.stop();
      return;
    }
    this.signaling = signaling;
    this.el.dataset.signaling = signaling.name;
    this.typing = new TypingIndicator({ signaling, sessionId: this.sessionId, input: this.chat.input,
      peers: () => this.users.map((u) => u.sessionId).filter((s) => s !== this.sessionId),
      nameOf: (sid) => this.sessionName(sid),
      isMine: (sid) => !this.isGuest && this.users.find((u) => u.sessionId === sid)?.userId === this.me.userId });
    this.chat.form.before(this.typing.el);
    this.typing.updateSessions(this.users.map((u) => u.sessionId));
    this.callButton.disabled = false;
    this.refreshParticipants();
    this.timers.push(setInterval(() => this.ping(), PING_MS));
    this.timers.push(setInterval(() => this.refresh(), REFRESH_MS));
    this.chat.input.focus();
  }

  build(container) {
    this.title = h("h1", { class: "room-title", id: uniqueId("room-title") });
    this.subtitle = h("p", { class: "room-subtitle" });
    this.callButton = h("button", { type: "button", class: "btn btn-call", onclick: () => this.toggleCall() });
    this.linkButton = h("button", { type: "button", class: "btn btn-ghost btn-icon", title: "Copy guest link",
      "aria-label": "Copy guest link", onclick: () => this.copyLink() }, h("span", { class: "icon icon-link" }));
    this.peopleButton = h("button", { type: "button", class: "btn btn-ghost btn-icon people-toggle",
      title: "Participants", "aria-label": "Show participants", "aria-expanded": "false",
      onclick: () => this.togglePeople() }, h("span", { class: "icon icon-users" }));
    this.settingsButton = h("button", { type: "button", class: "btn btn-ghost btn-icon", title: "Conversation settings",
      "aria-label": "Conversation settings", onclick: () => this.openSettings() }, h("span", { class: "icon icon-settings" }));
    const back = this.onBack ? h("button", { type: "button", class: "btn btn-ghost btn-icon back-button",
      "aria-label": "Back to conversations", onclick: () => this.onBack() }, h("span", { class: "icon icon-back" })) : null;

    this.stage = h("div", { class: "stage", "aria-label": "Call" });
    this.micButton = h("button", { type: "button", class: "btn btn-round", onclick: () => {
      this.call?.setAudio(!this.call.audioOn);
      this.updateCallControls();
    } });
    this.camButton = h("button", { type: "button", class: "btn btn-round", onclick: () => {
      this.call?.setVideo(!this.call.videoOn);
      this.updateCallControls();
    } });
    this.hangupButton = h("button", { type: "button", class: "btn btn-round btn-danger", "aria-label": "Leave call",
      title: "Leave call", onclick: () => this.leaveCall() }, h("span", { class: "icon icon-hangup" }));
    this.screenStage = h("div", { class: "screen-stage", role: "region", hidden: true, "aria-label": "Shared screens" });
    this.screenButton = h("button", { type: "button", class: "btn btn-round", onclick: () => {
      if (!this.call) return;
      if (this.call.screens.sharing) this.call.screens.stopSharing();
      else this.call.screens.start();
    } }, h("span", { class: "icon icon-screen" }));
    this.devicesButton = h("button", { type: "button", class: "btn btn-round", "aria-label": "Camera and microphone",
      title: "Camera and microphone", "aria-haspopup": "dialog",
      onclick: () => this.call && openDeviceDialog(this.call, this.devicesButton) }, h("span", { class: "icon icon-settings" }));
    this.callPanel = h("section", { class: "call", hidden: true, "aria-label": "Call" }, this.screenStage, this.stage,
      h("div", { class: "call-controls" }, this.micButton, this.camButton, this.screenButton, this.devicesButton,
        this.hangupButton));

    this.peopleList = h("ul", { class: "people-list" });
    this.peopleHeading = h("h2", { class: "panel-title", text: "Participants" });
    this.addForm = h("form", { class: "add-person", hidden: true, onsubmit: (e) => { e.preventDefault(); this.addParticipant(this.addSearch.current); } });
    const addId = uniqueId("add");
    this.addInput = h("input", { id: addId, name: "newParticipant", placeholder: "Name, user id or group",
      autocomplete: "off", required: true });
    // Suggestions as you type; people already in the room are not offered again.
    this.addSearch = new PeopleSearch({ input: this.addInput, itemId: this.token,
      exclude: (entry) => entry.source === "users" && this.participants.some((p) => p.userId === entry.id),
      onPick: (entry) => this.addParticipant(entry) });
    this.addForm.append(h("label", { for: addId, text: "Add a participant" }),
      h("div", { class: "input-row combo" }, this.addInput, h("button", { type: "submit", class: "btn btn-secondary", text: "Add" }),
        this.addSearch.list));
    this.people = h("aside", { class: "people", "aria-label": "Participants" }, this.peopleHeading, this.peopleList, this.addForm);

    this.el = h("section", { class: "room", "aria-labelledby": this.title.id },
      h("header", { class: "room-header" }, back,
        h("div", { class: "room-heading" }, this.title, this.subtitle),
        h("div", { class: "room-actions" }, this.callButton, this.linkButton, this.peopleButton, this.settingsButton)),
      h("div", { class: "room-body" },
        h("div", { class: "room-main" }, this.callPanel, this.chat.el),
        this.people));
    this.el.addEventListener("chat-error", (event) => this.report(event.detail, "Your message was not sent"));
    this.el.addEventListener("chat-sent", () => this.typing?.stop());
    container.replaceChildren(this.el);
    this.updateCallControls();
  }

  renderHeader() {
    const room = this.room;
    this.title.textContent = room.displayName || room.name || "Conversation";
    const parts = [TYPE_LABEL[room.type] || ""];
    if (room.hasPassword) parts.push("password protected");
    if (room.hasCall) parts.push("call in progress");
    this.subtitle.textContent = parts.filter(Boolean).join(" · ");
    this.linkButton.hidden = room.type !== 3;
    this.settingsButton.hidden = this.isGuest;
    this.addForm.hidden = !this.isModerator;
    this.el.classList.toggle("has-call", Boolean(room.hasCall));
    notifier.setTitle(`${this.title.textContent} · Parley`);
    this.updateCallControls();
  }

  updateCallControls() {
    const inCall = Boolean(this.call);
    this.callButton.replaceChildren(h("span", { class: `icon ${inCall ? "icon-hangup" : "icon-phone"}` }),
      h("span", { class: "btn-label", text: inCall ? "Leave call" : (this.room?.hasCall ? "Join call" : "Start call") }));
    this.callButton.classList.toggle("btn-danger", inCall);
    this.callButton.classList.toggle("btn-primary", !inCall);
    this.callPanel.hidden = !inCall;
    if (this.call) {
      const audio = this.call.audioOn;
      const video = this.call.videoOn;
      this.micButton.replaceChildren(h("span", { class: `icon ${audio ? "icon-mic" : "icon-mic-off"}` }));
      this.micButton.setAttribute("aria-label", audio ? "Mute microphone" : "Unmute microphone");
      this.micButton.setAttribute("aria-pressed", String(!audio));
      this.micButton.title = this.micButton.getAttribute("aria-label");
      this.micButton.disabled = !this.call.hasAudio;
      this.camButton.replaceChildren(h("span", { class: `icon ${video ? "icon-video" : "icon-video-off"}` }));
      this.camButton.setAttribute("aria-label", video ? "Turn camera off" : "Turn camera on");
      this.camButton.setAttribute("aria-pressed", String(!video));
      this.camButton.title = this.camButton.getAttribute("aria-label");
      this.camButton.disabled = !this.call.hasVideo;
      const sharing = this.call.screens.sharing;
      this.screenButton.setAttribute("aria-label", sharing ? "Stop sharing the screen" : "Share your screen");
      this.screenButton.setAttribute("aria-pressed", String(sharing));
      this.screenButton.title = this.screenButton.getAttribute("aria-label");
      this.screenButton.hidden = !navigator.mediaDevices?.getDisplayMedia;
      this.devicesButton.disabled = !this.call.hasAudio && !this.call.hasVideo;
    }
  }

  // -- live updates --------------------------------------------------------------------------

  // A guest's new name or a promotion leaves the session list as it was, so a pull that carried
  // no signaling messages refreshes the room too.
  async usersChanged(users, participantsMayHaveChanged = false) {
    const before = JSON.stringify(this.users.map((u) => [u.sessionId, Boolean(u.inCall)]));
    this.users = users;
    for (const user of users) {
      if (!user.userId && !this.sessionHashes.has(user.sessionId)) {
        this.sessionHashes.set(user.sessionId, await sha1(user.sessionId));
      }
    }
    this.call?.updateUsers(users);
    this.typing?.updateSessions(users.map((u) => u.sessionId));
    if (participantsMayHaveChanged || JSON.stringify(users.map((u) => [u.sessionId, Boolean(u.inCall)])) !== before) {
      await this.refresh();
    }
  }

  // Refreshes overlap (an event per change, plus the timer) and their answers can arrive out of
  // order under load: only the newest request's answer is applied, or an older one read before a
  // call started could put "Start call" back after the newer one said "Join call".
  async refresh() {
    if (this.closed) return;
    const asked = this.asked = (this.asked || 0) + 1;
    try {
      const room = (await api.get(`/room/${this.token}`)).data;
      if (asked !== this.asked || this.closed) return;
      this.room = room;
      this.renderHeader();
      await this.refreshParticipants();
      this.onRoomsChanged?.();
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.gone();
    }
  }

  async refreshParticipants() {
    if (!this.isGuest && !this.closed) {
      const asked = this.askedParticipants = (this.askedParticipants || 0) + 1;
      try {
        const participants = (await api.get(`/room/${this.token}/participants`)).data;
        if (asked !== this.askedParticipants) return;   // a newer answer is coming (see refresh)
        this.participants = participants;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) console.warn("participants failed", error);
      }
    }
    this.renderParticipants();
  }

  async ping() {
    try {
      await api.post(`/call/${this.token}/ping`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.gone();
    }
  }

  gone() {
    if (this.closed) return;
    toast("You are no longer in this conversation.", "warn");
    this.close({ leave: false });
    this.onLeft?.();
  }

  // -- participants --------------------------------------------------------------------------

  // One list for both views: users see the moderator list (with guests and their names);
  // guests build it from the room's user map and the sessions signaling reports.
  collectPeople() {
    const online = new Set(this.users.map((u) => u.sessionId));
    const inCall = new Set(this.users.filter((u) => u.inCall).map((u) => u.sessionId));
    if (!this.isGuest) {
      return this.participants.map((p) => ({
        key: p.userId ? `u:${p.userId}` : `g:${p.sessionId}`,
        name: p.displayName || (p.userId ? p.userId : "Guest"),
        userId: p.userId, sessionId: p.sessionId, type: p.participantType,
        online: p.sessionId !== "0" && (online.size === 0 || online.has(p.sessionId)),
        inCall: p.inCall, isMe: p.userId === this.me.userId, isGuest: !p.userId,
      }));
    }
    const map = Array.isArray(this.room.participants) ? {} : this.room.participants || {};
    const onlineUsers = new Map(this.users.filter((u) => u.userId).map((u) => [u.userId, u]));
    const list = Object.entries(map).map(([userId, p]) => ({
      key: `u:${userId}`, name: p.name, userId, sessionId: onlineUsers.get(userId)?.sessionId || "0", type: p.type,
      online: onlineUsers.has(userId), inCall: Boolean(p.call), isMe: false, isGuest: false,
    }));
    for (const user of this.users.filter((u) => !u.userId)) {
      const isMe = user.sessionId === this.sessionId;
      const name = isMe ? this.nick : this.guestNames.get(this.sessionHashes.get(user.sessionId)) || "Guest";
      list.push({ key: `g:${user.sessionId}`, name, userId: "", sessionId: user.sessionId, type: 4,
        online: true, inCall: inCall.has(user.sessionId), isMe, isGuest: true });
    }
    if (!list.some((p) => p.isMe)) {
      list.push({ key: "me", name: this.nick, userId: "", sessionId: this.sessionId, type: 4, online: true,
        inCall: Boolean(this.call), isMe: true, isGuest: true });
    }
    return list;
  }

  sessionName(sessionId) {
    const person = this.collectPeople().find((p) => p.sessionId === sessionId);
    if (person) return person.name;
    const user = this.users.find((u) => u.sessionId === sessionId);
    if (user && user.userId) {
      const map = Array.isArray(this.room.participants) ? {} : this.room.participants || {};
      return map[user.userId]?.name || user.userId;
    }
    return this.guestNames.get(this.sessionHashes.get(sessionId)) || "";
  }

  renderParticipants() {
    if (!this.room || this.closed) return;
    const people = this.collectPeople().sort((a, b) =>
      (b.isMe - a.isMe) || (b.online - a.online) || (a.type === 4) - (b.type === 4)
      || (Math.min(a.type, 3) - Math.min(b.type, 3)) || a.name.localeCompare(b.name));
    // Re-render only on change, and never under an open menu: the list refreshes every few seconds.
    const signature = JSON.stringify([people, this.isModerator, this.room.type]);
    if (signature === this.peopleSignature || this.peopleList.querySelector("[aria-expanded=true]")) return;
    this.peopleSignature = signature;
    this.peopleHeading.textContent = `Participants (${people.length})`;
    replaceChildren(this.peopleList, people.map((p) => this.renderPerson(p)));
  }

  renderPerson(p) {
    const role = ROLE_LABEL[p.type] || "";
    const status = [p.online ? "online" : "offline", p.inCall ? "in the call" : null].filter(Boolean).join(", ");
    const li = h("li", { class: `person${p.online ? " online" : ""}${p.inCall ? " in-call" : ""}`,
      dataset: { user: p.userId || "", guest: p.isGuest ? "1" : "" } },
      h("span", { class: "person-avatar" }, avatar(p.name), h("span", { class: "presence", title: status })),
      h("span", { class: "person-text" },
        h("span", { class: "person-name", text: p.isMe ? `${p.name} (you)` : p.name }),
        h("span", { class: "person-role", text: [role, p.inCall ? "in call" : null].filter(Boolean).join(" · ") })),
      p.inCall ? h("span", { class: "icon icon-video in-call-icon", role: "img", "aria-label": "In the call" }) : null,
      h("span", { class: "visually-hidden", text: status }));
    const actions = this.personActions(p);
    if (actions.length) li.append(menu(`Actions for ${p.name}`, actions));
    return li;
  }

  personActions(p) {
    if (!this.isModerator || p.isMe || this.room.type === 1) return [];
    const items = [];
    const act = (label, fn, danger = false) => h("button", { type: "button", class: `menu-item${danger ? " danger" : ""}`,
      onclick: async () => {
        try {
          await fn();
          await this.refresh();
        } catch (error) {
          this.report(error, `Could not ${label.toLowerCase()}`);
        }
      } }, label);
    if (p.isGuest) {
      items.push(act("Remove guest", () => api.del(`/room/${this.token}/participants/guests`, { participant: p.sessionId }), true));
      return items;
    }
    if (p.type === 3) items.push(act("Make moderator", () => api.post(`/room/${this.token}/moderators`, { participant: p.userId })));
    if (p.type === 2) items.push(act("Remove moderator rights", () => api.del(`/room/${this.token}/moderators`, { participant: p.userId })));
    if (p.type !== 1) items.push(act("Remove from conversation", () => api.del(`/room/${this.token}/participants`, { participant: p.userId }), true));
    return items;
  }

  // entry: a people-search result ({id, label, source}); without one, the typed text is a user id.
  async addParticipant(entry) {
    const typed = this.addInput.value.trim();
    const choice = entry || (typed ? { id: typed, label: typed, source: "users" } : null);
    if (!choice) return;
    this.addSearch.close();
    try {
      await api.post(`/room/${this.token}/participants`, { newParticipant: choice.id, source: choice.source });
      this.addInput.value = "";
      toast(`Added ${choice.label}${choice.source === "groups" ? " (group)" : ""}.`, "success");
      await this.refresh();
    } catch (error) {
      const missing = choice.source === "groups" ? `There is no group "${choice.id}"` : `There is no user "${choice.id}"`;
      this.report(error, error.status === 404 ? missing : "Could not add the participant");
    }
    this.addInput.focus();
  }

  togglePeople() {
    const open = !this.el.classList.contains("people-open");
    this.el.classList.toggle("people-open", open);
    this.peopleButton.setAttribute("aria-expanded", String(open));
  }

  // -- calls ---------------------------------------------------------------------------------

  async toggleCall() {
    if (this.call) return this.leaveCall();
    if (!this.signaling) return;
    this.callButton.disabled = true;
    const call = new Call({ token: this.token, sessionId: this.sessionId, signaling: this.signaling,
      stage: this.stage, screenStage: this.screenStage, nick: this.nick, nameOf: (sid) => this.sessionName(sid) });
    call.screens.onChange = () => this.updateCallControls();
    this.call = call;
    this.callPanel.hidden = false;
    try {
      await call.start();
      call.updateUsers(this.users);
    } catch (error) {
      this.call = null;
      this.report(error, "Could not join the call");
    } finally {
      this.callButton.disabled = false;
      this.updateCallControls();
    }
  }

  async leaveCall() {
    const call = this.call;
    this.call = null;
    this.updateCallControls();
    await call?.stop();
    await this.refresh();
  }

  // -- moderation ----------------------------------------------------------------------------

  async copyLink() {
    const link = `${location.origin}/call/${this.token}`;
    try {
      await navigator.clipboard.writeText(link);
      toast("Guest link copied.", "success");
    } catch {
      const field = h("input", { class: "link-field", value: link, readonly: true, "aria-label": "Guest link" });
      toast(h("span", {}, "Copy this guest link: ", field), "info", 15000);
      field.select();
    }
  }

  openSettings() {
    openRoomSettings(this);
  }

  report(error, what) {
    const detail = error instanceof ApiError ? (error.status === 403 ? "not allowed" : error.message) : String(error.message || error);
    toast(`${what}: ${detail}`, "error");
  }

  // Stop every loop; `leave` also ends the Talk session (the server forgets a guest at once).
  async close({ leave = true, keepalive = false } = {}) {
    if (this.closed) return;
    this.closed = true;
    this.timers.forEach(clearInterval);
    this.chat?.stop();
    this.typing?.close();
    this.signaling?.stop();
    const call = this.call;
    this.call = null;
    await call?.stop({ keepalive });
    if (leave) {
      try {
        await api.del(`/room/${this.token}/participants/active`, {}, { keepalive });
      } catch (error) {
        console.warn("leaving the room failed", error);
      }
    }
  }
}
