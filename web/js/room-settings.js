// The room's settings dialog (rename, guest access, password, leave, delete) and the small menu
// button used for participant actions.
import { api } from "./api.js";
import { h, toast, uniqueId } from "./dom.js";

// A menu button: a real <button> with aria-expanded, closed by Escape, a click elsewhere or a choice.
export function menu(label, items) {
  const list = h("div", { class: "menu-items", role: "menu", hidden: true });
  const button = h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": label, title: label,
    "aria-haspopup": "menu", "aria-expanded": "false" }, h("span", { class: "icon icon-more" }));
  const wrapper = h("div", { class: "menu" }, button, list);
  const outside = (event) => { if (!wrapper.contains(event.target)) setOpen(false); };
  const setOpen = (open) => {
    list.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) {
      document.addEventListener("pointerdown", outside);
      list.querySelector("button")?.focus();
    } else {
      document.removeEventListener("pointerdown", outside);
    }
  };
  for (const item of items) {
    item.setAttribute("role", "menuitem");
    item.addEventListener("click", () => setOpen(false));
    list.append(item);
  }
  button.addEventListener("click", () => setOpen(list.hidden));
  wrapper.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !list.hidden) {
      event.stopPropagation();
      setOpen(false);
      button.focus();
    }
  });
  return wrapper;
}

// The settings dialog of an open RoomView; moderators see more sections than other participants.
export function openRoomSettings(view) {
  const room = view.room;
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "settings-title" });
  const close = () => { dialog.close(); dialog.remove(); };
  const section = (title, ...body) => h("section", { class: "dialog-section" }, h("h3", { text: title }), ...body);
  const run = async (fn, done) => {
    try {
      await fn();
      toast(done, "success");
      await view.refresh();
      view.onRoomsChanged?.();
      close();
    } catch (error) {
      view.report(error, "That did not work");
    }
  };
  const sections = [];
  if (view.isModerator && room.type !== 1) {
    const nameId = uniqueId("name");
    const nameInput = h("input", { id: nameId, value: room.name, maxlength: 200, autocomplete: "off" });
    sections.push(section("Name", h("form", { class: "input-row", onsubmit: (e) => {
      e.preventDefault();
      run(() => api.put(`/room/${view.token}`, { roomName: nameInput.value.trim() }), "Conversation renamed.");
    } }, h("label", { for: nameId, class: "visually-hidden", text: "Conversation name" }), nameInput,
    h("button", { type: "submit", class: "btn btn-secondary", text: "Rename" }))));
  }
  if (view.isModerator) {
    const publicId = uniqueId("public");
    const checkbox = h("input", { type: "checkbox", id: publicId, checked: room.type === 3 });
    checkbox.addEventListener("change", () => run(
      () => (checkbox.checked ? api.post(`/room/${view.token}/public`) : api.del(`/room/${view.token}/public`)),
      checkbox.checked ? "Guests can now join with the link." : "The conversation is now private."));
    sections.push(section("Guest access", h("label", { class: "check", for: publicId }, checkbox,
      h("span", { text: "Anyone with the link can join (public conversation)" }))));
    if (room.type === 3) {
      const pwId = uniqueId("pw");
      const pwInput = h("input", { id: pwId, type: "password", autocomplete: "new-password",
        placeholder: room.hasPassword ? "New password" : "Password" });
      sections.push(section("Password", h("p", { class: "hint",
        text: room.hasPassword ? "Guests need a password to join." : "Guests can join without a password." }),
      h("form", { class: "input-row", onsubmit: (e) => {
        e.preventDefault();
        run(() => api.put(`/room/${view.token}/password`, { password: pwInput.value }),
          pwInput.value ? "Password set." : "Password removed.");
      } }, h("label", { for: pwId, class: "visually-hidden", text: "Room password" }), pwInput,
      h("button", { type: "submit", class: "btn btn-secondary", text: "Set" })),
      room.hasPassword ? h("button", { type: "button", class: "btn btn-ghost", text: "Remove password",
        onclick: () => run(() => api.put(`/room/${view.token}/password`, { password: "" }), "Password removed.") }) : null));
    }
  }
  const danger = [h("button", { type: "button", class: "btn btn-secondary", text: "Leave conversation",
    onclick: () => run(async () => {
      await view.close({ leave: false });
      await api.del(`/room/${view.token}/participants/self`);
      view.onLeft?.();
    }, "You left the conversation.") })];
  if (view.isModerator) {
    const del = h("button", { type: "button", class: "btn btn-danger", text: "Delete conversation" });
    del.addEventListener("click", () => {
      if (del.dataset.armed) {
        run(async () => {
          await view.close({ leave: false });
          await api.del(`/room/${view.token}`);
          view.onLeft?.();
        }, "Conversation deleted.");
      } else {
        del.dataset.armed = "1";
        del.textContent = "Click again to delete for everyone";
      }
    });
    danger.push(del);
  }
  sections.push(section("Leave", h("div", { class: "button-row" }, danger)));
  dialog.append(h("div", { class: "dialog-head" }, h("h2", { id: "settings-title", text: "Conversation settings" }),
    h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Close", onclick: close },
      h("span", { class: "icon icon-close" }))), ...sections);
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
  document.body.append(dialog);
  dialog.showModal();
}
