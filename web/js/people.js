// Finding people as you type: a combobox over Nextcloud's people search
// (`GET /ocs/v2.php/core/autocomplete/get`, users by id and display name, groups by id). Used to
// add participants to a room and to pick the other person of a new one-to-one conversation.
import { core } from "./api.js";
import { avatar, h, uniqueId } from "./dom.js";

const DEBOUNCE_MS = 150;
const LIMIT = 8;
export const USERS = 0;
export const GROUPS = 1;

export class PeopleSearch {
  // input: the text field (it becomes the combobox); shareTypes: which kinds to find;
  // itemId: the room token, when searching for one room; exclude(entry): hide already present
  // people; onPick(entry): an option was chosen (click, Enter).
  constructor({ input, shareTypes = [USERS, GROUPS], itemId = "", exclude = () => false, onPick }) {
    this.input = input;
    this.shareTypes = shareTypes;
    this.itemId = itemId;
    this.exclude = exclude;
    this.onPick = onPick;
    this.options = [];
    this.active = -1;
    this.ticket = 0;
    this.timer = null;
    this.list = h("ul", { id: uniqueId("people"), class: "people-suggestions", role: "listbox", hidden: true,
      "aria-label": "People found" });
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", this.list.id);
    input.setAttribute("aria-expanded", "false");
    input.addEventListener("input", () => this.schedule());
    input.addEventListener("keydown", (event) => this.handleKey(event));
    input.addEventListener("focus", () => this.schedule());   // back in the field: suggestions again
    input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== this.input) this.close();
    }, 150));
  }

  schedule() {
    clearTimeout(this.timer);
    const search = this.input.value.trim();
    if (!search) {
      this.close();
      return;
    }
    this.timer = setTimeout(() => this.fetch(search), DEBOUNCE_MS);
  }

  async fetch(search) {
    const ticket = ++this.ticket;
    try {
      const reply = await core.get("/core/autocomplete/get", {
        search, itemType: "call", itemId: this.itemId, "shareTypes[]": this.shareTypes, limit: LIMIT + 4,
      });
      if (ticket !== this.ticket || this.input.value.trim() !== search) return;
      this.show((reply.data || []).filter((entry) => !this.exclude(entry)).slice(0, LIMIT), search);
    } catch (error) {
      console.warn("people search failed", error);
      this.close();
    }
  }

  show(entries, search) {
    this.options = entries;
    if (entries.length === 0) {
      this.list.replaceChildren(h("li", { class: "people-none", role: "option", "aria-disabled": "true",
        text: `Nobody found for “${search}”` }));
      this.active = -1;
    } else {
      this.active = 0;
      this.list.replaceChildren(...entries.map((entry, i) => {
        const isGroup = entry.source === "groups";
        const li = h("li", { id: `${this.list.id}-${i}`, role: "option", class: "people-option",
          dataset: { id: entry.id, source: entry.source } },
        avatar(entry.label),
        h("span", { class: "people-option-text" },
          h("span", { class: "people-option-label", text: entry.label }),
          h("span", { class: "people-option-sub", text: isGroup ? "Group" : entry.id })));
        li.addEventListener("mousedown", (event) => { event.preventDefault(); this.pick(i); });
        return li;
      }));
    }
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.highlight();
  }

  highlight() {
    [...this.list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  get isOpen() {
    return !this.list.hidden && this.options.length > 0;
  }

  // The highlighted suggestion, if the list is open: what Enter or an "Add" button takes.
  get current() {
    return this.isOpen && this.active >= 0 ? this.options[this.active] : null;
  }

  close() {
    clearTimeout(this.timer);
    this.ticket += 1;
    this.options = [];
    this.active = -1;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  pick(index) {
    const entry = this.options[index];
    if (!entry) return;
    this.close();
    this.onPick(entry);
  }

  handleKey(event) {
    if (!this.isOpen) {
      if (event.key === "Escape" && !this.list.hidden) this.close();
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.options.length) % this.options.length;
      this.highlight();
    } else if (event.key === "Enter") {
      event.preventDefault();
      this.pick(this.active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();   // inside a dialog: close the list, not the dialog
      this.close();
    }
  }
}
