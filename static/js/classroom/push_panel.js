// The presenter's mobile push panel: the explanation's steps, ticked as they happen in
// the live picture (applications, devices, subscriptions, the publication, deliveries),
// deliveries counted per platform, and the instructor's notification to every phone.
// Shown only when the class's scenario has a push section. Flags for tests:
// window.flowdashPresenter.push = {steps: [bool...], counts: {GCM, APNS}, devices, on}.

import { call, path } from "../api.js";
import { el } from "../dom.js";

const PLATFORM_NAMES = { GCM: "FCM (Android)", APNS: "APNs (iPhone)" };
const STEPS = [
  ["credentials", "The platform (APNs, FCM) gives the app its credentials"],
  ["applications", "SNS gets a platform application per platform"],
  ["tokens", "Phones register with the platform and get a push token"],
  ["endpoints", "Each token is stored in SNS as a platform endpoint"],
  ["topic", "The class topic exists"],
  ["subscribed", "Device endpoints are subscribed to the topic (protocol application)"],
  ["published", "The instructor publishes once, one payload per platform"],
  ["delivered", "SNS delivers to every enabled device through its platform"],
];

const platformOf = (endpointArn) => endpointArn.split(":").pop().split("/")[1];

export class PushPanel {
  constructor(root, state, flags, code) {
    this.root = root;
    this.state = state;
    this.flags = flags;
    this.code = code;
    this.steps = root.querySelector("ol.steps");
    this.steps.replaceChildren(...STEPS.map(([key, text]) => el("li", { dataset: { step: key }, text })));
    this.counts = root.querySelector(".platform-counts");
    this.status = root.querySelector(".push-status");
    root.querySelector("button[name=push-setup]").addEventListener("click", () => this._setup());
    root.querySelector("form.push-notify").addEventListener("submit", (event) => {
      event.preventDefault();
      this._publish(new FormData(event.target));
    });
    flags.push = { steps: STEPS.map(() => false), counts: { GCM: 0, APNS: 0 }, devices: 0, on: 0, available: false };
  }

  /** Ask whether the class's scenario has mobile push (after a load or a scenario change). */
  async check() {
    const result = await call("GET", path`/api/classroom/sessions/${this.code}/push`);
    const available = result.ok && result.data.available;
    this.root.hidden = !available;
    this.flags.push.available = available;
    this.update();
  }

  update() {
    if (this.root.hidden) return;
    const t = this.state.topology || { topics: [], subscriptions: [] };
    const apps = t.applications || [];
    const endpoints = t.endpoints || [];
    const pushSubs = t.subscriptions.filter((s) => s.protocol === "application");
    const counts = { GCM: 0, APNS: 0 };
    for (const [key, n] of this.state.counters || []) {
      if (key.startsWith("in:") && key.includes(":endpoint/")) {
        const platform = platformOf(key.slice(3));
        counts[platform] = (counts[platform] || 0) + n;
      }
    }
    const published = t.topics.reduce((a, topic) => a + this.state.count(`pub:${topic.arn}`), 0);
    const done = {
      credentials: apps.length > 0, applications: apps.length > 0, tokens: endpoints.length > 0,
      endpoints: endpoints.length > 0, topic: t.topics.length > 0, subscribed: pushSubs.length > 0,
      published: published > 0, delivered: counts.GCM + counts.APNS > 0,
    };
    let current = true;
    for (const li of this.steps.children) {
      const ok = done[li.dataset.step];
      li.classList.toggle("done", ok);
      li.classList.toggle("current", !ok && current);
      if (!ok) current = false;
    }
    const on = endpoints.filter((e) => e.enabled).length;
    this.counts.replaceChildren(
      ...Object.entries(counts).map(([p, n]) => el("span", { dataset: { platform: p } }, el("b", { text: String(n) }), ` ${PLATFORM_NAMES[p] || p}`)),
      el("span", { class: "muted", dataset: { devices: String(endpoints.length) }, text: `${on} of ${endpoints.length} devices on` }),
    );
    Object.assign(this.flags.push, { steps: STEPS.map(([key]) => done[key]), counts, devices: endpoints.length, on });
  }

  async _setup() {
    const result = await call("POST", path`/api/classroom/sessions/${this.code}/push/setup`);
    this.status.textContent = result.ok ? "Platform applications created." : result.error.message;
  }

  async _publish(form) {
    const result = await call("POST", path`/api/classroom/sessions/${this.code}/push/publish`, { title: form.get("title") || "", body: form.get("body") || "" });
    this.status.textContent = result.ok ? `Published ✓ (${result.data.message_id.slice(0, 8)})` : result.error.message;
    this.flags.push.lastPublish = result.ok ? result.data.message_id : null;
  }
}
