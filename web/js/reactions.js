// Reactions (talk-chat-later.md §6): the chips under a message (emoji, count, pressed when the
// person reacted; who reacted is fetched on hover or focus and shown as the chip's tooltip and
// accessible description) and a small emoji picker with the common set and a search by name.
import { api } from "./api.js";
import { h, uniqueId } from "./dom.js";

// The common set, each with the words a search matches.
export const EMOJIS = [
  ["👍", "thumbs up yes like ok"], ["👎", "thumbs down no dislike"], ["❤️", "heart love red"],
  ["😂", "joy laugh tears funny"], ["😊", "smile happy blush"], ["😮", "wow surprised open mouth"],
  ["😢", "cry sad tear"], ["😡", "angry mad rage"], ["🎉", "party tada celebrate congratulations"],
  ["🙏", "pray thanks please folded hands"], ["👀", "eyes look watching"], ["🔥", "fire hot lit"],
  ["✅", "check done yes tick"], ["❌", "cross no wrong"], ["👏", "clap applause bravo"],
  ["🚀", "rocket launch ship fast"], ["🤔", "thinking hmm wonder"], ["💯", "hundred perfect score"],
  ["😅", "sweat smile relief"], ["🙌", "raised hands hooray"], ["☕", "coffee tea break"],
  ["🍕", "pizza food lunch"], ["👋", "wave hello bye hi"], ["💡", "idea light bulb"],
  ["⭐", "star favourite"], ["🐛", "bug insect"], ["✨", "sparkles shiny new"], ["😴", "sleep tired zzz"],
];

export function reactionChips({ token, message, onToggle }) {
  const reactions = message.reactions && !Array.isArray(message.reactions) ? message.reactions : {};
  const mine = new Set(message.reactionsSelf || []);
  const entries = Object.entries(reactions).filter(([, count]) => count > 0);
  if (entries.length === 0) return null;
  return h("div", { class: "reactions", role: "group", "aria-label": "Reactions" }, entries.map(([emoji, count]) => {
    const describedBy = uniqueId("who");
    const who = h("span", { id: describedBy, class: "visually-hidden" });
    const chip = h("button", { type: "button", class: `reaction${mine.has(emoji) ? " mine" : ""}`,
      "aria-pressed": String(mine.has(emoji)), "aria-describedby": describedBy,
      "aria-label": `${emoji} ${count}, ${mine.has(emoji) ? "remove your reaction" : "react with it too"}`,
      dataset: { emoji }, onclick: () => onToggle(emoji, mine.has(emoji)) },
    h("span", { class: "reaction-emoji", "aria-hidden": "true", text: emoji }),
    h("span", { class: "reaction-count", "aria-hidden": "true", text: String(count) }), who);
    let loaded = false;
    const loadWho = async () => {
      if (loaded) return;
      loaded = true;
      try {
        const reply = await api.get(`/reaction/${token}/${message.id}`, { reaction: emoji });
        const list = reply.data && !Array.isArray(reply.data) ? reply.data[emoji] || [] : [];
        const names = list.map((r) => r.actorDisplayName || (r.actorType === "guests" ? "Guest" : r.actorId));
        const text = names.length ? `Reacted with ${emoji}: ${names.join(", ")}` : "";
        chip.title = text;
        who.textContent = text;
      } catch (error) {
        loaded = false;
        console.warn("could not load who reacted", error);
      }
    };
    chip.addEventListener("mouseenter", loadWho);
    chip.addEventListener("focus", loadWho);
    return chip;
  }));
}

// The picker: a dialog-like popover with a search field and a grid of emoji buttons; arrow keys
// move between them, Enter picks, Escape closes and gives focus back to the opener.
export function openPicker(opener, onPick) {
  document.querySelector(".emoji-picker")?.remove();
  const search = h("input", { type: "search", class: "emoji-search", placeholder: "Search emoji",
    "aria-label": "Search emoji", autocomplete: "off" });
  const grid = h("div", { class: "emoji-grid", role: "group", "aria-label": "Emoji" });
  const picker = h("div", { class: "emoji-picker", role: "dialog", "aria-label": "Pick a reaction" }, search, grid);
  const close = (focusBack = true) => {
    picker.remove();
    document.removeEventListener("pointerdown", outside, true);
    if (focusBack) opener.focus();
  };
  const outside = (event) => { if (!picker.contains(event.target) && event.target !== opener) close(false); };
  const fill = () => {
    const words = search.value.trim().toLowerCase();
    const shown = EMOJIS.filter(([emoji, names]) => !words || names.includes(words) || emoji === words);
    grid.replaceChildren(...shown.map(([emoji, names]) => h("button", { type: "button", class: "emoji-option",
      "aria-label": `${emoji} ${names.split(" ")[0]}`, title: names.split(" ").slice(0, 2).join(" "), text: emoji,
      onclick: () => { close(); onPick(emoji); } })));
    if (shown.length === 0) grid.append(h("p", { class: "hint", text: "No emoji found." }));
  };
  search.addEventListener("input", fill);
  picker.addEventListener("keydown", (event) => {
    const buttons = [...grid.querySelectorAll("button")];
    const index = buttons.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Enter" && document.activeElement === search && buttons[0]) {
      event.preventDefault();
      buttons[0].click();
    } else if ((event.key === "ArrowDown" && document.activeElement === search) && buttons[0]) {
      event.preventDefault();
      buttons[0].focus();
    } else if (index >= 0 && ["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(event.key)) {
      event.preventDefault();
      const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 7, ArrowUp: -7 }[event.key];
      const next = index + step;
      if (next < 0) search.focus();
      else buttons[Math.min(next, buttons.length - 1)].focus();
    }
  });
  fill();
  opener.closest(".message")?.append(picker);
  document.addEventListener("pointerdown", outside, true);
  search.focus();
  return picker;
}
