// The flow page: wires the socket to the state, the diagram, the dots, the log, the
// inspector and the side panel. The only global is `window.flowdash`, the flags that
// browser tests and bench/browser.py wait on and read: {state, states (every state so
// far), ready, lastSeq, dots}. Under automation only (navigator.webdriver), the hooks
// the tests drive the socket with are added from test_hooks.js before the socket starts;
// no other browser loads that module.

import { call } from "./api.js";
import { Cards } from "./cards.js";
import { Diagram } from "./diagram.js";
import { Inspector } from "./inspector.js";
import { EventLog } from "./log.js";
import { Motion } from "./motion.js";
import { Panels } from "./panels.js";
import { FlowSocket, flowSocketUrl } from "./socket.js";
import { FlowState } from "./state.js";

const page = document.querySelector(".flow-page");
const state = new FlowState();
const flags = { state: "connecting", states: [], ready: false, lastSeq: null, dots: 0 };
window.flowdash = flags;

const inspector = new Inspector(document.querySelector("dialog.trace-inspector"), state);
const inspect = (traceId) => inspector.open(traceId);
const panels = new Panels(page.querySelector(".panel"), state, {
  inspect,
  onClose: () => diagram.select(null),
});
const select = (target) => {
  diagram.select(target);
  panels.open(target);
};
const diagram = new Diagram(page.querySelector(".diagram"), state, { select }, { stackWhenNarrow: true });
const motion = new Motion(diagram, diagram.layer, { inspect });
const log = new EventLog(page.querySelector(".log"), { inspect });
const cards = new Cards(page.querySelector(".outbox"));

const indicator = page.querySelector(".conn");
const STATE_TEXT = {
  connecting: "connecting…",
  live: "live",
  resyncing: "resyncing…",
  reconnecting: "reconnecting…",
  "logged-out": "logged out",
};

function showState(name, detail) {
  flags.state = name;
  flags.states.push(name);
  indicator.dataset.state = name;
  const text = indicator.querySelector(".conn-text");
  text.textContent = STATE_TEXT[name] || name;
  if (name === "reconnecting" && detail?.retryInMs) {
    indicator.title = `The connection dropped; trying again in ${(detail.retryInMs / 1000).toFixed(1)} s (attempt ${detail.attempt}).`;
  } else if (name === "resyncing") {
    indicator.title = detail === "gap" ? "Some updates were lost on the way; fetching the whole state again." : "Something changed; fetching the new layout.";
  } else if (name === "logged-out") {
    indicator.title = "Your session ended.";
    text.replaceChildren("logged out — ");
    const link = document.createElement("a");
    link.href = `/login/?next=${encodeURIComponent(location.pathname)}`;
    link.textContent = "log in";
    text.append(link);
  } else {
    indicator.title = "Connected: the diagram shows what happens as it happens.";
  }
}

function showSince() {
  const since = page.querySelector(".since");
  const hhmm = (d) => d.toTimeString().slice(0, 5);
  since.textContent = `counts since ${hhmm(state.countingSince)}${state.countsIncompleteAt ? ` (some missed at ${hhmm(state.countsIncompleteAt)})` : ""}`;
}

const socket = new FlowSocket(flowSocketUrl(), {
  snapshot(snapshot, info) {
    const changed = state.applySnapshot(snapshot, info);
    if (changed || !flags.ready) {
      diagram.setTopology();
      log.setResources(state.topology, state.workers.values());
      panels.topologyChanged();
    } else panels.refresh();
    log.add(info.missed ?? snapshot.recent ?? []);
    if (!info.missed) cards.clear(); // a fresh snapshot: rebuild from its recent events
    cards.add(info.missed ?? snapshot.recent ?? []);
    flags.lastSeq = socket.lastSeq;
    flags.ready = true;
    showSince();
    diagram.invalidate();
  },
  events(events, frame, info) {
    state.applyEvents(events, frame, info);
    motion.feed(events);
    log.add(events);
    cards.add(events);
    inspector.onEvents(events);
    if (events.some((e) => e.type === "depth")) panels.refresh();
    flags.lastSeq = socket.lastSeq;
    diagram.invalidate();
  },
  state: showState,
});

page.querySelector("button[name=fit]").addEventListener("click", () => diagram.fit());
// Staff only (the template leaves the button out for others; the API refuses them too).
// The reset happens on the engine: every viewer, this one included, resyncs and shows
// the new "counts since", so success needs no word here; a refusal does.
const resetButton = page.querySelector("button[name=reset-counters]");
resetButton?.addEventListener("click", async () => {
  if (!window.confirm("Count again from zero on every screen?")) return;
  const status = page.querySelector(".counters-status");
  status.textContent = "";
  const result = await call("POST", "/api/counters/reset");
  status.textContent = result.ok ? "Counters reset." : `Counters not reset: ${result.error.message}`;
});
page.querySelector("button[name=add]").addEventListener("click", () => select({ kind: "add", id: "add" }));
const motionButton = page.querySelector("button[name=motion]");
motionButton.addEventListener("click", () => {
  motion.paused = !motion.paused;
  if (motion.paused) motion.clear();
  motionButton.setAttribute("aria-pressed", String(motion.paused));
  motionButton.textContent = motion.paused ? "Resume motion" : "Pause motion";
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !inspector.dialog.open && !page.querySelector(".panel").hidden) panels.close();
});

setInterval(() => {
  flags.dots = motion.active;
  diagram.invalidate(); // rates decay even when nothing arrives
}, 1000);
setInterval(() => state.sampleHistory(), 1000);

showState("connecting");
if (navigator.webdriver) (await import("./test_hooks.js")).testHooksInstall(flags, socket);
socket.start();
