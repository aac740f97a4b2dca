// The side panel: act on what was clicked in the diagram. A topic: publish, burst,
// subscribe a queue. A queue: send, peek (a real ReceiveMessage), purge, workers. A
// subscription: edit and preview its filter policy. Plus creating topics and queues.

import { api } from "./api.js";
import { arnName, el, prettyBody } from "./dom.js";
import { apiForm, attributeEditor, clearErrors, field, number, orNull, selectOptions, showError } from "./formkit.js";
import { workerId } from "./layout.js";

const FAILURE_RATE_RANGE = "The failure rate is a percentage: from 0 to 100.";

export class Panels {
  constructor(root, state, { inspect, onClose }) {
    this.root = root;
    this.state = state;
    this.inspect = inspect;
    this.onClose = onClose;
    this.body = root.querySelector(".panel-body");
    this.title = root.querySelector(".panel-title");
    this.current = null;
    this.justSubscribed = new Set(); // "topic endpoint", until the topology shows them
    root.querySelector("button[name=close]").addEventListener("click", () => this.close());
  }

  open(target) {
    if (target.kind === "worker" || target.kind === "more") {
      const worker = [...this.state.workers.values()].find((w) => workerId(w.name) === target.id);
      const queueArn = worker?.queue_arn || target.id.replace(/^more:/, "");
      target = { kind: "queue", id: queueArn, focus: "workers" };
    }
    if (target.kind === "redrive") target = { kind: "queue", id: target.id.replace(/^redrive:/, "") };
    this.current = target;
    this.root.hidden = false;
    this.root.dataset.kind = target.kind;
    const build = { topic: this._topic, queue: this._queue, subscription: this._subscription, add: this._add, external: this._external }[target.kind];
    this.body.replaceChildren();
    if (build) build.call(this, target);
    if (target.focus) this.body.querySelector(`[data-section="${target.focus}"]`)?.scrollIntoView({ block: "start" });
    else this.body.scrollTop = 0;
  }

  close() {
    this.root.hidden = true;
    this.current = null;
    this.onClose();
  }

  /** After a resync: say so if the open resource went away; refresh its summary. */
  topologyChanged() {
    const t = this.current;
    if (!t || t.kind === "add" || t.kind === "external") return;
    const exists = { topic: this.state.topic(t.id), queue: this.state.queue(t.id), subscription: this.state.subscription(t.id) }[t.kind];
    if (!exists) {
      this.body.replaceChildren(el("p", { class: "warning", text: "This resource no longer exists." }));
      return;
    }
    if (t.kind === "topic") this._subscribeChoicesRefresh();
    this.refresh();
  }

  refresh() {
    const summary = this.body.querySelector(".panel-summary");
    if (!summary || !this.current) return;
    if (this.current.kind === "queue") summary.replaceChildren(...this._queueSummary(this.state.queue(this.current.id)));
  }

  _heading(kind, name, arn) {
    this.title.replaceChildren(el("span", { class: "kind", text: kind }), " ", el("span", { text: name }));
    return el("p", { class: "arn" }, el("code", { text: arn }));
  }

  // Topic ---------------------------------------------------------------------------

  _topic({ id }) {
    const topic = this.state.topic(id);
    if (!topic) return;
    this.body.append(this._heading("Topic", topic.name, topic.arn));
    const fifo = topic.fifo;
    const publish = apiForm({
      id: "publish-form", title: "Publish a message", submit: "Publish",
      children: [
        field("Subject", "subject", { help: "optional; email endpoints show it" }),
        field("Body", "body", { type: "textarea", rows: 4, placeholder: '{"order": 1}' }),
        attributeEditor(),
        fifo ? field("Message group id", "message_group_id", { help: "FIFO: messages of one group are delivered in order" }) : null,
        fifo ? field("Deduplication id", "deduplication_id", { help: "optional with content-based deduplication" }) : null,
      ],
      action: (v) => api.publish(id, {
        body: v.body, subject: orNull(v.subject), attributes: v.attributes,
        message_group_id: orNull(v.message_group_id ?? ""), deduplication_id: orNull(v.deduplication_id ?? ""),
      }),
      ok: (data) => ["Published ", this._traceLink(data.message_id), "."],
    });
    const burst = apiForm({
      id: "burst-form", title: "Burst", submit: "Start burst", className: "compact",
      children: [
        el("div", { class: "row" },
          field("Messages", "count", { type: "number", value: "20", min: 1, max: 10000 }),
          field("Per second", "rate", { type: "number", value: "5", min: 0.1, max: 1000, step: "any" })),
        field("Body template", "body_template", { value: "order {{n}}", help: "{{n}} is the message's number" }),
        fifo ? field("Message group id", "message_group_id") : null,
      ],
      action: (v) => api.burst(id, {
        count: number(v.count), rate: number(v.rate), body_template: v.body_template,
        message_group_id: orNull(v.message_group_id ?? ""),
      }),
      ok: (data) => `Sending ${data.accepted} messages in the background.`,
    });
    const subscribe = apiForm({
      id: "subscribe-form", title: "Subscribe a queue", submit: "Subscribe", className: "compact",
      children: [
        field("Queue", "endpoint", { type: "select", options: this._subscribeChoices(topic) }),
        field("Filter policy (JSON)", "filter_policy", { type: "textarea", rows: 2, placeholder: '{"kind": ["big"]}', help: "optional" }),
        field("Scope", "filter_policy_scope", { type: "select", options: [["MessageAttributes", "message attributes"], ["MessageBody", "message body"]] }),
        field("Raw message delivery", "raw_message_delivery", { type: "checkbox" }),
      ],
      action: (v) => api.subscribe({
        topic_arn: id, protocol: "sqs", endpoint: v.endpoint, filter_policy: orNull(v.filter_policy.trim()),
        filter_policy_scope: v.filter_policy_scope, raw_message_delivery: v.raw_message_delivery,
      }),
      ok: (data, form) => {
        this.justSubscribed.add(`${id} ${data.endpoint}`);
        this._subscribeChoicesRefresh();
        form.querySelector("[name=endpoint]").value = "";
        return `Subscribed ${arnName(data.endpoint)}.`;
      },
    });
    // Subscribing is what a class does first with a new topic: it comes first.
    this.body.append(subscribe, publish, burst, this._pageLink(`/topics/${encodeURIComponent(id)}/`, "Topic page (delete, other protocols)"));
  }

  /**
   * The queues a topic can be subscribed to (of its kind, SNS's rule), then those it
   * should not be, shown but disabled: queues subscribed already, and dead-letter queues
   * (their messages come from redrive, not from topics).
   */
  _subscribeChoices(topic) {
    const subscribed = new Set(this.state.topology.subscriptions
      .filter((s) => s.topic_arn === topic.arn && s.protocol === "sqs").map((s) => s.endpoint));
    for (const key of this.justSubscribed) {
      const endpoint = key.slice(topic.arn.length + 1);
      if (!key.startsWith(`${topic.arn} `)) continue;
      if (subscribed.has(endpoint)) this.justSubscribed.delete(key); // the topology caught up
      else subscribed.add(endpoint);
    }
    const deadLetter = new Set(this.state.topology.queues.map((q) => q.dead_letter_arn).filter(Boolean));
    const queues = this.state.topology.queues.filter((q) => q.fifo === topic.fifo)
      .sort((a, b) => a.name.localeCompare(b.name));
    const open = queues.filter((q) => !subscribed.has(q.arn) && !deadLetter.has(q.arn));
    const closed = queues.filter((q) => subscribed.has(q.arn) || deadLetter.has(q.arn));
    return [
      ["", open.length ? "— choose —" : "— every queue is subscribed —"],
      ...open.map((q) => [q.arn, q.name]),
      ...closed.map((q) => [q.arn, `${q.name} (${subscribed.has(q.arn) ? "subscribed already" : "dead-letter queue"})`, { disabled: true }]),
    ];
  }

  _subscribeChoicesRefresh() {
    const topic = this.current?.kind === "topic" ? this.state.topic(this.current.id) : null;
    const select = this.body.querySelector("#subscribe-form [name=endpoint]");
    if (!topic || !select) return;
    const choices = this._subscribeChoices(topic);
    const signature = JSON.stringify(choices);
    if (select.dataset.choices === signature) return; // an open list stays open
    select.dataset.choices = signature;
    const chosen = select.value;
    select.replaceChildren(...selectOptions(choices));
    select.value = chosen;
    if (select.selectedOptions[0]?.disabled || select.value !== chosen) select.value = "";
  }

  // Queue ---------------------------------------------------------------------------

  _queueSummary(queue) {
    if (!queue) return [];
    const d = this.state.depths.get(queue.arn) || queue.depth;
    const parts = [el("span", { class: "d-visible", text: `${d.visible} visible` }), " · ",
      el("span", { class: "d-inflight", text: `${d.in_flight} in flight` }), " · ",
      el("span", { class: "d-delayed", text: `${d.delayed} delayed` })];
    if (queue.dead_letter_arn) parts.push(el("br"), `Dead letters go to ${arnName(queue.dead_letter_arn)} after ${queue.max_receive_count} receives.`);
    return parts;
  }

  _queue({ id }) {
    const queue = this.state.queue(id);
    if (!queue) return;
    this.body.append(this._heading(queue.fifo ? "FIFO queue" : "Queue", queue.name, queue.arn),
      el("p", { class: "panel-summary" }, ...this._queueSummary(queue)));
    const spec = this.state.specs[id] || { count: 0, min_ms: 500, max_ms: 500, failure_rate: 0, poison_marker: "poison" };
    const workers = apiForm({
      id: "workers-form", title: "Workers", submit: "Apply", className: "compact",
      children: [
        el("p", { class: "helptext", text: "Simulated consumers: receive, process for a while, delete on success; a failure lets the message reappear after the visibility timeout." }),
        el("div", { class: "row" },
          field("Workers", "count", { type: "number", value: String(spec.count), min: 0, max: 50 }),
          field("Failure rate (%)", "failure_rate", { type: "number", value: String(Math.round(spec.failure_rate * 1000) / 10), min: 0, max: 100, step: 5 })),
        el("div", { class: "row" },
          field("Min ms", "min_ms", { type: "number", value: String(spec.min_ms), min: 0 }),
          field("Max ms", "max_ms", { type: "number", value: String(spec.max_ms), min: 0 })),
        field("Poison marker", "poison_marker", { value: spec.poison_marker, help: "a body containing it always fails" }),
      ],
      action: (v, form) => {
        // People type 30 for 30 %; the API takes a fraction.
        const percent = number(v.failure_rate);
        if (percent !== null && !(typeof percent === "number" && percent >= 0 && percent <= 100)) {
          showError(form, { field: "failure_rate", message: FAILURE_RATE_RANGE });
          return null;
        }
        return api.workersSet(id, {
          count: number(v.count), min_ms: number(v.min_ms), max_ms: number(v.max_ms),
          failure_rate: percent === null ? 0 : percent / 100, poison_marker: v.poison_marker,
        });
      },
      ok: (data) => `${data.count} worker${data.count === 1 ? "" : "s"} on ${queue.name}.`,
    });
    workers.dataset.section = "workers";
    const send = apiForm({
      id: "send-form", title: "Send a message", submit: "Send", className: "compact",
      children: [
        field("Body", "body", { type: "textarea", rows: 3 }),
        attributeEditor(),
        field("Delay (seconds)", "delay_seconds", { type: "number", min: 0, max: 900 }),
        queue.fifo ? field("Message group id", "message_group_id") : null,
        queue.fifo ? field("Deduplication id", "deduplication_id") : null,
      ],
      action: (v) => api.send(id, {
        body: v.body, attributes: v.attributes, delay_seconds: number(v.delay_seconds),
        message_group_id: orNull(v.message_group_id ?? ""), deduplication_id: orNull(v.deduplication_id ?? ""),
      }),
      ok: (data) => ["Sent ", this._traceLink(data.message_id), "."],
    });
    const burst = apiForm({
      id: "queue-burst-form", title: "Burst straight to the queue", submit: "Start burst", className: "compact",
      children: [
        el("div", { class: "row" },
          field("Messages", "count", { type: "number", value: "20", min: 1, max: 10000 }),
          field("Per second", "rate", { type: "number", value: "5", min: 0.1, max: 1000, step: "any" })),
        field("Body template", "body_template", { value: "job {{n}}", help: "{{n}} is the message's number" }),
        queue.fifo ? field("Message group id", "message_group_id") : null,
      ],
      action: (v) => api.queueBurst(id, {
        count: number(v.count), rate: number(v.rate), body_template: v.body_template,
        message_group_id: orNull(v.message_group_id ?? ""),
      }),
      ok: (data) => `Sending ${data.accepted} messages in the background.`,
    });
    const results = el("div", { class: "peek-results" });
    const peek = apiForm({
      id: "peek-form", title: "Peek (ReceiveMessage)", submit: "Receive messages", className: "compact",
      children: [
        el("p", { class: "warning", text: "This is a real ReceiveMessage, not a look: the messages are hidden from every consumer for the time below and their receive count rises, which can send them to the dead-letter queue sooner." }),
        el("div", { class: "row" },
          field("Messages", "max_messages", { type: "number", value: "5", min: 1, max: 10 }),
          field("Hide for (s)", "visibility_timeout", { type: "number", value: "30", min: 0, max: 43200 })),
      ],
      action: (v) => api.receive(id, { max_messages: number(v.max_messages), visibility_timeout: number(v.visibility_timeout), wait_seconds: 0 }),
      ok: (data) => {
        results.replaceChildren(...(data.length ? data.map((m) => this._received(id, m)) : [el("p", { class: "muted", text: "No messages were visible." })]));
        return `${data.length} message${data.length === 1 ? "" : "s"} received.`;
      },
    });
    peek.append(results);
    this.body.append(workers, send, burst, peek, this._purge(queue), this._pageLink(`/queues/${encodeURIComponent(id)}/`, "Queue page (delete, attributes)"));
  }

  _received(queueArn, m) {
    const shown = prettyBody(m.envelope ? m.envelope.message : m.body);
    const status = el("span", { class: "muted" });
    const act = (label, call, after) => el("button", {
      type: "button", class: "link", text: label,
      on: {
        click: async (event) => {
          const result = await call();
          event.target.closest(".message").classList.toggle("handled", result.ok);
          status.textContent = result.ok ? after : result.error.message;
        },
      },
    });
    return el("div", { class: "message" },
      el("div", { class: "message-head" },
        el("code", { text: m.message_id.slice(0, 8) }),
        ` receive count ${m.receive_count} `,
        m.envelope ? el("span", { class: "pill", text: `from ${arnName(m.envelope.topic_arn)}` }) : null),
      el("pre", { class: "body", text: shown.text }),
      el("div", { class: "message-actions" },
        act("delete", () => api.messageDelete(queueArn, m.receipt_handle), "deleted"), " · ",
        act("return to queue", () => api.messageRelease(queueArn, m.receipt_handle), "returned to the queue"), " ", status));
  }

  _purge(queue) {
    const confirmRow = el("div", { class: "confirm", hidden: true });
    const status = el("p", { class: "form-ok", role: "status", hidden: true });
    const ask = el("button", { type: "button", class: "danger", text: "Purge…" });
    const yes = el("button", { type: "button", class: "danger", text: `Delete every message in ${queue.name}` });
    const no = el("button", { type: "button", class: "secondary", text: "Cancel" });
    confirmRow.append(yes, " ", no);
    ask.addEventListener("click", () => { confirmRow.hidden = false; ask.hidden = true; });
    no.addEventListener("click", () => { confirmRow.hidden = true; ask.hidden = false; });
    yes.addEventListener("click", async () => {
      const result = await api.purge(queue.arn);
      confirmRow.hidden = true;
      ask.hidden = false;
      status.textContent = result.ok ? "Purged. (SQS allows one purge per queue a minute.)" : result.error.message;
      status.hidden = false;
    });
    return el("section", { class: "panel-form compact", dataset: { section: "purge" } }, el("h3", { text: "Purge" }), ask, confirmRow, status);
  }

  // Subscription --------------------------------------------------------------------

  _subscription({ id }) {
    const sub = this.state.subscription(id);
    if (!sub) return;
    this.body.append(
      this._heading("Subscription", `${arnName(sub.topic_arn)} → ${arnName(sub.endpoint)}`, sub.arn),
      el("p", { class: "panel-summary" }, `${sub.protocol}${sub.raw_message_delivery ? ", raw delivery" : ""}${sub.pending_confirmation ? ", pending confirmation" : ""}`),
    );
    const policy = sub.filter_policy ? prettyBody(sub.filter_policy).text : "";
    const preview = el("ol", { class: "preview" });
    const scopeOptions = [["MessageAttributes", "message attributes"], ["MessageBody", "message body"]];
    const form = apiForm({
      id: "policy-form", title: "Filter policy", submit: "Save policy",
      children: [
        field("Filter policy (JSON; empty = deliver everything)", "filter_policy", { type: "textarea", rows: 6, value: policy }),
        field("Scope", "filter_policy_scope", { type: "select", options: scopeOptions, value: sub.filter_policy_scope }),
        field("Raw message delivery", "raw_message_delivery", { type: "checkbox", value: sub.raw_message_delivery }),
      ],
      action: (v) => api.subscriptionUpdate(id, {
        filter_policy: orNull(v.filter_policy.trim()), filter_policy_scope: v.filter_policy_scope,
        raw_message_delivery: v.raw_message_delivery,
      }),
      ok: () => "Saved. New messages are filtered with it.",
    });
    form.querySelector("[name=filter_policy_scope]").value = sub.filter_policy_scope;
    const previewButton = el("button", { type: "button", class: "secondary", text: "Preview on recent messages" });
    form.querySelector(".form-actions").append(previewButton);
    previewButton.addEventListener("click", async () => {
      const text = form.querySelector("[name=filter_policy]").value.trim();
      const result = await api.subscriptionPreview(id, { filter_policy: text || "{}", filter_policy_scope: form.querySelector("[name=filter_policy_scope]").value });
      clearErrors(form);
      if (!result.ok) {
        showError(form, result.error);
        preview.replaceChildren();
        return;
      }
      preview.replaceChildren(...(result.data.length ? result.data.map((p) => el("li", { class: p.matched ? "match" : "nomatch" },
        el("span", { class: "verdict", text: p.matched ? "✓ accepted" : "✗ filtered" }), " ",
        el("code", { class: "preview-body", text: p.body.length > 120 ? `${p.body.slice(0, 120)}…` : p.body }),
        p.reason ? el("span", { class: "reason", text: ` — ${p.reason}` }) : null,
        " ", this._traceLink(p.trace_id, "journey"),
      )) : [el("li", { class: "muted", text: "No messages were published to this topic yet." })]));
    });
    this.body.append(form, el("section", { class: "panel-form compact" }, el("h3", { text: "Would it accept the last messages?" }), preview));
  }

  _external({ id }) {
    this._heading("Endpoint", id.replace(/^ext:/, ""), id);
    this.body.append(el("p", { class: "muted", text: "Flowdash does not watch deliveries to endpoints other than SQS queues." }));
  }

  // Create ------------------------------------------------------------------------

  _add() {
    this.title.replaceChildren(el("span", { text: "Add a topic or a queue" }));
    const topic = apiForm({
      id: "topic-create-form", title: "New topic", submit: "Create topic", className: "compact",
      children: [field("Name", "name", { help: "letters, digits, - and _; FIFO ends in .fifo" }), field("FIFO", "fifo", { type: "checkbox" })],
      action: (v) => api.topicCreate({ name: v.name.trim(), fifo: v.fifo }),
      ok: (data, form) => {
        form.querySelector("[name=name]").value = "";
        return `Topic ${data.name} created.`;
      },
    });
    const dlqs = this.state.topology.queues.map((q) => [q.arn, q.name]);
    const queue = apiForm({
      id: "queue-create-form", title: "New queue", submit: "Create queue", className: "compact",
      children: [
        field("Name", "name", { help: "letters, digits, - and _; FIFO ends in .fifo" }),
        field("FIFO", "fifo", { type: "checkbox" }),
        field("Visibility timeout (s)", "visibility_timeout", { type: "number", placeholder: "30", min: 0 }),
        field("Existing dead-letter queue", "dead_letter_queue_arn", { type: "select", options: [["", "— none —"], ...dlqs] }),
        field("…or create a dead-letter queue named", "new_dead_letter_queue"),
        field("maxReceiveCount", "max_receive_count", { type: "number", value: "3", min: 1, max: 1000 }),
      ],
      action: (v) => {
        const hasDlq = v.dead_letter_queue_arn || v.new_dead_letter_queue.trim();
        return api.queueCreate({
          name: v.name.trim(), fifo: v.fifo, visibility_timeout: number(v.visibility_timeout),
          dead_letter_queue_arn: orNull(v.dead_letter_queue_arn), new_dead_letter_queue: orNull(v.new_dead_letter_queue.trim()),
          max_receive_count: hasDlq ? number(v.max_receive_count) : null,
        });
      },
      ok: (data, form) => {
        form.querySelector("[name=name]").value = "";
        form.querySelector("[name=new_dead_letter_queue]").value = "";
        return `Queue ${data.name} created.`;
      },
    });
    this.body.append(topic, queue);
  }

  _traceLink(traceId, text) {
    return el("button", { type: "button", class: "link trace-link", text: text || traceId, on: { click: () => this.inspect(traceId) } });
  }

  _pageLink(href, text) {
    return el("p", { class: "page-link" }, el("a", { href, text }));
  }
}
