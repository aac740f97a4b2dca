// Phones and inboxes: what SNS sent to people (SMS, email) and to HTTP endpoints, built
// from `delivered` events and the body of their `published` event. In embedded mode
// nothing leaves the machine; the cards show what would have arrived. Text only.

import { el } from "./dom.js";

const PROTOCOLS = { sms: "sms", email: "email", "email-json": "email", http: "http", https: "http" };
const KEEP = 8;

export class Cards {
  constructor(root) {
    this.root = root;
    this.list = root.querySelector(".card-list");
    this.published = new Map(); // trace id -> published event (bounded)
  }

  clear() {
    this.list.replaceChildren();
    this.root.hidden = true;
  }

  add(events) {
    for (const e of events) {
      if (e.type === "published") {
        this.published.set(e.trace_id, e);
        if (this.published.size > 200) this.published.delete(this.published.keys().next().value);
      } else if (e.type === "delivered" && PROTOCOLS[e.protocol]) {
        this._card(e, this.published.get(e.trace_id));
      }
    }
  }

  _card(delivery, published) {
    const kind = PROTOCOLS[delivery.protocol];
    const head = { sms: `SMS to ${delivery.endpoint}`, email: `Email to ${delivery.endpoint}`, http: `POST ${delivery.endpoint}` }[kind];
    const card = el("li", { class: `a2p-card a2p-${kind}`, dataset: { protocol: delivery.protocol, trace: delivery.trace_id } },
      el("div", { class: "a2p-head", text: head }),
      kind === "email" && published?.subject ? el("div", { class: "a2p-subject", text: published.subject }) : null,
      el("div", { class: "a2p-body", text: published ? published.body : "(message not seen)" }),
    );
    this.list.prepend(card);
    while (this.list.childElementCount > KEEP) this.list.lastElementChild.remove();
    this.root.hidden = false;
  }
}
