// `@` autocomplete in the composer: typing `@que` asks /chat/{token}/mentions?search=que and offers
// the matches in a listbox; arrow keys move, Enter or Tab picks, Escape closes.
import { api } from "./api.js";
import { avatar, h } from "./dom.js";

// The listbox under the composer: typing `@que` asks /chat/{token}/mentions?search=que.
export class MentionAutocomplete {
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
