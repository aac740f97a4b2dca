// The phone as a push device: register a token, show each notification at once (a
// banner in the page, and the browser's Notification API where the participant allows
// it), switch the device off and on. Notifications arrive on the participant socket
// (/ws/class/, the flow socket's protocol: socket.js), numbered per participant.
// Payloads are untrusted text: textContent only.

import { call } from "../api.js";
import { el } from "../dom.js";

const KEEP = 10;
const BANNER_MS = 6000;

/** A token as the platform would issue it, made on this phone and kept for this class. */
export function deviceToken(platform, classCode, storage = window.localStorage) {
  const key = `flowdash-push-token:${classCode}:${platform}`;
  let token = storage.getItem(key);
  if (!token) {
    const bytes = crypto.getRandomValues(new Uint8Array(platform === "APNS" ? 32 : 105));
    token = platform === "APNS"
      ? [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")
      : `fd${btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
    storage.setItem(key, token);
  }
  return token;
}

/** The platform this phone stands in for: Apple's devices use APNs, the rest FCM. */
export function guessPlatform(userAgent = navigator.userAgent) {
  return /iPhone|iPad|iPod|Macintosh/.test(userAgent) ? "APNS" : "GCM";
}

/** (title, text) from a payload as the platform delivers it (FCM notification, APNs alert). */
export function notificationText(platform, payload) {
  let data;
  try {
    data = JSON.parse(payload);
  } catch {
    return { title: "", text: String(payload ?? "") };
  }
  const alert = data?.aps?.alert;
  if (platform === "APNS" && alert) return typeof alert === "string" ? { title: "", text: alert } : { title: alert.title || "", text: alert.body || "" };
  const note = data?.notification;
  if (note && typeof note === "object") return { title: note.title || "", text: note.body || "" };
  return { title: "", text: String(payload) };
}

export class PhonePush {
  constructor(root, flags, { onError }) {
    this.root = root;
    this.flags = flags;
    this.onError = onError;
    this.device = null;
    this.classCode = null;
    this.registering = false;
    this.banner = document.querySelector(".push-banner");
    this.list = root.querySelector(".notifications");
    flags.notifications = 0;
    flags.notificationTimes = [];
    flags.device = null;
    root.querySelector("button[name=device-off]").addEventListener("click", () => this.setEnabled(false));
    root.querySelector("button[name=device-on]").addEventListener("click", () => this.setEnabled(true));
    root.querySelector("button[name=register]").addEventListener("click", () => this.register());
    const allow = root.querySelector("button[name=notify-permission]");
    allow.hidden = !("Notification" in window) || Notification.permission !== "default";
    allow.addEventListener("click", async () => {
      await Notification.requestPermission();
      allow.hidden = Notification.permission !== "default";
    });
  }

  /** The page's state (`me`) and this phone's device, from a snapshot or a `me` frame. */
  update(me, device) {
    this.classCode = me.class?.code;
    this.root.hidden = !me.push;
    this.device = device;
    this.flags.device = device;
    this._renderDevice();
    if (me.push && !device && !this.registering) this.register();
  }

  async register() {
    this.registering = true;
    const platform = this.root.querySelector("select[name=platform]").value || guessPlatform();
    const result = await call("POST", "/api/classroom/me/device", { token: deviceToken(platform, this.classCode), platform });
    this.registering = false;
    this._deviceAnswer(result);
  }

  async setEnabled(enabled) {
    this._deviceAnswer(await call("POST", "/api/classroom/me/device/enabled", { enabled }));
  }

  /** The device as the server now has it, or its refusal said next to the switch. */
  _deviceAnswer(result) {
    if (!result.ok) {
      this._state(result.error.message, "error");
      this.onError(result.error);
      return;
    }
    this.device = result.data;
    this.flags.device = result.data;
    this._renderDevice();
  }

  /** Notifications: `fresh` ones (live) get the banner and a system notification. */
  add(notes, { fresh }) {
    for (const note of notes) {
      if (note.type !== "notification") continue;
      const { title, text } = notificationText(note.platform, note.payload);
      this.list.prepend(el("li", { class: "notification", dataset: { trace: note.trace_id } },
        title ? el("strong", { class: "n-title", text: title }) : null,
        el("span", { class: "n-text", text }),
      ));
      while (this.list.childElementCount > KEEP) this.list.lastElementChild.remove();
      if (!fresh) continue;
      this.flags.notifications += 1;
      this.flags.notificationTimes.push(Date.now());
      this._banner(title, text);
      if ("Notification" in window && Notification.permission === "granted") {
        try {
          new Notification(title || "Flowdash", { body: text, tag: note.trace_id });
        } catch {
          // Some mobile browsers allow notifications only from a service worker: the banner shows it.
        }
      }
    }
  }

  _banner(title, text) {
    this.banner.querySelector(".push-title").textContent = title;
    this.banner.querySelector(".push-text").textContent = text;
    this.banner.hidden = false;
    clearTimeout(this.bannerTimer);
    this.bannerTimer = setTimeout(() => { this.banner.hidden = true; }, BANNER_MS);
  }

  _renderDevice() {
    const d = this.device;
    const on = Boolean(d?.enabled);
    this.root.querySelector("button[name=register]").hidden = Boolean(d);
    this.root.querySelector("select[name=platform]").disabled = Boolean(d);
    this.root.querySelector("button[name=device-off]").hidden = !d || !on;
    this.root.querySelector("button[name=device-on]").hidden = !d || on;
    this.root.dataset.enabled = d ? String(on) : "";
    if (!d) this._state(this.registering ? "Registering this phone…" : "Not registered yet.");
    else this._state(on ? `Switched on: a ${d.platform} device subscribed to the class topic.` : "Switched off: SNS delivers nothing to this phone.", on ? "ok" : "info");
  }

  _state(text, kind = "info") {
    const node = this.root.querySelector(".device-state");
    node.textContent = text;
    node.dataset.kind = kind;
  }
}
