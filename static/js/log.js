// The live event log: newest first, filterable by resource and type, pausable.
// Entries are built with createElement/textContent only: bodies are untrusted.

import { arnName, el, formatTime } from "./dom.js";

const KEEP = 1000; // events kept for re-filtering
const SHOW = 250; // entries in the DOM
const TYPES = ["published", "delivered", "filtered", "received", "processed", "failed", "visibility_lapsed", "visibility_changed", "dead_lettered", "deduplicated", "expired", "resource_changed", "error", "depth"];
const PREVIEW = 80;
const RENDER_MS = 150;
const PER_RENDER = 30;

/** Short names for the narrow type column. */
export const TYPE_LABEL = { resource_changed: "changed", dead_lettered: "to DLQ", visibility_lapsed: "visible again", visibility_changed: "visibility", deduplicated: "duplicate" };
const typeLabel = (type) => TYPE_LABEL[type] || type;

function preview(body) {
  const flat = String(body ?? "").replace(/\s+/g, " ");
  return flat.length > PREVIEW ? `${flat.slice(0, PREVIEW)}…` : flat;
}

/** Subscriptions seen in any topology (arn -> {topic_arn, endpoint}), kept after they are
 * deleted: a subscription's ARN names its topic but not its endpoint. */
const subscriptionsSeen = new Map();

/** One line about an event, as text (never HTML). */
export function describe(e) {
  const n = arnName;
  switch (e.type) {
    case "published":
      return `${e.topic_arn ? `to ${n(e.topic_arn)}` : `straight to ${n(e.queue_arn)}`}${e.subject ? ` [${e.subject}]` : ""}${e.client && e.source !== "flowdash" ? ` by ${e.client}` : ""}: “${preview(e.body)}”`;
    case "delivered":
      return `${n(e.topic_arn)} → ${n(e.endpoint)}${e.basis === "observed" ? " (observed; AWS's rules say no)" : ""}${e.note ? ` — ${e.note}` : ""}`;
    case "filtered":
      return `${n(e.topic_arn)} ⊘ ${n(e.endpoint)}: ${e.reason}`;
    case "received":
      return `${n(e.queue_arn)} → ${e.worker} (receive ${e.receive_count})`;
    case "processed":
      return `${e.worker} done in ${e.duration_ms} ms`;
    case "failed":
      return `${e.worker}: ${e.reason} (receive ${e.receive_count})`;
    case "visibility_lapsed":
      return `${n(e.queue_arn)}: visible again after receive ${e.receive_count} (not deleted in time)`;
    case "visibility_changed":
      return `${n(e.queue_arn)}: ${e.worker} set visibility to ${e.timeout_seconds} s`;
    case "deduplicated":
      return `${n(e.queue_arn)}: duplicate dropped (deduplication id ${e.deduplication_id})`;
    case "expired":
      return `${n(e.queue_arn)}: expired unconsumed (retention period passed)`;
    case "dead_lettered":
      return `${n(e.queue_arn)} → ${n(e.dead_letter_arn)} after ${e.receive_count} receives`;
    case "depth":
      return `${n(e.queue_arn)}: ${e.visible} visible · ${e.in_flight} in flight · ${e.delayed} delayed`;
    case "resource_changed": {
      const sub = e.kind === "subscription" ? subscriptionsSeen.get(e.arn) : null;
      if (sub) {
        const to = String(sub.endpoint).startsWith("arn:") ? n(sub.endpoint) : sub.endpoint;
        return `${e.kind} ${e.action}: ${n(sub.topic_arn)} → ${to}`;
      }
      return `${e.kind} ${e.action}: ${n(e.arn)}`;
    }
    case "error":
      return `${e.source}: ${e.message}${e.resource ? ` (${n(e.resource)})` : ""}`;
    default:
      return e.type;
  }
}

function resources(e) {
  return [e.topic_arn, e.queue_arn, e.endpoint, e.dead_letter_arn, e.arn, e.resource, e.subscription_arn, e.worker].filter(Boolean);
}

export class EventLog {
  constructor(root, { inspect }) {
    this.root = root;
    this.inspect = inspect;
    this.list = root.querySelector(".log-list");
    this.resourceSelect = root.querySelector("select[name=resource]");
    this.typeSelect = root.querySelector("select[name=type]");
    this.pauseButton = root.querySelector("button[name=pause]");
    this.events = [];
    this.unrendered = [];
    this.held = 0;
    this.paused = false;
    this.frameRequested = false;
    for (const type of TYPES) this.typeSelect.append(el("option", { value: type, text: type.replace("_", " ") }));
    this.resourceSelect.addEventListener("change", () => this.rerender());
    this.typeSelect.addEventListener("change", () => this.rerender());
    this.pauseButton.addEventListener("click", () => this.setPaused(!this.paused));
  }

  setResources(topology, workers) {
    const learned = (topology.subscriptions ?? []).filter((sub) => !subscriptionsSeen.has(sub.arn));
    for (const sub of topology.subscriptions ?? []) subscriptionsSeen.set(sub.arn, sub);
    // "subscription created" usually arrives before the topology that holds it: name its
    // queue in the lines already shown.
    if (learned.length) this._redescribe(new Set(learned.map((sub) => sub.arn)));
    const current = this.resourceSelect.value;
    const options = [el("option", { value: "", text: "all resources" })];
    const group = (label, items) => {
      if (!items.length) return;
      const g = el("optgroup", { label });
      for (const [value, text] of items) g.append(el("option", { value, text }));
      options.push(g);
    };
    group("topics", topology.topics.map((t) => [t.arn, t.name]));
    group("queues", topology.queues.map((q) => [q.arn, q.name]));
    group("workers", [...workers].map((w) => [w.name, w.name]));
    this.resourceSelect.replaceChildren(...options);
    this.resourceSelect.value = current;
    if (this.resourceSelect.value !== current) this.resourceSelect.value = "";
  }

  _redescribe(arns) {
    const bySeq = new Map(this.events.filter((e) => arns.has(e.arn)).map((e) => [String(e.seq), e]));
    if (!bySeq.size) return;
    for (const item of this.list.querySelectorAll(".ev-resource_changed")) {
      const e = bySeq.get(item.dataset.seq);
      if (e) item.querySelector(".ev-text").textContent = describe(e);
    }
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    this.root.classList.toggle("paused", paused);
    if (!paused) {
      this.held = 0;
      this._schedule();
    }
    this._label();
  }

  add(events) {
    for (const e of events) {
      this.events.push(e);
      this.unrendered.push(e);
    }
    if (this.events.length > KEEP) this.events.splice(0, this.events.length - KEEP);
    if (this.unrendered.length > SHOW) this.unrendered.splice(0, this.unrendered.length - SHOW);
    if (this.paused) {
      this.held += events.filter((e) => this._matches(e)).length;
      this._label();
      return;
    }
    this._schedule();
  }

  rerender() {
    this.list.replaceChildren();
    this.unrendered = this.events.slice(-SHOW * 4);
    this._schedule();
  }

  _label() {
    this.pauseButton.textContent = this.paused ? `Resume${this.held ? ` (${this.held} new)` : ""}` : "Pause";
  }

  /** Render at most every RENDER_MS, in an animation frame. */
  _schedule() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    const wait = Math.max(0, RENDER_MS - (performance.now() - (this.renderedAt || 0)));
    setTimeout(() => requestAnimationFrame(() => {
      this.frameRequested = false;
      this.renderedAt = performance.now();
      if (!this.paused) this._render();
    }), wait);
  }

  _matches(e) {
    const type = this.typeSelect.value;
    if (type === "" && e.type === "depth") return false; // "messages" hides depth samples
    if (type && type !== "*" && e.type !== type) return false;
    const resource = this.resourceSelect.value;
    return !resource || resources(e).includes(resource);
  }

  _render() {
    const batch = this.unrendered.filter((e) => this._matches(e));
    this.unrendered = [];
    if (!batch.length) return;
    const fragment = document.createDocumentFragment();
    // Nobody reads hundreds of lines a second: show the newest, say how many were skipped
    // (they stay in memory for filtering; the diagram's counters include every one).
    const shown = batch.slice(-PER_RENDER);
    for (const e of shown.reverse()) fragment.append(this._entry(e));
    if (batch.length > shown.length) {
      fragment.append(el("li", { class: "ev ev-skipped", text: `… ${batch.length - shown.length} more events in this moment` }));
    }
    this.list.prepend(fragment);
    while (this.list.childElementCount > SHOW) this.list.lastElementChild.remove();
  }

  _entry(e) {
    const item = el("li", { class: `ev ev-${e.type}`, dataset: { seq: e.seq, type: e.type } },
      el("time", { text: formatTime(e.ts) }),
      el("span", { class: "ev-type", text: typeLabel(e.type), title: e.type }),
      el("span", { class: "ev-text", text: describe(e) }),
    );
    if (e.trace_id) {
      // The row stays a plain list item (a role on the <li> would empty the list for
      // assistive technology); its text is the keyboard's button.
      item.dataset.trace = e.trace_id;
      item.title = "Show this message's journey";
      const text = item.querySelector(".ev-text");
      text.tabIndex = 0;
      text.setAttribute("role", "button");
      const open = () => this.inspect(e.trace_id);
      item.addEventListener("click", open);
      text.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          open();
        }
      });
    }
    return item;
  }
}
