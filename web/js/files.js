// Files in the chat (docs/FILES-AND-SEARCH.md): uploading with a progress bar (from the attach
// button, drag and drop onto the chat, or pasting an image), and showing a shared file as a card
// with its name and size, an inline preview for images, and a download link.
//
// Downloads and previews are fetched with `OCS-APIRequest: true` (the login cookie only counts
// with it, docs/WEB-CLIENT.md) and shown through blob: URLs, which the page's CSP allows.
import { h, toast } from "./dom.js";

const OCS = "/ocs/v2.php/apps/spreed/api/v1";
const PREVIEW_PX = 512;

export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

async function fetchBlob(url) {
  const response = await fetch(url, { headers: { "OCS-APIRequest": "true" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(`status ${response.status}`);
  return response.blob();
}

// One upload: POST multipart to /chat/{token}/attachment, with progress events (fetch has no
// upload progress, hence XMLHttpRequest). Resolves with the posted chat message.
export function uploadFile(token, file, { replyTo, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name || "pasted-image.png");
    if (replyTo) form.append("replyTo", String(replyTo));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${OCS}/chat/${token}/attachment`);
    xhr.setRequestHeader("OCS-APIRequest", "true");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body?.ocs?.data);
      else {
        const error = new Error(body?.ocs?.meta?.message || `upload failed with status ${xhr.status}`);
        error.status = xhr.status;
        reject(error);
      }
    });
    xhr.addEventListener("error", () => reject(new Error("the upload was interrupted")));
    xhr.send(form);
  });
}

// The upload area above the composer: one row per file in flight with a progress bar.
export class Uploads {
  constructor(token, { replyTo }) {
    this.token = token;
    this.replyTo = replyTo;   // () => id of the message being replied to, or 0
    this.el = h("ul", { class: "uploads", "aria-label": "Uploads", hidden: true });
  }

  async send(files) {
    for (const file of files) {
      const bar = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
      const row = h("li", { class: "upload" }, h("span", { class: "upload-name", text: file.name }),
        h("span", { class: "upload-size", text: formatSize(file.size) }), bar);
      this.el.append(row);
      this.el.hidden = false;
      try {
        await uploadFile(this.token, file, { replyTo: this.replyTo(), onProgress: (p) => { bar.value = Math.round(p * 100); } });
        bar.value = 100;
      } catch (error) {
        toast(`Could not upload ${file.name}: ${error.status === 413 ? "the file is too large" : error.message}`, "error");
      } finally {
        row.remove();
        this.el.hidden = this.el.children.length === 0;
      }
    }
  }

  // Drag and drop onto `zone`, and pasting files (screenshots) into `input`.
  attach(zone, input) {
    zone.addEventListener("dragover", (event) => {
      if (![...event.dataTransfer.types].includes("Files")) return;
      event.preventDefault();
      zone.classList.add("drop-target");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("drop-target");
    });
    zone.addEventListener("drop", (event) => {
      zone.classList.remove("drop-target");
      if (!event.dataTransfer.files.length) return;
      event.preventDefault();
      this.send([...event.dataTransfer.files]);
    });
    input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length === 0) return;
      event.preventDefault();
      this.send(files);
    });
  }
}

// A `{file}` rich object as a card: preview for images, name, size, download link.
export function fileCard(token, file) {
  const name = file.name || "file";
  const download = h("a", { class: "file-download", href: file.link || `${OCS}/chat/${token}/attachment/${file.id}`,
    text: name, download: name, "aria-label": `Download ${name} (${formatSize(file.size)})` });
  download.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const url = URL.createObjectURL(await fetchBlob(`${OCS}/chat/${token}/attachment/${file.id}`));
      const a = h("a", { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (error) {
      toast(`Could not download ${name}: ${error.message}`, "error");
    }
  });
  const card = h("div", { class: "file-card", dataset: { file: file.id } },
    h("span", { class: "icon icon-file", "aria-hidden": "true" }),
    h("span", { class: "file-text" }, download, h("span", { class: "file-size", text: formatSize(file.size) })));
  if (file["preview-available"] === "yes") {
    const img = h("img", { class: "file-preview", alt: `Preview of ${name}` });
    if (file.width && file.height) {
      // Reserve the space up front, so the chat does not jump when the preview arrives.
      const scale = Math.min(1, 320 / Number(file.width), 240 / Number(file.height));
      img.width = Math.max(1, Math.round(Number(file.width) * scale));
      img.height = Math.max(1, Math.round(Number(file.height) * scale));
    }
    fetchBlob(`${OCS}/chat/${token}/attachment/${file.id}/preview?x=${PREVIEW_PX}&y=${PREVIEW_PX}`)
      .then((blob) => { img.src = URL.createObjectURL(blob); })
      .catch((error) => { console.warn("no preview", error); img.remove(); });
    return h("figure", { class: "file-share has-preview" }, img, card);
  }
  return h("figure", { class: "file-share" }, card);
}
