// Boot and navigation: the login page, the signed-in app (room list + room view), and the guest
// page behind a `/call/<token>` link. One room is open at a time.
import { api, ApiError, login } from "./api.js";
import { avatar, h, replaceChildren, toast, uniqueId } from "./dom.js";
import { notifier } from "./notify.js";
import { PeopleSearch, USERS } from "./people.js";
import { RoomView } from "./room.js";
import { previewText } from "./message-view.js";
import { MessageSearch } from "./search.js";

const ROOMS_MS = 10000;
const GUEST_NAME_KEY = "parley.guestName";
const main = document.getElementById("main");
const state = { me: null, rooms: [], view: null, openSeq: 0, roomsTimer: null, app: null, list: null, content: null };

function tokenFromPath() {
  const match = location.pathname.match(/^\/call\/([a-z0-9]{4,30})\/?$/);
  return match ? match[1] : null;
}

function navigate(path) {
  if (location.pathname !== path) history.pushState({}, "", path);
  route();
}

async function closeView(options) {
  const view = state.view;
  state.view = null;
  if (view) await view.close(options);
}

async function boot() {
  let status = { loggedIn: false };
  try {
    status = await login.status();
  } catch (error) {
    console.warn("login status failed", error);
  }
  await closeView();
  clearInterval(state.roomsTimer);
  state.me = status.loggedIn ? status : null;
  const bar = document.getElementById("topbar-user");
  bar.hidden = !state.me;
  document.getElementById("topbar-name").replaceChildren(...(state.me ? [avatar(state.me.displayName, "avatar-sm"),
    h("span", { text: state.me.displayName })] : []));
  if (!state.me) notifier.roomsChanged([], null);
  if (state.me) {
    showApp();
  } else {
    state.app = null;
    const token = tokenFromPath();
    if (token) showGuestLobby(token);
    else if (location.pathname.replace(/\/$/, "") === "/setup") showSetup();
    else showLogin();
  }
}

async function route() {
  if (!state.me) return boot();
  const token = tokenFromPath();
  if (token) await openRoom(token);
  else await showNoRoom();
}

// -- login -------------------------------------------------------------------------------------

function field(label, attrs) {
  const id = uniqueId("f");
  const input = h("input", { id, ...attrs });
  return { input, el: h("div", { class: "field" }, h("label", { for: id, text: label }), input) };
}

function showLogin({ back } = {}) {
  notifier.setTitle("Log in · Parley");
  const user = field("User name", { name: "user", autocomplete: "username", required: true, autocapitalize: "none" });
  const password = field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Log in" });
  const form = h("form", { class: "card auth-card", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title", text: "Log in to Parley" }),
    h("p", { class: "hint", text: "Chat and video calls, on your own server." }),
    user.el, password.el, error, submit,
    back ? h("button", { type: "button", class: "btn btn-ghost btn-block", text: "Back to the guest page", onclick: back }) : null);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      await login.logIn(user.input.value.trim(), password.input.value);
      await boot();
    } catch (e) {
      error.textContent = e.status === 429 ? "Too many failed attempts. Wait a moment and try again."
        : e.status === 401 ? "Wrong user name or password." : `Login failed: ${e.message}`;
      password.input.select();
      submit.disabled = false;
    }
  });
  main.replaceChildren(h("div", { class: "center" }, form));
  user.input.focus();
}

// -- first run ---------------------------------------------------------------------------------

// The link `parley serve` prints while no account exists: /setup#<token>. The token stays in the
// fragment (never sent in a URL) and goes to the server only in the form's POST body.
function showSetup() {
  document.title = "Set up · Parley";
  const token = decodeURIComponent(location.hash.slice(1));
  const user = field("Administrator user name", { name: "userId", autocomplete: "username", required: true,
    autocapitalize: "none", value: "admin" });
  const name = field("Display name", { name: "displayName", autocomplete: "name", maxlength: "64" });
  const password = field("Password", { name: "password", type: "password", autocomplete: "new-password", required: true });
  const repeat = field("Repeat the password", { name: "repeat", type: "password", autocomplete: "new-password", required: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Create administrator" });
  const form = h("form", { class: "card auth-card", "aria-labelledby": "setup-title" },
    h("h1", { id: "setup-title", text: "Welcome to Parley" }),
    h("p", { class: "hint", text: "Create the first administrator account. This link works once." }),
    user.el, name.el, password.el, repeat.el, error, submit);
  if (!token) {
    error.textContent = "This setup link has no token. Copy the whole link that `parley serve` printed.";
    submit.disabled = true;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (password.input.value !== repeat.input.value) {
      error.textContent = "The passwords do not match.";
      repeat.input.select();
      return;
    }
    submit.disabled = true;
    try {
      await login.setUp(token, user.input.value.trim(), name.input.value.trim(), password.input.value);
      history.replaceState({}, "", "/");   // drop the used token from the address bar and history
      await boot();
    } catch (e) {
      error.textContent = e.status === 404 ? "Setup is already done. Log in instead."
        : e.status === 403 ? "This setup link is wrong or has expired. Restart Parley for a new one."
        : `Setup failed: ${e.message}`;
      submit.disabled = e.status === 404 || e.status === 403;
    }
  });
  main.replaceChildren(h("div", { class: "center" }, form));
  user.input.focus();
}

// -- signed-in app -----------------------------------------------------------------------------

// A search hit: open its conversation and show the message there.
function openMessage(token, messageId) {
  if (state.view?.token === token) {
    state.view.chat?.jumpTo(messageId);
    return;
  }
  state.jump = { token, messageId };
  navigate(`/call/${token}`);
}

function showApp() {
  state.list = h("ul", { class: "room-list" });
  state.search = new MessageSearch({
    roomName: (token) => { const room = state.rooms.find((r) => r.token === token); return room ? room.displayName || room.name : ""; },
    onOpen: openMessage,
    onActive: (searching) => { state.list.hidden = searching; },
  });
  state.content = h("div", { class: "content" });
  state.app = h("div", { class: "app" },
    h("nav", { class: "sidebar", "aria-label": "Conversations" },
      h("div", { class: "sidebar-head" }, h("h2", { text: "Conversations" }),
        h("button", { type: "button", class: "btn btn-primary btn-small", onclick: newRoomDialog },
          h("span", { class: "icon icon-plus", "aria-hidden": "true" }), h("span", { text: "New" }))),
      state.search.el, state.list),
    state.content);
  main.replaceChildren(state.app);
  loadRooms();
  state.roomsTimer = setInterval(loadRooms, ROOMS_MS);
  route();
}

let roomsLoading = null;
function loadRooms() {
  if (!roomsLoading) {
    roomsLoading = api.get("/room").then((reply) => {
      state.rooms = reply.data.slice().sort((a, b) => (b.hasCall - a.hasCall)
        || (a.displayName || a.name).localeCompare(b.displayName || b.name));
      renderRooms();
      notifier.roomsChanged(state.rooms, state.view?.token);
    }).catch((error) => {
      if (error instanceof ApiError && error.status === 401) boot();
      else console.warn("room list failed", error);
    }).finally(() => { roomsLoading = null; });
  }
  return roomsLoading;
}

const TYPE_TEXT = { 1: "One-to-one", 2: "Group", 3: "Public" };

// The line under a room's name: a preview of its last message (the room object's lastMessage,
// `[]` when it has none), else its kind; a running call is said first.
function roomSubtitle(room) {
  const last = room.lastMessage && !Array.isArray(room.lastMessage) ? room.lastMessage : null;
  const me = state.me ? { actorType: "users", actorId: state.me.userId } : null;
  const detail = last ? previewText(last, me) : TYPE_TEXT[room.type];
  return [room.hasCall ? "Call in progress" : null, detail].filter(Boolean).join(" · ");
}

function renderRooms() {
  if (!state.list) return;
  const current = state.view?.token;
  if (state.rooms.length === 0) {
    replaceChildren(state.list, h("li", { class: "room-list-empty", text: "No conversations yet." }));
    return;
  }
  replaceChildren(state.list, state.rooms.map((room) => {
    const name = room.displayName || room.name || "Conversation";
    const unread = room.token === current ? 0 : room.unreadMessages;
    // The link's name is the room (with its call and unread marks); the preview line is its
    // description, so "open Alice" finds one room however the others' previews read.
    const ids = { name: uniqueId("room-name"), sub: uniqueId("room-sub"), call: uniqueId("room-call"), badge: uniqueId("room-unread") };
    const subtitle = roomSubtitle(room);
    const link = h("a", { href: `/call/${room.token}`, class: "room-item", "aria-current": room.token === current ? "page" : null,
      "aria-labelledby": [ids.name, room.hasCall ? ids.call : null, unread > 0 ? ids.badge : null].filter(Boolean).join(" "),
      "aria-describedby": ids.sub,
      onclick: (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey) return;
        event.preventDefault();
        navigate(`/call/${room.token}`);
      } },
    avatar(name),
    h("span", { class: "room-item-text" },
      h("span", { class: "room-item-name", id: ids.name, text: name }),
      h("span", { class: "room-item-sub", id: ids.sub, title: subtitle, text: subtitle })),
    room.hasCall ? h("span", { class: "icon icon-phone call-dot", id: ids.call, role: "img", "aria-label": "Call in progress" }) : null,
    unread > 0 ? h("span", { class: "badge", id: ids.badge, "aria-label": `${unread} unread` , text: unread > 99 ? "99+" : String(unread) }) : null);
    return h("li", {}, link);
  }));
}

async function showNoRoom() {
  state.openSeq += 1;
  await closeView();
  state.app?.classList.remove("room-open");
  renderRooms();
  notifier.setTitle("Parley");
  state.content.replaceChildren(h("div", { class: "empty-state" },
    h("span", { class: "empty-icon icon icon-chat", "aria-hidden": "true" }),
    h("h1", { text: "Pick a conversation" }),
    h("p", { class: "hint", text: "Or start a new one: a group, a public room with a guest link, or a one-to-one chat." }),
    h("button", { type: "button", class: "btn btn-primary", onclick: newRoomDialog, text: "New conversation" })));
}

async function openRoom(token, password) {
  if (state.view?.token === token) return;
  const seq = ++state.openSeq;
  await closeView();
  state.app.classList.add("room-open");
  state.content.replaceChildren(h("p", { class: "loading", text: "Joining…" }));
  let sessionId;
  try {
    sessionId = (await api.post(`/room/${token}/participants/active`, password ? { password } : {})).data.sessionId;
  } catch (error) {
    if (seq !== state.openSeq) return;
    if (error instanceof ApiError && (error.status === 403 || error.status === 429)) {
      userPasswordPrompt(token, error.status === 429 ? "Too many attempts; wait a moment." : password ? "Wrong password." : "");
    } else {
      state.content.replaceChildren(notFoundCard());
    }
    return;
  }
  if (seq !== state.openSeq) {
    api.del(`/room/${token}/participants/active`).catch(() => {});
    return;
  }
  const unread = state.rooms.find((r) => r.token === token)?.unreadMessages || 0;
  const view = new RoomView({
    token, sessionId, me: state.me, unread,
    onBack: () => navigate("/"),
    onLeft: () => { state.view = null; loadRooms(); navigate("/"); },
    onRoomsChanged: () => loadRooms(),
  });
  state.view = view;
  try {
    await view.open(state.content);
  } catch (error) {
    console.warn("opening the room failed", error);
    state.content.replaceChildren(notFoundCard());
    return;
  }
  renderRooms();
  loadRooms();
  if (state.jump?.token === token) {
    const { messageId } = state.jump;
    state.jump = null;
    view.chat.jumpTo(messageId);
  }
}

function userPasswordPrompt(token, message) {
  const password = field("Password", { type: "password", autocomplete: "off", required: true });
  const form = h("form", { class: "card auth-card" }, h("h1", { text: "This conversation has a password" }),
    password.el, h("p", { class: "form-error", role: "alert", text: message || "" }),
    h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Join" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    openRoom(token, password.input.value);
  });
  state.content.replaceChildren(h("div", { class: "center" }, form));
  password.input.focus();
}

function notFoundCard() {
  return h("div", { class: "center" }, h("div", { class: "card auth-card" },
    h("h1", { text: "Conversation not found" }),
    h("p", { class: "hint", text: "It may have been deleted, or you are not a participant." }),
    h("a", { class: "btn btn-secondary btn-block", href: "/", text: "Back to conversations" })));
}

function newRoomDialog() {
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "new-room-title" });
  const close = () => { dialog.close(); dialog.remove(); };
  const types = [[2, "Group", "Add people once it exists."], [3, "Public", "Anyone with the link can join, guests too."],
    [1, "One-to-one", "A private chat with one person."]];
  const radios = types.map(([value, label, hint], i) => {
    const id = uniqueId("type");
    const input = h("input", { type: "radio", name: "roomType", id, value, checked: i === 0 });
    return h("label", { class: "choice", for: id }, input,
      h("span", {}, h("strong", { text: label }), h("span", { class: "hint", text: hint })));
  });
  const name = field("Name", { name: "roomName", maxlength: 200, autocomplete: "off" });
  const invite = field("Person", { name: "invite", autocomplete: "off", autocapitalize: "none",
    placeholder: "Search by name or user id" });
  // The one-to-one partner comes from the people search; picking someone starts the chat at once.
  let picked = null;
  const people = new PeopleSearch({ input: invite.input, shareTypes: [USERS],
    onPick: (entry) => { picked = entry; invite.input.value = entry.label; form.requestSubmit(); } });
  invite.input.addEventListener("input", () => { picked = null; });
  invite.el.classList.add("combo");
  invite.el.append(people.list);
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { method: "dialog" },
    h("fieldset", { class: "choices" }, h("legend", { text: "Kind of conversation" }), radios),
    name.el, invite.el, error,
    h("div", { class: "button-row" },
      h("button", { type: "button", class: "btn btn-ghost", onclick: close, text: "Cancel" }),
      h("button", { type: "submit", class: "btn btn-primary", text: "Create" })));
  const kind = () => Number(form.querySelector("input[name=roomType]:checked").value);
  const sync = () => {
    name.el.hidden = kind() === 1;
    invite.el.hidden = kind() !== 1;
    invite.input.required = kind() === 1;
  };
  form.addEventListener("change", sync);
  sync();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const roomType = kind();
    try {
      const partner = picked?.id || people.current?.id || invite.input.value.trim();
      const reply = await api.post("/room", roomType === 1 ? { roomType, invite: partner }
        : { roomType, roomName: name.input.value.trim() });
      close();
      await loadRooms();
      navigate(`/call/${reply.data.token}`);
    } catch (e) {
      error.textContent = e.status === 404 ? "Nobody by that name or user id. Pick someone from the suggestions."
        : e.status === 403 ? "You cannot start a one-to-one chat with yourself." : `Could not create it: ${e.message}`;
    }
  });
  dialog.append(h("div", { class: "dialog-head" }, h("h2", { id: "new-room-title", text: "New conversation" }),
    h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Close", onclick: close },
      h("span", { class: "icon icon-close" }))), form);
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
  document.body.append(dialog);
  dialog.showModal();
  name.input.focus();
}

// -- guests ------------------------------------------------------------------------------------

async function showGuestLobby(token) {
  notifier.setTitle("Join · Parley");
  main.replaceChildren(h("p", { class: "loading", text: "Loading…" }));
  let room;
  try {
    room = (await api.get(`/room/${token}`)).data;
  } catch {
    main.replaceChildren(h("div", { class: "center" }, h("div", { class: "card auth-card" },
      h("h1", { text: "This link does not work" }),
      h("p", { class: "hint", text: "The conversation does not exist, or it is not open to guests. If you have an account, log in." }),
      h("button", { type: "button", class: "btn btn-primary btn-block", text: "Log in", onclick: () => showLogin() }))));
    return;
  }
  const title = room.displayName || room.name || "a conversation";
  notifier.setTitle(`${title} · Parley`);
  const name = field("Your name", { name: "displayName", maxlength: 64, required: true, autocomplete: "nickname",
    value: localStorage.getItem(GUEST_NAME_KEY) || "" });
  const password = room.hasPassword ? field("Conversation password", { name: "password", type: "password", required: true, autocomplete: "off" }) : null;
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", text: "Join conversation" });
  const form = h("form", { class: "card auth-card", "aria-labelledby": "guest-title" },
    h("p", { class: "eyebrow", text: "You are invited to" }),
    h("h1", { id: "guest-title", text: title }),
    name.el, password?.el, error, submit,
    h("p", { class: "hint center-text" }, "Have an account? ",
      h("button", { type: "button", class: "link-button", text: "Log in", onclick: () => showLogin({ back: () => showGuestLobby(token) }) })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const guestName = name.input.value.trim();
    if (!guestName) return;
    submit.disabled = true;
    error.textContent = "";
    try {
      const reply = await api.post(`/room/${token}/participants/active`, password ? { password: password.input.value } : {});
      const sessionId = reply.data.sessionId;
      await api.post(`/guest/${token}/name`, { displayName: guestName });
      localStorage.setItem(GUEST_NAME_KEY, guestName);
      await openGuestRoom(token, sessionId, guestName);
    } catch (e) {
      submit.disabled = false;
      if (e.status === 403) {
        error.textContent = "Wrong password. Try again.";
        password?.input.select();
      } else if (e.status === 429) {
        error.textContent = "Too many failed attempts. Wait a moment and try again.";
      } else {
        error.textContent = `Could not join: ${e.message}`;
      }
    }
  });
  main.replaceChildren(h("div", { class: "center" }, form));
  (name.input.value ? (password?.input || submit) : name.input).focus();
}

async function openGuestRoom(token, sessionId, guestName) {
  const content = h("div", { class: "content guest-content" });
  main.replaceChildren(h("div", { class: "app guest-app room-open" }, content));
  const view = new RoomView({
    token, sessionId, me: { guestName },
    onLeft: () => {
      state.view = null;
      main.replaceChildren(h("div", { class: "center" }, h("div", { class: "card auth-card" },
        h("h1", { text: "You left the conversation" }),
        h("button", { type: "button", class: "btn btn-primary btn-block", text: "Join again", onclick: () => showGuestLobby(token) }))));
    },
  });
  state.view = view;
  await view.open(content);
}

// -- wiring ------------------------------------------------------------------------------------

document.getElementById("logout-button").addEventListener("click", async () => {
  await closeView();
  try {
    await login.logOut();
  } catch (error) {
    toast(`Logout failed: ${error.message}`, "error");
  }
  history.pushState({}, "", "/");
  boot();
});

window.addEventListener("popstate", () => route());
// A click on a notification opens its conversation.
notifier.open = (token) => {
  if (state.me) navigate(`/call/${token}`);
};
document.getElementById("topbar-user").prepend(notifier.permissionButton());
// Closing the tab ends the session at once (a guest disappears from the list) instead of after
// the ping timeout.
window.addEventListener("pagehide", () => { closeView({ keepalive: true }); });

boot();
