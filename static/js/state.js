// What the page knows: the snapshot's state, moved forward by frames, plus counters and
// rates. Counters start from the snapshot's (the server counts since the engine started
// or since "reset counters"); rates are this page's own. No DOM here.
//
// Counters come from a frame's `counts`, which cover every event even when `events` is
// a sample. `counts` are keyed by resource (a queue, a topic), so per-subscription and
// per-worker numbers are split from the sampled events; at low rates frames are not
// sampled and those numbers are exact, and every snapshot resets workers to exact values.

const RATE_WINDOW_MS = 5000;
const HISTORY_POINTS = 180; // one a second: three minutes
const TRACE_CACHE = 400;

class Rates {
  constructor() {
    this.samples = new Map(); // key -> [[time, n], ...]
    this.startedAt = performance.now();
  }

  add(key, n, now = performance.now()) {
    if (!n) return;
    if (!this.samples.has(key)) this.samples.set(key, []);
    const list = this.samples.get(key);
    list.push([now, n]);
    while (list[0][0] < now - RATE_WINDOW_MS) list.shift(); // keys nobody reads stay small too
  }

  /** Events per second over the last five seconds (or since the page opened). */
  rate(key, now = performance.now()) {
    const list = this.samples.get(key);
    if (!list) return 0;
    while (list.length && list[0][0] < now - RATE_WINDOW_MS) list.shift();
    const total = list.reduce((sum, [, n]) => sum + n, 0);
    const window = Math.max(1000, Math.min(RATE_WINDOW_MS, now - this.startedAt));
    return (total * 1000) / window;
  }
}

/** Split `total` over keys in proportion to `weights` (a Map); equally when all are zero. */
export function distribute(total, weights, fallbackKeys) {
  const out = new Map();
  const keys = weights.size ? [...weights.keys()] : fallbackKeys;
  if (!keys.length || total <= 0) return out;
  const sum = [...weights.values()].reduce((a, b) => a + b, 0);
  let given = 0;
  keys.forEach((key, i) => {
    const share = i === keys.length - 1 ? total - given
      : Math.round(sum ? (total * (weights.get(key) || 0)) / sum : total / keys.length);
    given += share;
    if (share) out.set(key, share);
  });
  return out;
}

/** "type|resource" counts for a list of events, as the server builds them. */
export function countEvents(events) {
  const counts = {};
  for (const e of events) {
    const resource = e.endpoint || e.queue_arn || e.topic_arn || e.arn || e.resource || "";
    const key = `${e.type}|${resource}`;
    counts[key] = (counts[key] || 0) + 1;
  }
  return counts;
}

const isTopic = (arn) => arn.split(":")[2] === "sns";

export class FlowState {
  constructor() {
    this.topology = { topics: [], queues: [], subscriptions: [] };
    this.depths = new Map();
    this.workers = new Map(); // name -> {name, queue_arn, busy, processed, failed, holding}
    this.specs = {};
    this.producers = []; // classroom participants who published recently
    this.counters = new Map();
    this.rates = new Rates();
    this.history = new Map(); // queue arn -> [{visible, in_flight, delayed}]
    this.traces = new Map(); // trace id -> events seen live (newest traces last)
    this.countingSince = new Date();
    this.countsIncompleteAt = null;
    this.topologyKey = "";
  }

  bump(key, n) {
    if (!n) return;
    this.counters.set(key, (this.counters.get(key) || 0) + n);
    this.rates.add(key, n);
  }

  count(key) {
    return this.counters.get(key) || 0;
  }

  rate(key) {
    return this.rates.rate(key);
  }

  queue(arn) {
    return this.topology.queues.find((q) => q.arn === arn);
  }

  topic(arn) {
    return this.topology.topics.find((t) => t.arn === arn);
  }

  subscription(arn) {
    return this.topology.subscriptions.find((s) => s.arn === arn);
  }

  /** Replace everything the snapshot carries. Returns whether the diagram's shape changed. */
  applySnapshot(snapshot, { missed, complete }) {
    this.topology = snapshot.topology;
    this.depths = new Map(Object.entries(snapshot.depths || {}));
    for (const q of this.topology.queues) if (!this.depths.has(q.arn)) this.depths.set(q.arn, q.depth);
    this.workers = new Map(
      (snapshot.workers || []).map((w) => [w.name, { ...w, holding: w.busy ? 1 : 0 }]),
    );
    this.specs = snapshot.worker_specs || {};
    this.producers = snapshot.producers || [];
    if (snapshot.counts) {
      // The server's counters cover every event up to `last_seq`: replace ours with them
      // (frames after `last_seq` add to them), so a reload or a resync never double counts.
      this._countersFrom(snapshot);
      for (const e of missed ?? snapshot.recent ?? []) this._remember(e);
    } else if (missed) {
      // Events a gap or a reconnect skipped, as far as `recent` reaches: count them.
      this._count(countEvents(missed), missed, { workersExact: true });
      for (const e of missed) this._remember(e);
      if (!complete) this.countsIncompleteAt = new Date();
    } else {
      for (const e of snapshot.recent || []) this._remember(e);
    }
    const key = JSON.stringify([
      this.topology.topics.map((t) => t.arn),
      this.topology.queues.map((q) => [q.arn, q.dead_letter_arn]),
      this.topology.subscriptions.map((s) => [s.arn, s.endpoint, s.filter_policy, s.raw_message_delivery]),
      [...this.workers.keys()],
      this.producers.map((p) => [p.name, p.target_arn]),
      (this.topology.endpoints || []).map((e) => [e.arn, e.enabled, e.custom_user_data]),
    ]);
    const changed = key !== this.topologyKey;
    this.topologyKey = key;
    return changed;
  }

  /** Apply one frame's new events; returns whether worker membership changed. */
  applyEvents(events, frame, { trimmed }) {
    for (const e of events) {
      this._remember(e);
      if (e.type === "depth") {
        this.depths.set(e.queue_arn, { visible: e.visible, in_flight: e.in_flight, delayed: e.delayed });
      } else if (e.type === "received") {
        const w = this._worker(e);
        w.holding += 1;
        w.busy = true;
      }
    }
    // A sampled frame's `counts` cover every event; otherwise the events are all there.
    // (A sampled frame straddling a snapshot is counted from its sample: a rare undercount.)
    const counts = frame.sampled && !trimmed ? frame.counts : countEvents(events);
    this._count(counts, events, { workersExact: false });
  }

  /** Counters from a snapshot's `counts`, `subscription_counts` and `counts_since`. */
  _countersFrom(snapshot) {
    this.counters = new Map();
    const put = (key, n) => { if (n) this.counters.set(key, (this.counters.get(key) || 0) + n); };
    for (const [key, n] of Object.entries(snapshot.counts)) {
      const bar = key.indexOf("|");
      const type = key.slice(0, bar);
      const arn = key.slice(bar + 1);
      if (type === "published") put(isTopic(arn) ? `pub:${arn}` : `in:${arn}`, n);
      else if (type === "delivered") put(`in:${arn}`, n);
      else if (type === "received") put(`recv:${arn}`, n);
      else if (type === "processed") put(`done:${arn}`, n);
      else if (type === "failed") put(`fail:${arn}`, n);
      else if (type === "dead_lettered") {
        put(`dlq:${arn}`, n);
        const q = this.queue(arn);
        if (q?.dead_letter_arn) put(`in:${q.dead_letter_arn}`, n);
      }
    }
    for (const [sub, c] of Object.entries(snapshot.subscription_counts || {})) {
      put(`sub:${sub}`, c.delivered);
      put(`subf:${sub}`, c.filtered);
    }
    if (snapshot.counts_since) this.countingSince = new Date(snapshot.counts_since * 1000);
    this.countsIncompleteAt = null;
  }

  _worker(e) {
    if (!this.workers.has(e.worker)) {
      this.workers.set(e.worker, { name: e.worker, queue_arn: e.queue_arn, busy: false, processed: 0, failed: 0, holding: 0 });
    }
    return this.workers.get(e.worker);
  }

  _count(counts, events, { workersExact }) {
    // Per-subscription and per-worker detail from the events we have.
    const bySub = { delivered: new Map(), filtered: new Map() }; // endpoint -> Map(sub -> n)
    const byWorker = { received: new Map(), processed: new Map(), failed: new Map() }; // queue -> Map(name -> n)
    const tally = (table, outer, inner) => {
      if (!table.has(outer)) table.set(outer, new Map());
      const m = table.get(outer);
      m.set(inner, (m.get(inner) || 0) + 1);
    };
    for (const e of events) {
      if (e.type === "delivered" || e.type === "filtered") tally(bySub[e.type], e.endpoint, e.subscription_arn);
      else if (e.type in byWorker && e.worker) tally(byWorker[e.type], e.queue_arn, e.worker);
    }
    for (const [key, n] of Object.entries(counts)) {
      const bar = key.indexOf("|");
      const type = key.slice(0, bar);
      const arn = key.slice(bar + 1);
      if (type === "published") this.bump(isTopic(arn) ? `pub:${arn}` : `in:${arn}`, n);
      else if (type === "delivered" || type === "filtered") {
        if (type === "delivered") this.bump(`in:${arn}`, n);
        const subs = this.topology.subscriptions.filter((s) => s.endpoint === arn).map((s) => s.arn);
        const split = distribute(n, bySub[type].get(arn) || new Map(), subs);
        for (const [sub, share] of split) this.bump(`${type === "delivered" ? "sub" : "subf"}:${sub}`, share);
      } else if (type === "received" || type === "processed" || type === "failed") {
        const short = { received: "recv", processed: "done", failed: "fail" }[type];
        this.bump(`${short}:${arn}`, n);
        const names = [...this.workers.values()].filter((w) => w.queue_arn === arn).map((w) => w.name);
        const split = distribute(n, byWorker[type].get(arn) || new Map(), names);
        for (const [name, share] of split) {
          this.rates.add(`w${short}:${name}`, share);
          const w = this.workers.get(name);
          // A snapshot's worker numbers already include the events it missed.
          if (!w || type === "received" || workersExact) continue;
          w[type] += share;
          w.holding = Math.max(0, w.holding - share);
          w.busy = w.holding > 0;
        }
      } else if (type === "dead_lettered") {
        this.bump(`dlq:${arn}`, n);
        const q = this.queue(arn);
        if (q?.dead_letter_arn) this.bump(`in:${q.dead_letter_arn}`, n);
      }
    }
  }

  _remember(e) {
    if (!e.trace_id) return;
    let list = this.traces.get(e.trace_id);
    if (!list) {
      list = [];
      this.traces.set(e.trace_id, list);
      if (this.traces.size > TRACE_CACHE) this.traces.delete(this.traces.keys().next().value);
    }
    if (!list.some((x) => x.seq === e.seq)) list.push(e);
  }

  /** Called every second: one point of each queue's depth history. */
  sampleHistory() {
    for (const q of this.topology.queues) {
      const d = this.depths.get(q.arn) || { visible: 0, in_flight: 0, delayed: 0 };
      if (!this.history.has(q.arn)) this.history.set(q.arn, []);
      const list = this.history.get(q.arn);
      list.push({ ...d });
      if (list.length > HISTORY_POINTS) list.shift();
    }
  }
}
