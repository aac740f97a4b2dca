// The queue page's live inspector: every message with its state, in-flight
// countdown and receive count against maxReceiveCount; FIFO lanes; DLQ redrive.
// Message content is untrusted: it only ever reaches the page via textContent.

const root = document.querySelector("[data-inspector]");

function csrf() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(data?.error?.message || `HTTP ${response.status}`);
  return data;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

let view = null;
let clockSkew = 0; // server now minus browser now, so countdowns use the server's clock

function countdown(message) {
  if (message.state !== "in_flight" || !message.visible_at) return "";
  const left = Math.max(0, message.visible_at - (Date.now() + clockSkew));
  return `${(left / 1000).toFixed(1)} s`;
}

function messageRow(message, max) {
  const row = el("tr", `m-${message.state}`);
  row.dataset.messageId = message.message_id;
  row.append(el("td", "state", message.state.replace("_", " ")));
  const count = el("td", "receives", max ? `${message.receive_count} / ${max}` : String(message.receive_count));
  if (max && message.receive_count >= max) count.classList.add("last-chance");
  row.append(count);
  const timer = el("td", "countdown", countdown(message));
  timer.dataset.visibleAt = message.visible_at ?? "";
  row.append(timer);
  row.append(el("td", "group", message.group_id ?? ""));
  const body = message.envelope ? message.envelope.message : message.body;
  row.append(el("td", "body", body.length > 200 ? `${body.slice(0, 200)}…` : body));
  return row;
}

function render() {
  const table = root.querySelector("tbody");
  const summary = root.querySelector("[data-summary]");
  const note = root.querySelector("[data-note]");
  const lanes = root.querySelector("[data-lanes]");
  root.querySelector("[data-kind]").textContent = {
    embedded: "read from the embedded server's memory: nothing is received or changed",
    localstack: "LocalStack's message view: nothing is received or changed",
    receive: "this backend cannot be looked into without receiving",
  }[view.kind];
  note.textContent = view.note;
  summary.textContent = `${view.counts.visible} visible · ${view.counts.in_flight} in flight · ${view.counts.delayed} delayed`;
  table.replaceChildren(...view.messages.map((m) => messageRow(m, view.max_receive_count)));
  lanes.replaceChildren();
  if (view.fifo) {
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
  window.flowdashInspector = { ready: true, kind: view.kind, count: view.messages.length };
}

function tick() {
  for (const cell of root.querySelectorAll("td.countdown")) {
    const visibleAt = Number(cell.dataset.visibleAt);
    if (!visibleAt) continue;
    const left = Math.max(0, visibleAt - (Date.now() + clockSkew));
    cell.textContent = `${(left / 1000).toFixed(1)} s`;
  }
}

async function refresh() {
  try {
    view = await call("GET", `/api/queues/${root.dataset.queue}/inspect`);
    clockSkew = view.now_ms - Date.now();
    render();
    root.querySelector("[data-error]").textContent = "";
  } catch (error) {
    root.querySelector("[data-error]").textContent = error.message;
  }
}

async function receiveAndReturn() {
  view = await call("POST", `/api/queues/${root.dataset.queue}/receive-and-return`);
  clockSkew = view.now_ms - Date.now();
  render();
}

async function redrive(form) {
  const progress = form.querySelector("[data-progress]");
  const source = form.querySelector("select").value;
  let total = 0;
  progress.textContent = "moving…";
  try {
    for (;;) {
      const step = await call("POST", `/api/queues/${root.dataset.queue}/redrive`, { source_arn: source, limit: 10 });
      total += step.moved;
      progress.textContent = `${total} moved, ${step.remaining} left`;
      if (step.moved === 0 || step.remaining === 0) break;
    }
  } catch (error) {
    progress.textContent = `stopped after ${total}: ${error.message}`;
  }
  refresh();
}

if (root) {
  refresh();
  if (root.dataset.kind !== "receive") setInterval(refresh, 1000);
  setInterval(tick, 100);
  root.querySelector("[data-receive-return]")?.addEventListener("click", receiveAndReturn);
  const form = document.querySelector("[data-redrive]");
  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    redrive(form);
  });
}
