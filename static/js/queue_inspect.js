// The queue page: its messages a page at a time (GET /api/queues/<arn>/inspect with
// offset, limit and q), searchable by body and attribute, each with its state, in-flight
// or delay countdown, receive count against maxReceiveCount, send time and a link to its
// journey; live counts; the settings form (PATCH /api/queues/<arn>); DLQ redrive.
//
// Cheap by construction: one page is serialised, not the queue; polls stop while the tab
// is hidden and slow down when the server takes long (a deep queue on the embedded
// backend); the table is rebuilt only when its messages changed.
// Message content is untrusted: it only ever reaches the page via textContent.

import { call, path } from "./api.js";
import { clearErrors, showError } from "./formkit.js";

const root = document.querySelector("[data-inspector]");
const arn = root?.dataset.queue;
const NARROW = window.matchMedia("(max-width: 700px)");
const POLL_MS = 2000;
const POLL_MAX_MS = 15_000;
const DEPTH_POLL_MS = 5000;
const SEARCH_DELAY_MS = 250;
const BODY_CHARS = 300;

const numberFormat = new Intl.NumberFormat();
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const absoluteFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const STATE_TEXT = { visible: "visible", in_flight: "in flight", delayed: "delayed" };
const KIND_TEXT = {
  embedded: "read from the embedded server's memory: nothing is received or changed",
  localstack: "LocalStack's message view: nothing is received or changed",
  receive: "this backend cannot be looked into without receiving",
};

const flags = { ready: false, kind: root?.dataset.kind, count: 0, total: 0, matched: 0, offset: 0, query: "", loads: 0 };
window.flowdashInspector = flags;

let view = null;
let clockSkew = 0; // server now minus browser now, so countdowns use the server's clock
let shown = ""; // what the table shows, to skip rebuilding it when nothing changed
let offset = 0;
let query = "";
let limit = NARROW.matches ? 20 : Number(root?.dataset.pageSize) || 50;
let loading = false;
let reloadAfter = false;
let pollTimer = null;
let pollMs = POLL_MS;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const now = () => Date.now() + clockSkew;

function relative(ms) {
  const seconds = Math.round((ms - now()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relativeFormat.format(seconds, "second");
  if (abs < 3600) return relativeFormat.format(Math.round(seconds / 60), "minute");
  if (abs < 86_400) return relativeFormat.format(Math.round(seconds / 3600), "hour");
  return relativeFormat.format(Math.round(seconds / 86_400), "day");
}

/** When (epoch ms) an in-flight message reappears or a delayed one arrives; else null. */
function countdown(message) {
  if (message.state === "in_flight") return message.visible_at || null;
  if (message.state === "delayed") return message.delayed_until || null;
  return null;
}

function countdownText(at) {
  return at ? `${(Math.max(0, at - now()) / 1000).toFixed(1)} s` : "";
}

function timeCell(ms) {
  const cell = el("td", "sent");
  if (!ms) return cell;
  const time = el("time", "", relative(ms));
  time.dateTime = new Date(ms).toISOString();
  time.title = absoluteFormat.format(new Date(ms));
  time.dataset.ms = String(ms);
  cell.append(time);
  return cell;
}

function messageRow(message, max) {
  const row = el("tr", `m-${message.state}`);
  row.dataset.messageId = message.message_id;
  row.append(el("td", "state", STATE_TEXT[message.state] || message.state));

  const id = el("td", "id");
  const link = el("a", "trace-link", message.message_id.slice(0, 8));
  link.href = `/traces/${encodeURIComponent(message.trace_id)}/`;
  link.title = `Message ${message.message_id}: open its journey`;
  id.append(link);
  if (message.envelope) id.append(" ", el("span", "via", `via ${message.envelope.topic_arn.split(":").pop()}`));
  row.append(id);

  row.append(timeCell(message.sent_timestamp));
  const count = el("td", "receives", max ? `${message.receive_count} / ${max}` : String(message.receive_count));
  count.dataset.label = "receives";
  if (max && message.receive_count >= max) count.classList.add("last-chance");
  row.append(count);
  const at = countdown(message);
  const timer = el("td", "countdown", countdownText(at));
  timer.dataset.at = at ?? "";
  timer.dataset.label = message.state === "delayed" ? "arrives in" : "visible again in";
  row.append(timer);
  if (view.fifo) {
    const group = el("td", "group", message.group_id ?? "");
    group.dataset.label = "group";
    row.append(group);
  }
  const body = message.envelope ? message.envelope.message : message.body;
  const cell = el("td", "body");
  cell.append(el("div", "clamp", body.length > BODY_CHARS ? `${body.slice(0, BODY_CHARS)}…` : body));
  row.append(cell);
  return row;
}

function showCounts(counts) {
  for (const [state, n] of Object.entries(counts)) {
    const cell = document.querySelector(`[data-count="${state}"]`);
    if (cell) cell.textContent = numberFormat.format(n);
  }
}

function showRange() {
  const range = root.querySelector("[data-range]");
  const prev = root.querySelector('[data-page="prev"]');
  const next = root.querySelector('[data-page="next"]');
  const n = view.messages.length;
  const of = numberFormat.format(view.matched);
  if (view.kind === "receive") range.textContent = n ? `${n} received` : "";
  else if (!n) range.textContent = view.query ? `0 of ${numberFormat.format(view.total)}` : "";
  else {
    const span = `${numberFormat.format(view.offset + 1)}–${numberFormat.format(view.offset + n)}`;
    range.textContent = view.query ? `${span} of ${of} matching (${numberFormat.format(view.total)} in all)` : `${span} of ${of}`;
  }
  prev.disabled = view.offset === 0;
  next.disabled = view.kind === "receive" || view.offset + n >= view.matched;
}

function showEmpty() {
  const empty = root.querySelector("[data-empty]");
  const table = root.querySelector("table.messages");
  let text = "";
  if (!view.messages.length && view.kind !== "receive") {
    text = view.query ? `No message matches “${view.query}”.` : "This queue is empty. Send a message above, or publish to a topic it subscribes to.";
  }
  empty.textContent = text;
  empty.hidden = !text;
  table.hidden = !view.messages.length;
}

function render() {
  root.querySelector("[data-kind]").textContent = KIND_TEXT[view.kind] || "";
  const note = root.querySelector("[data-note]");
  note.textContent = view.note;
  note.hidden = !view.note || view.kind === "receive"; // the page states the receive note itself
  if (view.kind !== "receive") showCounts(view.counts);
  const signature = JSON.stringify([view.offset, view.query, view.messages.map((m) => [m.message_id, m.state, m.receive_count, m.visible_at, m.delayed_until])]);
  if (signature !== shown) {
    shown = signature;
    root.querySelector("tbody").replaceChildren(...view.messages.map((m) => messageRow(m, view.max_receive_count)));
    renderLanes();
  }
  showRange();
  showEmpty();
  Object.assign(flags, {
    ready: true, kind: view.kind, count: view.messages.length, total: view.total,
    matched: view.matched, offset: view.offset, query: view.query, loads: flags.loads + 1,
  });
}

function renderLanes() {
  const lanes = root.querySelector("[data-lanes]");
  lanes.replaceChildren();
  if (!view.fifo) return;
  const byId = new Map(view.messages.map((m) => [m.message_id, m]));
  for (const [group, ids] of Object.entries(view.lanes)) {
    const lane = el("div", "lane");
    const locked = view.locked_groups.includes(group);
    lane.append(el("strong", "", `group ${group}${locked ? " 🔒 locked (a message is in flight)" : ""}`));
    for (const id of ids) {
      const m = byId.get(id);
      const body = m.envelope ? m.envelope.message : m.body;
      lane.append(el("span", `chip m-${m.state}`, body.slice(0, 40)));
    }
    lanes.append(lane);
  }
}

function tick() {
  for (const cell of root.querySelectorAll("td.countdown")) {
    const at = Number(cell.dataset.at);
    if (at) cell.textContent = countdownText(at);
  }
}

function retime() {
  for (const time of root.querySelectorAll("td.sent time")) time.textContent = relative(Number(time.dataset.ms));
}

function remember() {
  const params = new URLSearchParams(location.search);
  query ? params.set("q", query) : params.delete("q");
  offset ? params.set("page", String(Math.floor(offset / limit) + 1)) : params.delete("page");
  const search = params.toString();
  history.replaceState(null, "", `${location.pathname}${search ? `?${search}` : ""}${location.hash}`);
}

/** Fetch the current page; calls that arrive while one is running make one more after it. */
async function load() {
  if (root.dataset.kind === "receive" && view) return; // never receives by itself
  if (loading) {
    reloadAfter = true;
    return;
  }
  loading = true;
  const started = performance.now();
  const error = root.querySelector("[data-error]");
  const params = new URLSearchParams({ offset: String(offset), limit: String(limit) });
  if (query) params.set("q", query);
  const result = await call("GET", `${path`/api/queues/${arn}/inspect`}?${params}`);
  const took = performance.now() - started;
  pollMs = Math.min(POLL_MAX_MS, Math.max(POLL_MS, took * 10));
  loading = false;
  if (result.ok) {
    view = result.data;
    clockSkew = view.now_ms - Date.now();
    if (!view.messages.length && view.offset > 0 && view.matched > 0) {
      offset = Math.floor((view.matched - 1) / limit) * limit; // the page emptied: show the last one
      remember();
      reloadAfter = true;
    } else render();
    error.textContent = "";
  } else {
    error.textContent = result.error.message;
  }
  if (reloadAfter) {
    reloadAfter = false;
    load();
  }
}

function poll() {
  clearTimeout(pollTimer);
  if (document.hidden) return; // visibilitychange starts it again
  const next = root.dataset.kind === "receive" ? depthRefresh : load;
  pollTimer = setTimeout(async () => {
    await next();
    poll();
  }, root.dataset.kind === "receive" ? DEPTH_POLL_MS : pollMs);
}

/** The queue's approximate counts from SQS itself (one GetQueueAttributes). */
async function depthRefresh() {
  const result = await call("GET", path`/api/queues/${arn}`);
  if (result.ok) showCounts(result.data.depth);
  return result;
}

function goTo(newOffset) {
  offset = Math.max(0, newOffset);
  remember();
  load();
}

async function receiveAndReturn() {
  const result = await call("POST", path`/api/queues/${arn}/receive-and-return`);
  if (!result.ok) {
    root.querySelector("[data-error]").textContent = result.error.message;
    return;
  }
  view = result.data;
  clockSkew = view.now_ms - Date.now();
  render();
  depthRefresh();
}

async function redrive(form) {
  const progress = form.querySelector("[data-progress]");
  const source = form.querySelector("select").value;
  let total = 0;
  progress.textContent = "moving…";
  for (;;) {
    const step = await call("POST", path`/api/queues/${arn}/redrive`, { source_arn: source, limit: 10 });
    if (!step.ok) {
      progress.textContent = `stopped after ${total}: ${step.error.message}`;
      break;
    }
    total += step.data.moved;
    progress.textContent = `${total} moved, ${step.data.remaining} left`;
    load();
    if (step.data.moved === 0 || step.data.remaining === 0) break;
  }
  depthRefresh();
  load();
}

// Settings -------------------------------------------------------------------------------

const SETTING_NAMES = { visibility_timeout: "visibility timeout", delay_seconds: "delay", retention_seconds: "retention period", max_receive_count: "maxReceiveCount" };

function settingsForm(form) {
  const done = form.querySelector(".form-ok");
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    done.hidden = true;
    const changes = {};
    for (const input of form.querySelectorAll("input[name]")) {
      const text = input.value.trim();
      if (text === "") {
        showError(form, { field: input.name, message: `Enter the ${SETTING_NAMES[input.name]} as a whole number.` });
        return;
      }
      if (text !== input.defaultValue) changes[input.name] = Number(text);
    }
    if (!Object.keys(changes).length) {
      done.textContent = "Nothing changed.";
      done.hidden = false;
      return;
    }
    button.disabled = true;
    const result = await call("PATCH", path`/api/queues/${arn}`, changes);
    button.disabled = false;
    if (!result.ok) {
      showError(form, result.error);
      return;
    }
    settingsShow(form, result.data);
    done.textContent = `Saved: ${Object.keys(changes).map((k) => SETTING_NAMES[k]).join(", ")}.`;
    done.hidden = false;
  });
}

function settingsShow(form, queue) {
  const values = {
    visibility_timeout: queue.attributes.VisibilityTimeout,
    delay_seconds: queue.attributes.DelaySeconds,
    retention_seconds: queue.attributes.MessageRetentionPeriod,
    max_receive_count: queue.max_receive_count,
  };
  for (const input of form.querySelectorAll("input[name]")) {
    if (values[input.name] === undefined || values[input.name] === null) continue;
    input.value = String(values[input.name]);
    input.defaultValue = input.value;
  }
  const max = document.querySelector("[data-max-receive]");
  if (max && queue.max_receive_count) max.textContent = `after ${queue.max_receive_count} receives`;
  const list = document.querySelector("[data-attributes]");
  if (list) {
    list.replaceChildren(...Object.entries(queue.attributes).flatMap(([k, v]) => {
      const dd = el("dd");
      dd.append(el("code", "", v));
      return [el("dt", "", k), dd];
    }));
  }
  showCounts(queue.depth);
  if (view && queue.max_receive_count !== view.max_receive_count) {
    view.max_receive_count = queue.max_receive_count;
    shown = "";
    render();
  }
}

// Start ----------------------------------------------------------------------------------

if (root) {
  const params = new URLSearchParams(location.search);
  query = (params.get("q") || "").trim();
  offset = Math.max(0, (Number(params.get("page")) || 1) - 1) * limit;
  const search = root.querySelector("[data-search]");
  const input = search.querySelector("input[name=q]");
  input.value = query;
  let searchTimer = null;
  const searchNow = () => {
    clearTimeout(searchTimer);
    if (input.value.trim() === query) return;
    query = input.value.trim();
    goTo(0);
  };
  input.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchNow, SEARCH_DELAY_MS);
  });
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    searchNow();
  });
  root.querySelector('[data-page="prev"]').addEventListener("click", () => goTo(offset - limit));
  root.querySelector('[data-page="next"]').addEventListener("click", () => goTo(offset + limit));
  root.querySelector("[data-receive-return]")?.addEventListener("click", receiveAndReturn);
  const redriveForm = document.querySelector("[data-redrive]");
  redriveForm?.addEventListener("submit", (event) => {
    event.preventDefault();
    redrive(redriveForm);
  });
  const settings = document.querySelector("[data-settings]");
  if (settings) settingsForm(settings);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    (root.dataset.kind === "receive" ? depthRefresh() : load()).then(poll);
  });

  if (root.dataset.kind === "receive") {
    view = { kind: "receive", fifo: false, messages: [], counts: {}, total: 0, matched: 0, offset: 0, query: "", note: "", lanes: {}, locked_groups: [], max_receive_count: null };
    render();
    poll();
  } else load().then(poll);
  setInterval(tick, 250);
  setInterval(retime, 15_000);
}
