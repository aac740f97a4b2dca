// The presenter view: the live diagram (the flow page's own modules), the scenario's
// explanation and controls, the join code, who joined, and what just happened, with
// participants' names. The only global is `window.flowdashPresenter`, flags for tests:
// {ready, connected, lastSeq, scenario, loaded, played, joined, working, errors,
// countsSince (the server's "counts since", epoch seconds)}.
// `?projector=1` (projector.css) is projector mode: larger text, workers grouped sooner,
// and the diagram never zoomed out so far that its smallest text is below 14 px.
// `?start=1` (from "Start and present") loads the class's scenario and plays it.

import { call, path } from "../api.js";
import { Diagram } from "../diagram.js";
import { el } from "../dom.js";
import { Motion } from "../motion.js";
import { FlowSocket, flowSocketUrl } from "../socket.js";
import { FlowState } from "../state.js";
import { Cards } from "../cards.js";
import { Feed } from "./feed.js";
import { PushPanel } from "./push_panel.js";
import { allowedRead, allowedRender, peopleRender } from "./roster.js";
import { eventInScope, scopeSnapshot, topologyHas } from "./scope.js";

const POLL_MS = 1500;
const TAP_SETTLE_MS = 2000; // the engine taps a new topic just after it sees it

const root = document.querySelector(".present");
const code = root.dataset.code;
const flags = {
  ready: false, connected: false, lastSeq: null, scenario: root.dataset.scenario || null,
  loaded: null, played: 0, joined: 0, working: 0, errors: [], countsSince: null,
};
window.flowdashPresenter = flags;

let prefix = root.dataset.prefix || "";
let session = null; // the last GET /api/classroom/sessions/{code}
let waitingToPlay = null; // {slug, loaded} between a load and its first play
let rawTopology = { topics: [], queues: [], subscriptions: [] };

const projector = root.dataset.projector === "1";
const state = new FlowState();
const diagram = new Diagram(root.querySelector(".diagram"), state, { select: (t) => diagram.select(t) }, { projector });
const motion = new Motion(diagram, diagram.layer, { inspect: () => {} });
const feed = new Feed(root.querySelector(".feed"), { shorten: (text) => (prefix ? text.replaceAll(prefix, "") : text) });
const cards = new Cards(root.querySelector(".cards"));
const status = root.querySelector(".present-status");
const pushPanel = new PushPanel(root.querySelector(".push-box"), state, flags, code);
let pushChecked; // the scenario whose push section was last looked for
const shortName = (name) => (prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name);

/** The diagram after a shape change, with names shown without the scenario's prefix
 * (the full name stays in the title); students see "billing", as the explanation says. */
function reshape() {
  diagram.setTopology();
  for (const name of root.querySelectorAll(".diagram .node .name")) {
    const node = name.closest(".node");
    const full = node.dataset.name || name.textContent;
    // A participant's worker is a person: "Ada", not "#Ada" like a simulated one.
    if (node.dataset.kind === "worker") {
      name.textContent = full.includes("#") ? shortName(full).replace(/#(\d+)$/, " #$1") : full;
    } else if (prefix && full.startsWith(prefix)) name.textContent = shortName(full);
  }
}

function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
  if (kind === "error") flags.errors.push(text);
}

async function api(method, url, body) {
  const result = await call(method, url, body);
  if (!result.ok) say(result.error.message, "error");
  return result;
}

// The live diagram ----------------------------------------------------------------------

const socket = new FlowSocket(flowSocketUrl(), {
  snapshot(snapshot, info) {
    rawTopology = snapshot.topology;
    state.applySnapshot(scopeSnapshot(snapshot, prefix), info);
    reshape();
    sinceRender(snapshot.counts_since);
    const seen = (info.missed ?? snapshot.recent ?? []).filter((e) => eventInScope(prefix, e));
    feed.add(seen);
    cards.add(seen);
    flags.lastSeq = socket.lastSeq;
    flags.ready = true;
    pushPanel.update();
    diagram.invalidate();
    playWhenVisible();
    controlsRender();
  },
  events(events, frame, info) {
    const workers = state.workers.size;
    state.applyEvents(events, frame, info);
    if (state.workers.size !== workers) reshape(); // a participant started working
    const mine = events.filter((e) => eventInScope(prefix, e));
    motion.feed(mine);
    feed.add(mine);
    cards.add(mine);
    pushPanel.update();
    flags.lastSeq = socket.lastSeq;
    diagram.invalidate();
  },
  state(name) {
    flags.connected = name === "live";
    const indicator = root.querySelector(".conn");
    indicator.dataset.state = name;
    indicator.querySelector(".conn-text").textContent = name === "live" ? "live" : `${name}…`;
  },
});

setInterval(() => state.sampleHistory(), 2000);
setInterval(() => diagram.invalidate(), 1000);

// Scenarios -----------------------------------------------------------------------------

const pick = root.querySelector("select[name=scenario]");

async function load() {
  const slug = pick.value;
  say(`Loading ${pick.selectedOptions[0].textContent}…`);
  const result = await api("POST", path`/api/classroom/sessions/${code}/scenario`, { slug });
  if (!result.ok) return;
  prefix = result.data.prefix;
  flags.scenario = slug;
  flags.loaded = slug;
  cards.clear();
  waitingToPlay = { slug, loaded: result.data, since: Date.now() };
  say("Loaded. Waiting for the diagram to show it, then playing…");
  await poll();
  socket.resync("scenario loaded");
}

function playWhenVisible() {
  if (!waitingToPlay || !topologyHas(rawTopology, waitingToPlay.loaded)) return;
  const { slug } = waitingToPlay;
  waitingToPlay = null;
  setTimeout(() => play(slug), TAP_SETTLE_MS);
}

async function play(slug = flags.scenario) {
  if (!slug) return;
  const result = await api("POST", path`/api/classroom/scenarios/${slug}/play`);
  if (!result.ok) return;
  flags.played += 1;
  say(`Playing: ${result.data.bursts} burst(s), ${result.data.sent.length} message(s) sent.`);
}

async function reset() {
  const slug = flags.scenario;
  if (!slug) return;
  const result = await api("POST", path`/api/classroom/scenarios/${slug}/reset`);
  if (!result.ok) return;
  waitingToPlay = null;
  cards.clear();
  const push = result.data.applications.length ? `, ${result.data.applications.length} platform application(s) and ${result.data.devices} device(s)` : "";
  say(`Reset: deleted ${result.data.topics.length} topic(s), ${result.data.queues.length} queue(s)${push}.`);
  socket.resync("scenario reset");
}

async function action(slug, index, label) {
  const result = await api("POST", path`/api/classroom/scenarios/${slug}/actions/${index}`);
  if (result.ok) say(result.data.message);
  else say(`${label}: ${result.error.message}`, "error");
}

async function workers(slug, queue, count) {
  const result = await api("PUT", path`/api/classroom/scenarios/${slug}/workers`, { queue, count });
  if (result.ok) say(`${count} simulated worker(s) on ${queue}.`);
}

// Class session -------------------------------------------------------------------------

async function poll() {
  const result = await call("GET", path`/api/classroom/sessions/${code}`);
  if (!result.ok) return;
  session = result.data;
  flags.joined = session.counts.joined;
  flags.working = session.counts.working;
  root.querySelector(".joined").textContent = String(session.counts.joined);
  root.querySelector(".working").textContent = String(session.counts.working);
  peopleRender(root.querySelector(".people-list"), session.participants, remove, shortName);
  feed.attribute(session.actions);
  const scenario = session.scenario;
  root.querySelector(".scenario-name").textContent = scenario ? scenario.name : "No scenario loaded";
  root.querySelector(".explanation").textContent = scenario ? scenario.explanation : "Pick a scenario and press Load.";
  if (scenario && !flags.scenario) flags.scenario = scenario.slug;
  if (scenario?.slug !== pushChecked) {
    pushChecked = scenario?.slug;
    pushPanel.check();
  }
  const lock = root.querySelector("button[name=lock]");
  lock.setAttribute("aria-pressed", String(session.publishing_locked));
  lock.textContent = session.publishing_locked ? "Unlock publishing" : "Lock publishing";
  const joining = root.querySelector("button[name=joining]");
  joining.setAttribute("aria-pressed", String(!session.joining_open));
  joining.textContent = session.joining_open ? "Close joining" : "Open joining";
  if (session.ended) {
    say("This class has ended.");
    for (const b of root.querySelectorAll(".class-controls button:not([name=fullscreen])")) b.disabled = true;
  }
  controlsRender();
}

let controlsKey = "";

function controlsRender() {
  if (!session) return;
  const scenario = session.scenario;
  const specs = state.specs || {};
  const queueArn = (short) => rawTopology.queues.find((q) => q.name === `${prefix}${short}`)?.arn;
  const key = JSON.stringify([scenario?.slug, scenario?.actions, Object.keys(scenario?.workers || {}).map((q) => specs[queueArn(q)]?.count), rawTopology.queues.length, rawTopology.topics.length, session.allowed]);
  if (key === controlsKey) return;
  controlsKey = key;
  const actions = root.querySelector(".scenario-actions");
  actions.replaceChildren(...(scenario?.actions || []).map((a) =>
    el("button", { type: "button", class: "secondary", dataset: { action: a.index }, text: a.label, on: { click: () => action(scenario.slug, a.index, a.label) } })));
  const controls = root.querySelector(".worker-controls");
  controls.replaceChildren(...Object.keys(scenario?.workers || {}).map((queue) => {
    const count = specs[queueArn(queue)]?.count ?? 0;
    return el("span", { class: "worker-control", dataset: { queue } },
      el("span", { text: `workers on ${queue}` }),
      el("button", { type: "button", class: "secondary", name: "fewer", text: "−", "aria-label": `Fewer workers on ${queue}`, disabled: count <= 0 || undefined, on: { click: () => workers(scenario.slug, queue, count - 1) } }),
      el("b", { text: String(count) }),
      el("button", { type: "button", class: "secondary", name: "more", text: "+", "aria-label": `More workers on ${queue}`, on: { click: () => workers(scenario.slug, queue, count + 1) } }),
    );
  }));
  allowedRender(root.querySelector(".allowed-form"), scopeSnapshot({ topology: rawTopology }, prefix).topology, session.allowed, shortName);
}

function sinceRender(since) {
  flags.countsSince = since ?? null;
  const node = root.querySelector(".since");
  node.textContent = `counts since ${state.countingSince.toTimeString().slice(0, 5)}`;
  node.title = "Counted by the server since it started or since the last reset: the same on every screen, and a reload keeps them.";
}

async function countersReset() {
  if (!window.confirm("Count again from zero on every screen?")) return;
  const result = await api("POST", "/api/counters/reset");
  if (result.ok) say("Counters reset.");
}

async function remove(participant) {
  const result = await api("POST", path`/api/classroom/sessions/${code}/participants/${participant.id}/remove`);
  if (result.ok) say(`Removed ${participant.name}.`);
  await poll();
}

async function flagsSet(body) {
  const result = await api("POST", path`/api/classroom/sessions/${code}/flags`, body);
  if (result.ok) await poll();
}

// Wiring --------------------------------------------------------------------------------

const on = (name, fn) => root.querySelector(`button[name=${name}]`).addEventListener("click", fn);
on("load", load);
on("play", () => play());
on("reset", reset);
on("reset-counters", countersReset);
on("lock", () => flagsSet({ publishing_locked: !session?.publishing_locked }));
on("joining", () => flagsSet({ joining_open: !session?.joining_open }));
on("end", async () => {
  if (!window.confirm("End the class? Participants can no longer take part.")) return;
  const result = await api("POST", path`/api/classroom/sessions/${code}/end`);
  if (result.ok) await poll();
});
on("fullscreen", () => (document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen()));
root.querySelector(".allowed-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await api("PUT", path`/api/classroom/sessions/${code}/allowed`, allowedRead(event.target));
  if (result.ok) {
    say("Saved what participants may use.");
    await poll();
  }
});

setInterval(() => {
  if (waitingToPlay && Date.now() - waitingToPlay.since > 3000) socket.resync("waiting for the scenario");
}, 1500);
setInterval(poll, POLL_MS);
poll();
socket.start();
if (new URLSearchParams(location.search).has("start")) {
  // "Start and present" with a scenario: load it (and play it) as the Load button does,
  // once; a reload of this page must not load it again.
  const url = new URL(location.href);
  url.searchParams.delete("start");
  history.replaceState(null, "", url);
  if (root.dataset.scenario) load();
}
