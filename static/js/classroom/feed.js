// The presenter's "what just happened": one large line per flow event, newest first, with
// the participant's name on what participants did. Text only (textContent): bodies are
// untrusted. Names come from the class's action list (`attribute`), which may arrive
// after the event, so lines are labelled again when it does.

import { el, formatTime } from "../dom.js";
import { describe } from "../log.js";

const SHOW = 150;
const SKIP = new Set(["depth"]);

export class Feed {
  /** @param {{shorten: (text: string) => string}} options  shortens resource names */
  constructor(root, { shorten }) {
    this.shorten = shorten;
    this.list = root.querySelector(".feed-list");
    this.names = new Map(); // trace id -> participant name
    this.pending = [];
    this.frameRequested = false;
  }

  /** @param {object[]} events flow events already scoped to the scenario */
  add(events) {
    for (const e of events) {
      // A student becoming a producer shows on the diagram; the feed has their publish.
      if (SKIP.has(e.type) || (e.type === "resource_changed" && e.kind === "producers")) continue;
      this.pending.push(e);
    }
    if (this.pending.length > SHOW) this.pending.splice(0, this.pending.length - SHOW);
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this._render();
    });
  }

  /** @param {{trace_id: string, name: string, kind: string}[]} actions */
  attribute(actions) {
    const fresh = [];
    for (const a of actions) {
      if ((a.kind === "published" || a.kind === "sent") && a.trace_id && !this.names.has(a.trace_id)) {
        this.names.set(a.trace_id, a.name);
        fresh.push(a.trace_id);
      }
    }
    for (const trace of fresh) {
      for (const item of this.list.querySelectorAll(`li[data-type="published"]`)) {
        if (item.dataset.trace === trace) this._label(item, this.names.get(trace));
      }
    }
  }

  _render() {
    const batch = this.pending;
    this.pending = [];
    const fragment = document.createDocumentFragment();
    for (const e of batch.reverse()) fragment.append(this._entry(e));
    this.list.prepend(fragment);
    while (this.list.childElementCount > SHOW) this.list.lastElementChild.remove();
  }

  _entry(e) {
    const item = el("li", { class: `ev ev-${e.type}`, dataset: { type: e.type, seq: e.seq } },
      el("time", { text: formatTime(e.ts) }),
      el("span", { class: "ev-type", text: e.type.replace("_", " ") }),
      el("span", { class: "who" }),
      el("span", { class: "ev-text", text: this.shorten(describe(e)) }),
    );
    if (e.trace_id) item.dataset.trace = e.trace_id;
    if (e.worker) item.dataset.worker = e.worker;
    if (e.type === "published" && this.names.has(e.trace_id)) this._label(item, this.names.get(e.trace_id));
    return item;
  }

  _label(item, name) {
    item.dataset.who = name;
    item.querySelector(".who").textContent = `${name}:`;
  }
}
