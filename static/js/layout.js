// Where each node goes: a column layout computed from the topology alone, so it is stable.
//
// Columns: producers | topics | queues | workers and dead-letter queues | workers of those
// DLQs. Producers (classroom participants who published) only appear when there are some.
// Within a column, order is by name; a queue's workers and its DLQ sit in the band
// beside it. Adding a queue moves only what sorts after it; nothing is random.

import { pushPlace } from "./push_layout.js";

export const SIZES = {
  topic: { w: 230, h: 80 },
  queue: { w: 270, h: 142 },
  worker: { w: 200, h: 66 },
  more: { w: 200, h: 50 },
  external: { w: 230, h: 56 },
  producer: { w: 200, h: 56 },
};
/** Projector mode's text is larger (projector.css): its cards are larger to hold it. */
export const PROJECTOR_SIZES = {
  topic: { w: 250, h: 84 },
  queue: { w: 320, h: 182 },
  worker: { w: 240, h: 78 },
  more: { w: 270, h: 86 },
  external: { w: 250, h: 62 },
  producer: { w: 250, h: 62 },
};
const PRODUCER_X = -400;
const COLUMN_X = [0, 460, 880, 1300, 1720];
const GAP = 26;
export const MAX_WORKER_NODES = 5;

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function workerId(name) {
  return `worker:${name}`;
}

export function producerId(name) {
  return `producer:${name}`;
}

export function moreId(queueArn) {
  return `more:${queueArn}`;
}

function externalId(sub) {
  return `ext:${sub.protocol}:${sub.endpoint}`;
}

/**
 * {nodes: [{id, kind, x, y, w, h, data}], edges: [{id, kind, source, target, data}]}
 * @param {{maxWorkerNodes?: number, sizes?: object}} options  projector mode groups workers
 *   sooner and has larger cards (PROJECTOR_SIZES)
 */
export function layoutCompute(topology, workers, producers = [], { maxWorkerNodes = MAX_WORKER_NODES, sizes = SIZES } = {}) {
  const queues = [...topology.queues].sort(byName);
  const queueByArn = new Map(queues.map((q) => [q.arn, q]));
  const nodes = [];
  const edges = [];
  const add = (kind, id, x, y, data, size = sizes[kind]) => {
    const node = { id, kind, x, y, w: size.w, h: size.h, data };
    nodes.push(node);
    return node;
  };

  // Dead-letter queues and the (alphabetically first) queue that redrives into each.
  const dlqParent = new Map();
  for (const q of queues) {
    if (q.dead_letter_arn && queueByArn.has(q.dead_letter_arn) && q.dead_letter_arn !== q.arn) {
      if (!dlqParent.has(q.dead_letter_arn)) dlqParent.set(q.dead_letter_arn, q.arn);
      edges.push({
        id: `redrive:${q.arn}`, kind: "redrive", source: q.arn, target: q.dead_letter_arn,
        data: { queue: q, maxReceiveCount: q.max_receive_count },
      });
    }
  }
  const workersByQueue = new Map();
  for (const w of [...workers].sort(byName)) {
    if (!queueByArn.has(w.queue_arn)) continue;
    if (!workersByQueue.has(w.queue_arn)) workersByQueue.set(w.queue_arn, []);
    workersByQueue.get(w.queue_arn).push(w);
  }

  const placed = new Set();
  // Lays out a queue and, to its right, its workers then its DLQ; returns the band's bottom.
  const band = (queue, column, top) => {
    placed.add(queue.arn);
    let y = top;
    const own = workersByQueue.get(queue.arn) || [];
    const shown = own.length > maxWorkerNodes ? own.slice(0, maxWorkerNodes - 1) : own;
    for (const w of shown) {
      const size = sizes.worker;
      add("worker", workerId(w.name), COLUMN_X[column + 1], y + size.h / 2, { worker: w });
      edges.push({ id: `work:${w.name}`, kind: "work", source: queue.arn, target: workerId(w.name), data: { worker: w } });
      y += size.h + GAP;
    }
    if (own.length > shown.length) {
      const rest = own.slice(shown.length);
      const size = sizes.more;
      add("more", moreId(queue.arn), COLUMN_X[column + 1], y + size.h / 2, { queueArn: queue.arn, workers: rest });
      edges.push({ id: `work-more:${queue.arn}`, kind: "work", source: queue.arn, target: moreId(queue.arn), data: { workers: rest } });
      y += size.h + GAP;
    }
    const dlqArn = queue.dead_letter_arn;
    if (dlqArn && dlqParent.get(dlqArn) === queue.arn && !placed.has(dlqArn) && column + 1 < COLUMN_X.length - 1) {
      if (y > top) y += GAP; // room for the redrive edge's label
      y = band(queueByArn.get(dlqArn), column + 1, y);
    }
    const size = sizes.queue;
    const bottom = Math.max(top + size.h + GAP, y);
    const centre = (top + bottom - GAP) / 2; // the middle of its band
    add("queue", queue.arn, COLUMN_X[column], centre, { queue, isDlq: dlqParent.has(queue.arn) });
    return bottom;
  };

  let cursor = 0;
  for (const q of queues) {
    if (placed.has(q.arn) || dlqParent.has(q.arn)) continue;
    cursor = band(q, 1, cursor);
  }
  // DLQs whose parent chain was too deep (or cyclic) still get a place.
  for (const q of queues) if (!placed.has(q.arn)) cursor = band(q, 1, cursor);

  // Subscriptions: to known queues, or to an external endpoint node.
  const centreOf = new Map(nodes.map((n) => [n.id, n.y]));
  for (const sub of [...topology.subscriptions].sort((a, b) => (a.arn < b.arn ? -1 : 1))) {
    if (sub.protocol === "application") continue; // devices: through their application, below
    let target = sub.protocol === "sqs" && queueByArn.has(sub.endpoint) ? sub.endpoint : null;
    if (!target) {
      target = externalId(sub);
      if (!centreOf.has(target)) {
        const size = sizes.external;
        add("external", target, COLUMN_X[1], cursor + size.h / 2, { protocol: sub.protocol, endpoint: sub.endpoint });
        centreOf.set(target, cursor + size.h / 2);
        cursor += size.h + GAP;
      }
    }
    edges.push({ id: sub.arn, kind: "subscription", source: sub.topic_arn, target, data: { sub } });
  }

  cursor = pushPlace(topology, { add, edges, centreOf, cursor, columnX: COLUMN_X, gap: GAP });

  // Topics: beside the middle of what they feed, in that order, never overlapping.
  const topics = [...topology.topics].sort(byName);
  const wanted = topics.map((t) => {
    const ys = edges.filter((e) => (e.kind === "subscription" || e.kind === "push") && e.source === t.arn).map((e) => centreOf.get(e.target));
    return { topic: t, y: ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : Infinity };
  });
  wanted.sort((a, b) => a.y - b.y || byName(a.topic, b.topic));
  let floor = -Infinity;
  let tail = cursor;
  for (const { topic, y } of wanted) {
    const h = sizes.topic.h;
    let centre = Number.isFinite(y) ? y : tail + h / 2;
    centre = Math.max(centre, floor + h / 2);
    add("topic", topic.arn, COLUMN_X[0], centre, { topic });
    floor = centre + h / 2 + GAP;
    tail = Math.max(tail, floor);
  }
  // Producers: left of the topics, each beside what it publishes to, never overlapping.
  const centres = new Map(nodes.map((n) => [n.id, n.y]));
  const wantedProducers = [...producers]
    .filter((p) => centres.has(p.target_arn))
    .map((p) => ({ p, y: centres.get(p.target_arn) }))
    .sort((a, b) => a.y - b.y || byName(a.p, b.p));
  let producerFloor = -Infinity;
  for (const { p, y } of wantedProducers) {
    const h = sizes.producer.h;
    const centre = Math.max(y, producerFloor + h / 2);
    add("producer", producerId(p.name), PRODUCER_X, centre, { producer: p });
    edges.push({ id: `publish:${p.name}`, kind: "publish", source: producerId(p.name), target: p.target_arn, data: { producer: p } });
    producerFloor = centre + h / 2 + GAP;
  }
  // An edge to a node that is not drawn (a subscription of an unknown topic) is left out.
  const ids = new Set(nodes.map((n) => n.id));
  return { nodes, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
}

/** The stacked layout's step to the right per level, and its room between two cards
 * (an edge's label sits in the gap above the card the edge leads into). */
export const STACK_INDENT = 20;
export const STACK_GAP = 36;
/** Stacked cards are widened to end at one right edge: a worker's full name fits, and
 * the outline reads as a list. 340 model px fit a 390 px phone at zoom 1. */
const STACK_WIDTH = 340;
/** Which roots come first; a kind not named here goes with the external endpoints. */
const STACK_ORDER = { producer: 0, topic: 1, queue: 2, external: 3 };

/**
 * A phone's layout: the same nodes and edges as `layoutCompute`, one card under the other
 * as an outline (a topic, then each queue it feeds, each followed by its workers and its
 * dead-letter queue, one indent further), so the diagram is as narrow as its widest card
 * plus a few indents and fits a 390 px screen at full size. Edges run down the left margin
 * (Diagram.stacked draws them there). Order follows the column layout, so it is stable.
 */
export function layoutStack(topology, workers, producers = [], options = {}) {
  const { nodes, edges } = layoutCompute(topology, workers, producers, options);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const columnY = new Map(nodes.map((n) => [n.id, n.y]));
  const children = new Map();
  for (const e of edges) {
    if (e.kind === "publish") continue; // producers sit above everything, as the roots
    if (!children.has(e.source)) children.set(e.source, []);
    children.get(e.source).push(e.target);
  }
  for (const list of children.values()) list.sort((a, b) => columnY.get(a) - columnY.get(b));
  const base = producers.length && nodes.some((n) => n.kind === "producer") ? 1 : 0;
  const placed = [];
  const seen = new Set();
  const visit = (id, depth) => {
    if (seen.has(id)) return;
    seen.add(id);
    placed.push({ node: byId.get(id), depth });
    for (const child of children.get(id) || []) visit(child, depth + 1);
  };
  const rank = (n) => STACK_ORDER[n.kind] ?? STACK_ORDER.external;
  const roots = [...nodes].sort((a, b) => rank(a) - rank(b) || a.y - b.y);
  for (const n of roots) visit(n.id, n.kind === "producer" ? 0 : base);
  let cursor = 0;
  const stacked = placed.map(({ node, depth }) => {
    const w = Math.max(node.w, STACK_WIDTH - depth * STACK_INDENT);
    const moved = { ...node, w, x: depth * STACK_INDENT + w / 2, y: cursor + node.h / 2 };
    cursor += node.h + STACK_GAP;
    return moved;
  });
  return { nodes: stacked, edges };
}
