// The participant's phone page: publish to what the class allows, or be a worker on a
// queue (receive one message, then Done or Fail). Everything goes through
// /api/classroom/me with the session cookie and the CSRF token. Message bodies are
// shown with textContent only. Test flags: window.flowdashParticipant =
// {ready, holding (message id or null), published, processed, failed, lastError, gone,
//  connected, notifications, notificationTimes, device}.
// Live updates come over the participant socket (/ws/class/, socket.js's reconnect and
// resync rules): the page's state when it changes, and push notifications (phone_push.js).

import { call } from "../api.js";
import { el } from "../dom.js";
import { FlowSocket } from "../socket.js";
import { PhonePush, guessPlatform } from "./phone_push.js";

const RETRY_MS = 2000;

const root = document.querySelector(".me");
const flags = { ready: false, holding: null, published: 0, processed: 0, failed: 0, lastError: null, gone: false };
window.flowdashParticipant = flags;

const $ = (selector) => root.querySelector(selector);
const publishForm = $(".publish-form");
const targetSelect = $("select[name=target]");
const queueSelect = $("select[name=queue]");
let view = null;
let waiting = null; // timer while asking for a message again and again

function show(node, text, kind = "info") {
  node.textContent = text;
  node.dataset.kind = kind;
  if (kind === "error") flags.lastError = text;
}

/** Refused because the class ended or we were removed: stop everything, say why. */
function gone(message) {
  flags.gone = true;
  clearTimeout(waiting);
  setTimeout(() => socket.stop()); // declared below; gone() runs only once it exists
  for (const card of root.querySelectorAll(".publish-card, .work-card")) card.hidden = true;
  show($(".me-status"), message, "error");
}

async function request(method, url, body, statusNode) {
  const result = await call(method, url, body);
  if (!result.ok) {
    if (["ClassEnded", "Removed", "NotJoined"].includes(result.error.code)) gone(result.error.message);
    else show(statusNode, result.error.message, "error");
  }
  return result;
}

function options(select, items, label) {
  const current = select.value;
  select.replaceChildren(...items.map((t) => el("option", { value: t.arn, text: label(t), dataset: { fifo: t.fifo ? "1" : "" } })));
  if (items.some((t) => t.arn === current)) select.value = current;
}

function render(data) {
  view = data;
  flags.ready = true;
  flags.published = data.counts.published;
  flags.processed = data.counts.processed;
  flags.failed = data.counts.failed;
  for (const [key, n] of Object.entries(data.counts)) root.querySelector(`[data-count=${key}]`).textContent = String(n);
  const scenario = $(".me-scenario");
  scenario.hidden = !data.scenario;
  if (data.scenario) {
    $(".me-scenario-name").textContent = `Now: ${data.scenario.name}`;
    $(".me-explanation").textContent = data.scenario.explanation;
  }
  options(targetSelect, data.targets, (t) => `${t.kind} ${t.label}`);
  options(queueSelect, data.work_queues, (q) => q.label);
  const publishButton = publishForm.querySelector("button[name=publish]");
  publishButton.disabled = data.class.publishing_locked || !data.targets.length;
  if (data.class.publishing_locked) show($(".publish-result"), "The instructor has paused publishing for now.");
  else if (!data.targets.length) show($(".publish-result"), "Nothing to publish to yet: wait for the instructor.");
  else if ($(".publish-result").dataset.kind === "info") show($(".publish-result"), "");
  groupRow();
  const receive = $("button[name=receive]");
  receive.disabled = !data.work_queues.length || Boolean(data.holding);
  $("button[name=stop]").hidden = !data.working;
  held(data.holding);
}

function groupRow() {
  const fifo = targetSelect.selectedOptions[0]?.dataset.fifo === "1";
  $(".group-row").hidden = !fifo;
}

function held(message) {
  flags.holding = message ? message.message_id : null;
  const card = $(".held");
  card.hidden = !message;
  if (!message) return;
  clearTimeout(waiting);
  waiting = null;
  $(".held-meta").textContent = `from ${message.queue} · receive #${message.receive_count} · you have 60 s`;
  $(".held-subject").textContent = message.subject || "";
  $(".held-body").textContent = message.body;
  const attrs = $(".held-attrs");
  attrs.replaceChildren(...Object.entries(message.attributes).flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
  show($(".work-status"), "");
}

async function refresh() {
  if (flags.gone) return;
  const result = await request("GET", "/api/classroom/me", undefined, $(".me-status"));
  if (result.ok) render(result.data);
}

publishForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(publishForm);
  const names = form.getAll("attr-name");
  const types = form.getAll("attr-type");
  const values = form.getAll("attr-value");
  const attributes = names
    .map((name, i) => ({ name: name.trim(), type: types[i], value: values[i] }))
    .filter((a) => a.name);
  const button = publishForm.querySelector("button[name=publish]");
  button.disabled = true;
  const result = await request("POST", "/api/classroom/me/publish", {
    target_arn: targetSelect.value, body: form.get("body"), attributes,
    message_group_id: form.get("group") || null,
  }, $(".publish-result"));
  button.disabled = false;
  if (result.ok) {
    show($(".publish-result"), `Sent ✓ (${result.data.message_id.slice(0, 8)})`, "ok");
    await refresh();
  }
});
targetSelect.addEventListener("change", groupRow);

async function receive() {
  if (flags.gone) return;
  const result = await request("POST", "/api/classroom/me/work/receive", { queue_arn: queueSelect.value }, $(".work-status"));
  if (!result.ok) return;
  render(result.data);
  if (!result.data.holding) {
    show($(".work-status"), "No message right now; asking again…");
    waiting = setTimeout(receive, RETRY_MS);
  }
}

async function finish(outcome) {
  const result = await request("POST", `/api/classroom/me/work/${outcome}`, undefined, $(".work-status"));
  if (result.ok) {
    render(result.data);
    show($(".work-status"), outcome === "done" ? "Done ✓ deleted from the queue." : "Failed: it goes back to the queue.");
  } else {
    await refresh();
  }
}

$("button[name=receive]").addEventListener("click", () => {
  clearTimeout(waiting);
  receive();
});
$("button[name=done]").addEventListener("click", () => finish("done"));
$("button[name=fail]").addEventListener("click", () => finish("fail"));
$("button[name=stop]").addEventListener("click", async () => {
  clearTimeout(waiting);
  waiting = null;
  const result = await request("POST", "/api/classroom/me/work/stop", undefined, $(".work-status"));
  if (result.ok) {
    render(result.data);
    show($(".work-status"), "Stopped.");
  }
});

const phone = new PhonePush($(".device-card"), flags, {
  onError: (error) => { if (["ClassEnded", "Removed", "NotJoined"].includes(error.code)) gone(error.message); },
});
$("select[name=platform]").value = guessPlatform();

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new FlowSocket(`${scheme}//${location.host}/ws/class/`, {
  snapshot(snapshot, info) {
    if (snapshot.me?.gone) return gone(snapshot.me.gone);
    render(snapshot.me);
    phone.update(snapshot.me, snapshot.device);
    // After a reconnect, what arrived meanwhile is news; at first load it is history.
    phone.add(info.missed ?? snapshot.recent ?? [], { fresh: Boolean(info.missed) });
  },
  events(events) {
    phone.add(events, { fresh: true });
  },
  state(name) {
    flags.connected = name === "live";
    if (name === "logged-out" && !flags.gone) gone("Your place in this class ended: join again.");
  },
});
// The page's state arrives outside the numbered stream ("me" frames): it replaces.
const receiveFrame = socket.receive.bind(socket);
socket.receive = (message) => {
  if (message.type !== "me") return receiveFrame(message);
  if (message.me?.gone) return gone(message.me.gone);
  render(message.me);
  phone.update(message.me, message.device);
};
socket.start();
