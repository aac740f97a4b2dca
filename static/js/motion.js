// Messages in motion: one dot per copy of a message, moving topic -> queue -> worker.
//
// A dot moves by changing its CSS transform; the stylesheet's transition does the
// animation (house style: animate with classes and transitions). Events are queued as
// frames arrive and turned into steps once per animation frame. At high rates only a
// sample of messages gets a dot (a budget of new traces per second and at most MAX_DOTS
// at once); the counters and rates on the diagram still count every message.
//
// Reduced motion (the system's prefers-reduced-motion): dots never travel. Each one
// appears where it is, then at its next place, its state shown by its shape (the
// stylesheet also drops the transform transition). Where the page has a "Pause motion"
// button, the choice is remembered (localStorage) and, until one is made, motion starts
// paused under reduced motion. Pages without the button (the presenter) never pause.

import { moreId, workerId } from "./layout.js";
import { appId, deviceId, endpointAppArn, moreDevicesId } from "./push_layout.js";

const MAX_DOTS = 150;
const TRACES_PER_SECOND = 6;
const HOP_MS = 800;
const FAST_HOP_MS = 450;
const ABSORB_AFTER_MS = 250;
const FILTERED_LINGER_MS = 2600;
const HOLD_LIMIT_MS = 30_000;
const REDUCED_DWELL_MS = 500;
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)");
const MOTION_KEY = "flowdash.motion";

/** The remembered choice ("paused"/"running"), or none; storage may be refused. */
function storedChoice() {
  try {
    return localStorage.getItem(MOTION_KEY);
  } catch {
    return null;
  }
}

export class Motion {
  constructor(diagram, layer, { inspect }) {
    this.diagram = diagram;
    this.layer = layer;
    this.inspect = inspect;
    this.dots = new Map();
    this.pending = [];
    this.chosen = new Map(); // trace id -> animate it?
    this.tokens = TRACES_PER_SECOND;
    this.tokensAt = performance.now();
    this.frameNo = 0;
    this.running = false;
    this.reduced = REDUCED_MOTION.matches;
    REDUCED_MOTION.addEventListener("change", (event) => { this.reduced = event.matches; });
    this.button = document.querySelector("button[name=motion]");
    const choice = this.button ? storedChoice() : null;
    this._paused = this.button ? (choice ? choice === "paused" : this.reduced) : false;
    if (this.button) {
      this.button.setAttribute("aria-pressed", String(this._paused));
      this.button.textContent = this._paused ? "Resume motion" : "Pause motion";
    }
  }

  get paused() {
    return this._paused;
  }

  /** Pausing or resuming is the viewer's choice: remembered for the next visit. */
  set paused(value) {
    this._paused = Boolean(value);
    try {
      localStorage.setItem(MOTION_KEY, this._paused ? "paused" : "running");
    } catch {
      // storage refused (private mode): the choice lasts for this page only
    }
  }

  get active() {
    return this.dots.size;
  }

  /** Queue a frame's events; they become dots on the next animation frame. */
  feed(events) {
    if (this.paused || document.hidden) return; // a hidden tab would only fall behind
    for (const e of events) if (e.trace_id && e.type !== "depth") this.pending.push(e);
    if (this.pending.length > 2000) this.pending.splice(0, this.pending.length - 2000);
    this._run();
  }

  clear() {
    for (const dot of this.dots.values()) dot.el.remove();
    this.dots.clear();
    this.pending = [];
  }

  _run() {
    if (this.running) return;
    this.running = true;
    requestAnimationFrame((now) => this._tick(now));
  }

  _tick(now) {
    this.frameNo += 1;
    const events = this.pending;
    this.pending = [];
    for (const e of events) this._event(e, now);
    for (const dot of [...this.dots.values()]) this._advance(dot, now);
    if (this.dots.size || this.pending.length) requestAnimationFrame((t) => this._tick(t));
    else this.running = false;
  }

  _animate(trace, now) {
    if (this.chosen.has(trace)) return this.chosen.get(trace);
    this.tokens = Math.min(TRACES_PER_SECOND * 2, this.tokens + ((now - this.tokensAt) * TRACES_PER_SECOND) / 1000);
    this.tokensAt = now;
    const yes = this.dots.size < MAX_DOTS && this.tokens >= 1;
    if (yes) this.tokens -= 1;
    this.chosen.set(trace, yes);
    if (this.chosen.size > 4000) this.chosen.delete(this.chosen.keys().next().value);
    return yes;
  }

  _event(e, now) {
    if (!this._animate(e.trace_id, now)) return;
    const d = this.diagram;
    const hop = this.dots.size > 60 ? FAST_HOP_MS : HOP_MS;
    if (e.type === "published" && e.queue_arn && d.has(e.queue_arn)) {
      const to = d.anchor(e.queue_arn, null);
      const entry = { x: to.x - d.nodes.get(e.queue_arn).spec.w / 2, y: to.y };
      const dot = this._spawn(`${e.trace_id}|${e.queue_arn}`, e.trace_id, { x: entry.x - 90, y: entry.y });
      dot.steps.push(this._move(entry, hop), this._idle("absorb"));
    } else if (e.type === "delivered" && e.protocol === "application" && d.has(e.topic_arn) && d.has(appId(endpointAppArn(e.endpoint)))) {
      // Mobile push: topic → its platform application → the device (or "+N devices").
      const app = appId(endpointAppArn(e.endpoint));
      const device = [deviceId(e.endpoint), moreDevicesId(endpointAppArn(e.endpoint))].find((id) => d.has(id));
      const dot = this._spawn(`${e.trace_id}|${e.endpoint}`, e.trace_id, d.anchor(e.topic_arn, app));
      dot.steps.push(this._move(d.anchor(app, e.topic_arn), hop * 0.6));
      if (device) dot.steps.push(this._move(d.anchor(app, device), 120), this._move(d.anchor(device, app), hop * 0.6));
      dot.steps.push(this._idle("absorb"));
    } else if (e.type === "delivered" && d.has(e.topic_arn) && d.has(e.endpoint)) {
      const dot = this._spawn(`${e.trace_id}|${e.endpoint}`, e.trace_id, d.anchor(e.topic_arn, e.endpoint));
      dot.steps.push(this._move(d.anchor(e.endpoint, e.topic_arn), hop), this._idle("absorb"));
    } else if (e.type === "filtered" && d.has(e.topic_arn) && d.has(e.endpoint)) {
      const dot = this._spawn(`${e.trace_id}|${e.endpoint}|filtered`, e.trace_id, d.anchor(e.topic_arn, e.endpoint));
      dot.steps.push(
        this._move(d.along(e.topic_arn, e.endpoint, 0.3), hop * 0.6),
        this._class("filtered", `Filtered by the subscription's policy: ${e.reason}`),
        this._wait(FILTERED_LINGER_MS),
        this._idle("absorb"),
      );
    } else if (e.type === "received" && d.has(e.queue_arn)) {
      const target = d.has(workerId(e.worker)) ? workerId(e.worker) : d.has(moreId(e.queue_arn)) ? moreId(e.queue_arn) : null;
      if (!target) return;
      const exit = d.anchor(e.queue_arn, target);
      const key = `${e.trace_id}|${e.queue_arn}`;
      let dot = this.dots.get(key);
      if (dot && !dot.leaving) dot.steps.push(this._through(exit, 200));
      else dot = this._spawn(key, e.trace_id, exit);
      dot.steps.push(this._class("received", `received by ${e.worker} (receive ${e.receive_count})`), this._move(d.anchor(target, e.queue_arn), hop * 0.75), this._idle("hold"));
      dot.worker = target;
    } else if (e.type === "processed" || e.type === "failed") {
      const dot = this.dots.get(`${e.trace_id}|${e.queue_arn}`);
      if (!dot || dot.leaving) return;
      if (e.type === "processed") {
        dot.steps.push(this._class("done", `processed by ${e.worker} in ${e.duration_ms} ms`), this._wait(450), this._idle("absorb"));
      } else {
        const back = dot.worker ? d.anchor(e.queue_arn, dot.worker) : d.anchor(e.queue_arn, null);
        dot.steps.push(this._class("failed", `failed: ${e.reason}`), this._wait(200), this._move(back, hop * 0.75), this._idle("absorb"));
      }
    } else if (e.type === "dead_lettered" && d.has(e.queue_arn) && d.has(e.dead_letter_arn)) {
      const key = `${e.trace_id}|${e.dead_letter_arn}`;
      const dot = this._spawn(key, e.trace_id, d.anchor(e.queue_arn, e.dead_letter_arn));
      dot.steps.push(this._class("dead", `dead-lettered after ${e.receive_count} receives`), this._move(d.anchor(e.dead_letter_arn, e.queue_arn), hop), this._idle("absorb"));
    }
  }

  _spawn(key, trace, at) {
    const old = this.dots.get(key);
    if (old) this._remove(old);
    const el = document.createElement("span");
    el.className = "dot";
    el.setAttribute("role", "button");
    el.title = "a message: click to see its journey";
    el.dataset.trace = trace;
    el.addEventListener("click", () => this.inspect(trace));
    el.style.transitionDuration = "0ms";
    el.style.transform = position(at);
    this.layer.append(el);
    const dot = { key, trace, el, steps: [], busyUntil: 0, readyFrame: this.frameNo + 1, idle: null, idleSince: 0, leaving: false };
    this.dots.set(key, dot);
    return dot;
  }

  _advance(dot, now) {
    if (this.frameNo < dot.readyFrame || now < dot.busyUntil) return;
    while (dot.steps.length && now >= dot.busyUntil && !dot.leaving) {
      const step = dot.steps.shift();
      const ms = step(dot, now);
      dot.busyUntil = now + ms;
      if (ms > 0) return;
    }
    if (dot.leaving) {
      if (now >= dot.busyUntil) this._remove(dot);
      return;
    }
    if (!dot.idle) return;
    const waited = now - dot.idleSince;
    if ((dot.idle === "absorb" && waited >= ABSORB_AFTER_MS) || (dot.idle === "hold" && waited >= HOLD_LIMIT_MS)) {
      dot.leaving = true;
      dot.el.classList.add("fade");
      dot.busyUntil = now + 350;
    }
  }

  _remove(dot) {
    dot.el.remove();
    if (this.dots.get(dot.key) === dot) this.dots.delete(dot.key);
  }

  // Steps: each takes the dot and the time, and returns how long it lasts (ms).
  _move(to, ms) {
    return (dot) => {
      dot.idle = null;
      if (!to) return 0;
      dot.el.classList.remove("inside");
      if (this.reduced) { // no travel: the dot is at its next place at once
        dot.el.style.transitionDuration = "0ms, 300ms, 300ms";
        dot.el.style.transform = position(to);
        return REDUCED_DWELL_MS;
      }
      dot.el.style.transitionDuration = `${Math.round(ms)}ms, 300ms, 300ms`; // transform, opacity, colour
      dot.el.style.transform = position(to);
      return ms;
    };
  }

  /** Through the queue: hidden while it waits inside, out of the other side. */
  _through(to, ms) {
    return (dot) => {
      dot.idle = null;
      dot.el.classList.add("inside");
      dot.el.style.transitionDuration = "0ms";
      dot.el.style.transform = position(to);
      return ms;
    };
  }

  _class(name, title) {
    return (dot) => {
      dot.el.classList.add(name);
      if (title) dot.el.title = `${title} — click to see the journey`;
      return 0;
    };
  }

  _wait(ms) {
    return () => ms;
  }

  _idle(kind) {
    return (dot, now) => {
      dot.idle = kind;
      dot.idleSince = now;
      return 0;
    };
  }
}

function position(p) {
  return `translate(${p.x.toFixed(1)}px, ${p.y.toFixed(1)}px) translate(-50%, -50%)`;
}
