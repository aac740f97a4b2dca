// The message inspector: one message's journey (GET /api/traces/{id}), its body and
// attributes. It opens at once with the events this page saw live, then merges the
// stored trace, and keeps adding events while it is open. Bodies are text only.

import { api } from "./api.js";
import { arnName, el, prettyBody } from "./dom.js";
import { describe, TYPE_LABEL } from "./log.js";

const STORE_DELAY_MS = 1200; // the flow bus stores events every 0.5 s

export class Inspector {
  constructor(dialog, state) {
    this.dialog = dialog;
    this.state = state;
    this.traceId = null;
    this.events = new Map();
    this.timer = null;
    dialog.querySelector("button[name=close]").addEventListener("click", () => this.close());
    dialog.addEventListener("close", () => {
      this.traceId = null;
      clearTimeout(this.timer);
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) this.close(); // a click on the backdrop
    });
  }

  open(traceId) {
    clearTimeout(this.timer);
    this.traceId = traceId;
    this.events = new Map((this.state.traces.get(traceId) || []).map((e) => [e.seq, e]));
    this.dialog.querySelector(".inspector-id").textContent = traceId;
    this.status("");
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
    const seenLive = this.events.size > 0;
    this.timer = setTimeout(() => this.fetch(traceId, seenLive), seenLive ? STORE_DELAY_MS : 0);
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  async fetch(traceId, seenLive) {
    const result = await api.trace(traceId);
    if (traceId !== this.traceId) return;
    if (result.ok) {
      for (const e of result.data.events) this.events.set(e.seq, e);
      this.status("");
      this.render();
    } else if (!seenLive) {
      this.status(result.error.message);
    }
  }

  status(text) {
    const node = this.dialog.querySelector(".inspector-status");
    node.textContent = text;
    node.hidden = !text;
  }

  /** Live events: add those of the open trace. */
  onEvents(events) {
    if (!this.traceId) return;
    let added = false;
    for (const e of events) {
      if (e.trace_id === this.traceId && !this.events.has(e.seq)) {
        this.events.set(e.seq, e);
        added = true;
      }
    }
    if (added) this.render();
  }

  render() {
    const events = [...this.events.values()].sort((a, b) => a.seq - b.seq);
    const timeline = this.dialog.querySelector(".timeline");
    const start = events[0]?.ts;
    timeline.replaceChildren(...events.map((e) => el("li", { class: `ev ev-${e.type}`, dataset: { type: e.type } },
      el("span", { class: "elapsed", text: `+${Math.round((e.ts - start) * 1000)} ms` }),
      el("span", { class: "ev-type", text: TYPE_LABEL[e.type] || e.type, title: e.type }),
      el("span", { class: "ev-text", text: describe(e) }),
    )));
    if (!events.length) timeline.append(el("li", { class: "muted", text: "Loading the journey…" }));

    const published = events.find((e) => e.type === "published");
    const body = this.dialog.querySelector(".inspector-body");
    const meta = this.dialog.querySelector(".inspector-meta");
    const attrs = this.dialog.querySelector(".inspector-attrs");
    if (!published) {
      body.textContent = "";
      meta.replaceChildren();
      attrs.replaceChildren(el("p", { class: "muted", text: "Published before this page saw it." }));
      return;
    }
    const pretty = prettyBody(published.body);
    body.textContent = pretty.text;
    body.classList.toggle("json", pretty.json);
    const facts = [
      ["to", arnName(published.topic_arn || published.queue_arn)],
      ["subject", published.subject],
      ["group id", published.group_id],
      ["published by", published.source],
    ].filter(([, v]) => v);
    meta.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    const entries = Object.entries(published.attributes || {});
    attrs.replaceChildren(entries.length
      ? el("table", {},
          el("thead", {}, el("tr", {}, el("th", { text: "attribute" }), el("th", { text: "type" }), el("th", { text: "value" }))),
          el("tbody", {}, entries.map(([name, a]) => el("tr", {}, el("td", { text: name }), el("td", { text: a.Type }), el("td", {}, el("code", { text: a.Value }))))))
      : el("p", { class: "muted", text: "No message attributes." }));
  }
}
