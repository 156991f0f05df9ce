// Choosing the camera and microphone: the lists come from enumerateDevices (labels appear once the
// page has media permission, i.e. in a call), the choice is remembered in localStorage for the
// next call, and a change during a call swaps the track in place (RTCRtpSender.replaceTrack), so
// no renegotiation is needed and the others keep seeing and hearing us.
import { h, toast, uniqueId } from "./dom.js";

const STORE = { audio: "parley.microphone", video: "parley.camera" };

export function preferredDevice(kind) {
  const id = localStorage.getItem(STORE[kind]);
  return id ? { deviceId: { ideal: id } } : {};
}

export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    audio: devices.filter((d) => d.kind === "audioinput" && d.deviceId),
    video: devices.filter((d) => d.kind === "videoinput" && d.deviceId),
  };
}

function currentTrack(call, kind) {
  return kind === "audio" ? call.stream?.getAudioTracks()[0] : call.stream?.getVideoTracks()[0];
}

// Use another input device for `kind` ("audio" | "video") in the running call.
export async function switchDevice(call, kind, deviceId) {
  const old = currentTrack(call, kind);
  if (!old) throw new Error(`this call has no ${kind === "audio" ? "microphone" : "camera"} to switch`);
  if (old.getSettings().deviceId === deviceId) return;
  const constraints = kind === "audio" ? { audio: { deviceId: { exact: deviceId } } }
    : { video: { deviceId: { exact: deviceId }, width: { ideal: 640 }, height: { ideal: 360 } } };
  const fresh = await navigator.mediaDevices.getUserMedia(constraints);
  const track = kind === "audio" ? fresh.getAudioTracks()[0] : fresh.getVideoTracks()[0];
  track.enabled = old.enabled;   // a muted microphone stays muted
  for (const peer of call.peers.values()) {
    const sender = peer.pc.getSenders().find((s) => s.track === old);
    if (sender) await sender.replaceTrack(track);
  }
  call.stream.removeTrack(old);
  old.stop();
  call.stream.addTrack(track);
  localStorage.setItem(STORE[kind], deviceId);
  if (kind === "video" && call.localTile) {
    call.localTile.video.srcObject = call.stream;
    call.localTile.video.play().catch(() => {});
  }
}

// The dialog behind the call's "Camera and microphone" button.
export async function openDeviceDialog(call, opener) {
  const lists = await listDevices();
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "devices-title" });
  const close = () => { dialog.close(); dialog.remove(); opener?.focus(); };
  const select = (kind, label, devices) => {
    const id = uniqueId("device");
    const active = currentTrack(call, kind)?.getSettings().deviceId;
    const el = h("select", { id, name: kind, disabled: devices.length < 2 || !currentTrack(call, kind) },
      devices.map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === active,
        text: d.label || `${label} ${i + 1}` })));
    el.addEventListener("change", async () => {
      el.disabled = true;
      try {
        await switchDevice(call, kind, el.value);
        toast(`${label} switched.`, "success");
      } catch (error) {
        toast(`Could not switch the ${label.toLowerCase()}: ${error.message}`, "error");
        el.value = currentTrack(call, kind)?.getSettings().deviceId || el.value;
      } finally {
        el.disabled = false;
      }
    });
    return h("div", { class: "field" }, h("label", { for: id, text: label }), el,
      devices.length === 0 ? h("p", { class: "hint", text: `No ${label.toLowerCase()} found.` }) : null);
  };
  dialog.append(
    h("div", { class: "dialog-head" }, h("h2", { id: "devices-title", text: "Camera and microphone" }),
      h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Close", onclick: close },
        h("span", { class: "icon icon-close" }))),
    select("video", "Camera", lists.video), select("audio", "Microphone", lists.audio),
    h("div", { class: "button-row" }, h("button", { type: "button", class: "btn btn-primary", text: "Done", onclick: close })));
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(); });
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector("select:not([disabled])")?.focus();
  return dialog;
}
