// Phones and inboxes: what SNS sent to people (SMS, email) and to HTTP endpoints, built
// from `delivered` events and the body of their `published` event. In embedded mode
// nothing leaves the machine; the cards show what would have arrived. Text only.
// Mobile push: one card per device, showing the last notification it received (its
// platform's payload, the event's `body`), updated in place.

import { el } from "./dom.js";
import { endpointAppArn } from "./push_layout.js";

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
      } else if (e.type === "delivered" && e.protocol === "application") {
        this._pushCard(e, this.published.get(e.trace_id));
      }
    }
  }

  _pushCard(delivery, published) {
    const [platform, app] = endpointAppArn(delivery.endpoint).split(":app/")[1].split("/");
    const body = delivery.body ?? (published ? published.body : "(message not seen)");
    const old = [...this.list.children].find((c) => c.dataset.endpoint === delivery.endpoint);
    old?.remove();
    const card = el("li", { class: "a2p-card a2p-push", dataset: { protocol: "application", trace: delivery.trace_id, endpoint: delivery.endpoint } },
      el("div", { class: "a2p-head", text: `Push to ${platform} device …${delivery.endpoint.slice(-8)} of ${app}` }),
      el("div", { class: "a2p-body", text: body }),
    );
    this.list.prepend(card);
    while (this.list.childElementCount > KEEP) this.list.lastElementChild.remove();
    this.root.hidden = false;
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
