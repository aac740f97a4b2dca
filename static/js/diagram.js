// The diagram: cytoscape draws the edges and handles pan, zoom and taps; HTML cards on a
// layer that follows cytoscape's viewport show each node's live numbers. Every change is
// drawn in one pass per animation frame (`invalidate()` schedules it).

import cytoscape from "../vendor/cytoscape/cytoscape.esm.min.mjs";
import { depthBar, depthBarUpdate, niceCeil, sparkline, sparklineUpdate } from "./charts.js";
import { arnName, el, formatCount, formatRate } from "./dom.js";
import { MAX_WORKER_NODES, PROJECTOR_SIZES, SIZES, STACK_GAP, layoutCompute, layoutStack } from "./layout.js";
import { deviceLabel } from "./push_layout.js";

/** Mobile push's nodes and edges (push_layout.js): no panel of their own. */
const PUSH_KINDS = new Set(["application", "device", "devices-more", "push"]);

const MAX_FIT_ZOOM = 1.3;
const MIN_READABLE_ZOOM = 0.62;
const NARROW = 700; // px: a phone, or a narrow window
const NUMBERS_MS = 200;
/** Stacked (phone) layout: where an edge leaves its source card (from the card's left
 * edge, along its bottom), the padding around the diagram, and its least height. */
const STACK_EXIT_PX = 14;
const STACK_PAD = 8;
const STACK_MIN_HEIGHT = 240;
/** Projector mode: no text in the diagram smaller than this on screen, and fewer
 * worker nodes per queue before the rest are grouped into one "+n more" node. */
const PROJECTOR_MIN_TEXT_PX = 14;
const PROJECTOR_WORKER_NODES = 3;

const STYLE = [
  {
    selector: "node",
    style: {
      shape: "round-rectangle", width: "data(w)", height: "data(h)",
      "background-opacity": 0, "border-width": 0, label: "",
      "overlay-opacity": 0,
    },
  },
  {
    selector: "edge",
    style: {
      "curve-style": "bezier", width: "data(width)", "line-color": "#8a94a6",
      "target-arrow-shape": "triangle", "target-arrow-color": "#8a94a6", "arrow-scale": 1.2,
      "overlay-opacity": 0, "transition-property": "width, line-color", "transition-duration": "250ms",
    },
  },
  { selector: "edge[kind = 'subscription']", style: { "line-color": "#4d7bd9", "target-arrow-color": "#4d7bd9" } },
  { selector: "edge[kind = 'redrive']", style: { "line-color": "#c2413b", "target-arrow-color": "#c2413b", "line-style": "dashed", "line-dash-pattern": [10, 6] } },
  { selector: "edge[kind = 'work']", style: { "line-color": "#a0a8b8", "target-arrow-color": "#a0a8b8" } },
  { selector: "edge[kind = 'publish']", style: { "line-color": "#6b46c1", "target-arrow-color": "#6b46c1", "line-style": "dashed", "line-dash-pattern": [8, 5] } },
  { selector: "edge[kind = 'push'], edge[kind = 'device']", style: { "line-color": "#1f7a4d", "target-arrow-color": "#1f7a4d" } },
  { selector: "edge.device-off", style: { "line-style": "dotted", "line-color": "#98a2b3", "target-arrow-color": "#98a2b3" } },
  { selector: "edge.flowing", style: { "line-color": "#2458c6", "target-arrow-color": "#2458c6" } },
  { selector: "edge.selected", style: { "line-color": "#f0a000", "target-arrow-color": "#f0a000", "underlay-color": "#f0a000", "underlay-opacity": 0.25, "underlay-padding": 6 } },
];

/** What a card is built from; when it changes, the card is built again. */
function cardKey(spec) {
  const { kind, data } = spec;
  return JSON.stringify([kind, Boolean(data.isDlq), data.topic?.fifo, data.queue?.fifo, spec.w, spec.h, data.endpoint?.enabled, data.endpoint?.custom_user_data, data.devices?.map((d) => d.enabled)]);
}

/** What an edge's label is built from. */
function labelKey(spec) {
  const sub = spec.data.sub;
  return JSON.stringify(sub ? [sub.filter_policy, sub.filter_policy_scope, sub.raw_message_delivery] : [spec.data.maxReceiveCount]);
}

export class Diagram {
  /**
   * @param {HTMLElement} root  the .diagram section (holds .cy and .layer)
   * @param {FlowState} state
   * @param {{select: (target: {kind: string, id: string}) => void}} actions
   * @param {{projector?: boolean, stackWhenNarrow?: boolean}} options  projector mode (see
   *   PROJECTOR_MIN_TEXT_PX); stackWhenNarrow: below NARROW px wide, cards go one under the
   *   other at full size (`layoutStack`) and the diagram grows as tall as they need, so a
   *   phone shows all of it, readable, with no sideways scrolling (the page scrolls down)
   */
  constructor(root, state, actions, { projector = false, stackWhenNarrow = false } = {}) {
    this.root = root;
    this.projector = projector;
    this.stackWhenNarrow = stackWhenNarrow;
    this.stacked = stackWhenNarrow && root.clientWidth < NARROW;
    this.minZoom = 0.2;
    this.state = state;
    this.actions = actions;
    this.layer = root.querySelector(".layer");
    this.empty = root.querySelector(".diagram-empty");
    this.nodes = new Map(); // id -> {node, card, parts}
    this.edges = new Map(); // id -> {edge, label, parts}
    this.selected = null;
    this.userMoved = false;
    this.frameRequested = false;
    this.viewportDirty = true;
    this.cy = cytoscape({
      container: root.querySelector(".cy"),
      style: STYLE,
      layout: { name: "preset" },
      minZoom: 0.2,
      maxZoom: 2.5,
      autoungrabify: true,
      autounselectify: true,
      boxSelectionEnabled: false,
    });
    if (projector) {
      // High contrast on a washed-out projector: darker, thicker lines.
      this.cy.style()
        .selector("edge").style({ "line-color": "#3d4555", "target-arrow-color": "#3d4555", "arrow-scale": 1.5 })
        .selector("edge[kind = 'subscription']").style({ "line-color": "#1747a6", "target-arrow-color": "#1747a6" })
        .selector("edge[kind = 'redrive']").style({ "line-color": "#a11d16", "target-arrow-color": "#a11d16" })
        .selector("edge[kind = 'publish']").style({ "line-color": "#4c2a99", "target-arrow-color": "#4c2a99" })
        .selector("edge.flowing").style({ "line-color": "#0b3aa8", "target-arrow-color": "#0b3aa8" })
        .selector("edge.selected").style({ "line-color": "#f0a000", "target-arrow-color": "#f0a000" })
        .update();
    }
    this.cy.on("viewport", () => {
      this.viewportDirty = true;
      this.invalidate();
    });
    this.cy.on("dragpan scrollzoom pinchzoom", () => { this.userMoved = true; });
    this.cy.on("tap", "node, edge", (event) => {
      const data = event.target.data();
      // A worker's edge or a redrive edge belongs to the queue it leaves.
      if (data.kind === "work") this.actions.select({ kind: "queue", id: data.source, focus: "workers" });
      else if (data.kind === "redrive") this.actions.select({ kind: "queue", id: data.source });
      else if (data.kind === "publish" || data.kind === "producer") this._selectProducerTarget(data.id);
      else if (PUSH_KINDS.has(data.kind)) return; // mobile push has no panel: its cards show it
      else this.actions.select({ kind: data.kind, id: data.id });
    });
    this.cy.on("mouseover", "node, edge", () => { this.root.classList.add("pointing"); });
    this.cy.on("mouseout", "node, edge", () => { this.root.classList.remove("pointing"); });
    new ResizeObserver(() => {
      const stacked = this.stackWhenNarrow && root.clientWidth < NARROW;
      this.cy.resize();
      if (stacked !== this.stacked) {
        this.stacked = stacked;
        this.setTopology(); // another layout; it fits itself
      } else if (!this.userMoved) this.fit();
    }).observe(root);
  }

  /** Schedule one redraw on the next animation frame. */
  invalidate() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.draw();
    });
  }

  /**
   * Show the whole diagram, but never so small that cards cannot be read: on a narrow
   * screen it starts at the topics, readable, and the rest is a swipe away.
   */
  fit() {
    if (!this.cy.nodes().length) return;
    if (this.stacked) {
      this._fitStacked();
      return;
    }
    this.cy.fit(undefined, 24);
    if (this.projector && this.cy.zoom() < this.minZoom) {
      // Readable from the back row first: start at the top left, the rest is a pan away.
      const box = this.cy.elements().boundingBox();
      this.cy.zoom(this.minZoom);
      this.cy.pan({ x: 12 - box.x1 * this.minZoom, y: 12 - box.y1 * this.minZoom });
    } else if (this.cy.zoom() > MAX_FIT_ZOOM) {
      this.cy.zoom(MAX_FIT_ZOOM);
      this.cy.center();
    } else if (this.cy.zoom() < MIN_READABLE_ZOOM && this.cy.width() < NARROW) {
      const box = this.cy.elements().boundingBox();
      const height = this.cy.height();
      this.cy.zoom(MIN_READABLE_ZOOM);
      this.cy.pan({ x: 12 - box.x1 * MIN_READABLE_ZOOM, y: Math.max(12, (height - box.h * MIN_READABLE_ZOOM) / 2) - box.y1 * MIN_READABLE_ZOOM });
    }
    this.userMoved = false;
  }

  /** Stacked: as wide as the screen allows (never above zoom 1), and as tall as that
   * needs: the diagram's own height follows, so nothing is cut off or panned to. */
  _fitStacked() {
    const box = this.cy.elements().boundingBox();
    const zoom = Math.min(1, (this.cy.width() - 2 * STACK_PAD) / box.w);
    const height = Math.max(STACK_MIN_HEIGHT, Math.ceil(box.h * zoom + 2 * STACK_PAD));
    if (Math.abs(this.root.clientHeight - height) > 1) {
      this.root.style.height = `${height}px`;
      this.cy.resize();
    }
    this.cy.zoom(zoom);
    this.cy.pan({ x: (this.cy.width() - box.w * zoom) / 2 - box.x1 * zoom, y: STACK_PAD - box.y1 * zoom });
    this.userMoved = false;
  }

  /** Rebuild the shape from the state's topology and workers; keeps what did not change. */
  setTopology() {
    const layout = this.stacked ? layoutStack : layoutCompute;
    const { nodes, edges } = layout(this.state.topology, [...this.state.workers.values()], this.state.producers || [], {
      maxWorkerNodes: this.projector ? PROJECTOR_WORKER_NODES : MAX_WORKER_NODES,
      sizes: this.projector ? PROJECTOR_SIZES : SIZES,
    });
    const wantNodes = new Map(nodes.map((n) => [n.id, n]));
    const wantEdges = new Map(edges.map((e) => [e.id, e]));
    const hadNodes = this.nodes.size;
    this.cy.batch(() => {
      for (const [id, item] of this.edges) {
        const want = wantEdges.get(id);
        if (!want || want.source !== item.spec.source || want.target !== item.spec.target || !wantNodes.has(want.source) || !wantNodes.has(want.target)) {
          item.edge.remove();
          item.label?.remove();
          this.edges.delete(id);
        }
      }
      for (const [id, item] of this.nodes) {
        if (!wantNodes.has(id)) {
          item.node.remove();
          item.card.remove();
          this.nodes.delete(id);
        }
      }
      for (const spec of nodes) {
        let item = this.nodes.get(spec.id);
        if (!item) {
          const node = this.cy.add({ group: "nodes", data: { id: spec.id, kind: spec.kind, w: spec.w, h: spec.h }, position: { x: spec.x, y: spec.y } });
          item = { node, spec, ...this._card(spec) };
          this.layer.prepend(item.card);
          this.nodes.set(spec.id, item);
        } else if (cardKey(spec) !== cardKey(item.spec)) {
          const fresh = this._card(spec);
          item.card.replaceWith(fresh.card);
          Object.assign(item, fresh);
          item.node.data({ w: spec.w, h: spec.h });
        }
        item.spec = spec;
        item.node.position({ x: spec.x, y: spec.y });
        item.card.style.transform = `translate(${spec.x - spec.w / 2}px, ${spec.y - spec.h / 2}px)`;
      }
      for (const spec of edges) {
        let item = this.edges.get(spec.id);
        if (!item) {
          const edge = this.cy.add({ group: "edges", data: { id: spec.id, kind: spec.kind, source: spec.source, target: spec.target, width: 3 } });
          item = { edge, spec, ...this._edgeLabel(spec) };
          if (item.label) this.layer.append(item.label);
          this.edges.set(spec.id, item);
        } else if (labelKey(spec) !== labelKey(item.spec)) {
          const fresh = this._edgeLabel(spec);
          if (item.label && fresh.label) item.label.replaceWith(fresh.label);
          Object.assign(item, fresh);
        }
        item.spec = spec;
        item.edge.toggleClass("device-off", spec.kind === "device" && spec.data.endpoint?.enabled === false);
        this._edgeEnds(item);
      }
    });
    // Stacked, everything is in view: a swipe scrolls the page, not the diagram.
    this.root.classList.toggle("stacked", this.stacked);
    this.cy.userPanningEnabled(!this.stacked);
    this.cy.userZoomingEnabled(!this.stacked);
    if (!this.stacked || !nodes.length) this.root.style.height = "";
    this._placeEdgeLabels();
    if (this.projector) this._capZoom();
    this.empty.hidden = nodes.length > 0;
    if (!this.userMoved || !hadNodes) this.fit();
    this.select(this.selected);
    this.invalidate();
  }

  select(target) {
    this.selected = target;
    for (const [id, item] of this.nodes) item.card.classList.toggle("selected", target?.id === id);
    for (const [id, item] of this.edges) {
      const on = target?.id === id;
      item.edge.toggleClass("selected", on);
      item.label?.classList.toggle("selected", on);
    }
  }

  /** Stacked: an edge leaves its source along the card's bottom, near its left edge, and
   * enters its target at the middle of its left edge, so it runs down the left margin
   * beside the cards between them instead of under them. */
  _edgeEnds(item) {
    if (!this.stacked) {
      item.edge.removeStyle("curve-style source-endpoint target-endpoint");
      return;
    }
    const a = this.nodes.get(item.spec.source)?.spec;
    const b = this.nodes.get(item.spec.target)?.spec;
    if (!a || !b) return;
    item.edge.style({
      "curve-style": "straight",
      "source-endpoint": `${-a.w / 2 + STACK_EXIT_PX}px ${a.h / 2}px`,
      "target-endpoint": `${-b.w / 2}px 0px`,
    });
  }

  /** Model coordinates of the point where the line from node `from` to node `to` leaves `from`. */
  anchor(from, to) {
    const a = this.nodes.get(from)?.spec;
    const b = this.nodes.get(to)?.spec;
    if (!a) return null;
    if (this.stacked && b) {
      // As _edgeEnds draws it: out of the upper card's bottom, into the lower one's side.
      return a.y < b.y ? { x: a.x - a.w / 2 + STACK_EXIT_PX, y: a.y + a.h / 2 } : { x: a.x - a.w / 2, y: a.y };
    }
    if (!b) return { x: a.x + a.w / 2, y: a.y };
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const t = Math.min(dx ? a.w / 2 / Math.abs(dx) : Infinity, dy ? a.h / 2 / Math.abs(dy) : Infinity);
    return Number.isFinite(t) ? { x: a.x + dx * t, y: a.y + dy * t } : { x: a.x, y: a.y };
  }

  /** The point `t` of the way along the visible part of the edge from `from` to `to`. */
  along(from, to, t) {
    const p = this.anchor(from, to);
    const q = this.anchor(to, from);
    if (!p || !q) return p || q;
    return { x: p.x + (q.x - p.x) * t, y: p.y + (q.y - p.y) * t };
  }

  has(id) {
    return this.nodes.has(id);
  }

  /** A producer (or its edge) stands for what it publishes to: select that. */
  _selectProducerTarget(id) {
    const item = this.edges.get(id) || [...this.edges.values()].find((e) => e.spec.source === id);
    const target = item?.spec.target;
    const kind = target && this.kindOf(target);
    if (kind) this.actions.select({ kind, id: target });
  }

  /** Projector mode: the smallest text in the diagram (CSS px at zoom 1) sets how far
   * out it may zoom, so that text is never below PROJECTOR_MIN_TEXT_PX on screen. */
  _capZoom() {
    let smallest = Infinity;
    for (const node of this.layer.querySelectorAll("*")) {
      const hasText = [...node.childNodes].some((c) => c.nodeType === Node.TEXT_NODE && c.textContent.trim());
      if (!hasText) continue;
      smallest = Math.min(smallest, parseFloat(getComputedStyle(node).fontSize));
    }
    this.minZoom = Number.isFinite(smallest) ? Math.min(MAX_FIT_ZOOM, PROJECTOR_MIN_TEXT_PX / smallest) : 0.2;
    this.cy.minZoom(this.minZoom);
  }

  kindOf(id) {
    return this.nodes.get(id)?.spec.kind;
  }

  // Cards ---------------------------------------------------------------------------

  _card(spec) {
    const name = this._name(spec);
    const off = spec.kind === "device" && spec.data.endpoint.enabled === false;
    const card = el("div", {
      class: `node node-${spec.kind}${spec.data.isDlq ? " node-dlq" : ""}${off ? " node-device-off" : ""}`,
      role: "button", tabindex: "0", "aria-label": `${spec.kind} ${name}`,
      dataset: { id: spec.id, kind: spec.kind, name },
      on: {
        keydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            if (spec.kind === "producer") this._selectProducerTarget(spec.id);
            else if (PUSH_KINDS.has(spec.kind)) return;
            else this.actions.select({ kind: spec.kind, id: spec.id });
          }
        },
      },
    });
    card.style.width = `${spec.w}px`;
    card.style.height = `${spec.h}px`;
    const parts = {};
    // Flowdash's workers are "<queue>#<n>"; any other consumer (an outside client seen by
    // the embedded observer, "<client> on <queue>", or a participant) shows its own name.
    const own = spec.kind === "worker" && name.includes("#");
    // A consumer's own name (its client, e.g. "aws-cli/1.42.3") needs the room a kind label takes.
    const kindLabel = { topic: "topic", queue: spec.data.isDlq ? "DLQ" : "queue", worker: own ? "worker" : null, more: "workers", external: spec.data.protocol, producer: "publisher", application: `${spec.data.application?.platform} app`, device: spec.data.endpoint?.platform || "device", "devices-more": "devices" }[spec.kind];
    // A consumer shows its product ("aws-cli", "Boto3"); the title has version and queue.
    // A worker says whose it is ("billing #2"), so workers of different queues differ.
    const shown = spec.kind !== "worker" ? name : own ? name.replace(/#(\d+)$/, " #$1") : name.split(" on ")[0].split("/")[0];
    const head = el("div", { class: "node-head" },
      spec.kind === "worker" ? (parts.lamp = el("span", { class: "lamp" })) : null,
      kindLabel ? el("span", { class: "kind", text: kindLabel }) : null,
      el("span", { class: "name", text: shown, title: name }),
      spec.data.topic?.fifo || spec.data.queue?.fifo ? el("span", { class: "pill", text: "FIFO" }) : null,
    );
    card.append(head);
    const stat = (key, label) => {
      parts[key] = el("b", { text: "0" });
      return el("span", { class: "stat", dataset: { stat: key } }, parts[key], ` ${label}`);
    };
    if (spec.kind === "topic") {
      parts.rate = el("span", { class: "rate", text: "" });
      card.append(el("div", { class: "node-line" }, stat("published", "published"), parts.rate));
    } else if (spec.kind === "queue") {
      parts.bar = depthBar();
      parts.depth = el("div", { class: "node-line depth-line" });
      parts.visible = el("b", { class: "d-visible", text: "0" });
      parts.in_flight = el("b", { class: "d-inflight", text: "0" });
      parts.delayed = el("b", { class: "d-delayed", text: "0" });
      parts.depth.append(
        el("span", { dataset: { stat: "visible" } }, parts.visible, " visible"),
        el("span", { dataset: { stat: "in_flight" } }, parts.in_flight, " in flight"),
        el("span", { dataset: { stat: "delayed" } }, parts.delayed, " delayed"),
      );
      parts.spark = sparkline();
      card.append(
        parts.bar, parts.depth, parts.spark,
        el("div", { class: "node-line" }, stat("delivered", spec.data.isDlq ? "dead letters" : "delivered"), stat("processed", "done"), stat("failed", "failed")),
      );
    } else if (spec.kind === "worker") {
      parts.state = el("span", { class: "worker-state", text: "idle" });
      head.append(parts.state);
      card.append(el("div", { class: "node-line" }, stat("processed", "processed"), stat("failed", "failed")));
    } else if (spec.kind === "more") {
      parts.summary = el("div", { class: "node-line" });
      card.append(parts.summary);
    } else if (spec.kind === "application") {
      const on = spec.data.devices.filter((d) => d.enabled !== false).length;
      card.append(el("div", { class: "node-line" }, stat("received", "pushed"), el("span", { class: "muted", text: ` · ${on}/${spec.data.devices.length} devices on` })));
    } else if (spec.kind === "device") {
      if (off) head.append(el("span", { class: "pill pill-off", text: "off", title: "endpoint disabled: SNS delivers nothing to this device" }));
      card.append(el("div", { class: "node-line" }, stat("received", "received")));
    } else if (spec.kind === "devices-more") {
      card.append(el("div", { class: "node-line" }, stat("received", "received")));
    }
    return { card, parts };
  }

  _name(spec) {
    if (spec.kind === "worker") return spec.data.worker.name;
    if (spec.kind === "more") return `+${spec.data.workers.length} more`;
    if (spec.kind === "producer") return spec.data.producer.name;
    if (spec.kind === "external") return spec.data.endpoint;
    if (spec.kind === "application") return spec.data.application.name;
    if (spec.kind === "device") return deviceLabel(spec.data.endpoint);
    if (spec.kind === "devices-more") return `+${spec.data.devices.length} devices`;
    return arnName(spec.id);
  }

  _edgeLabel(spec) {
    const parts = {};
    let label = null;
    if (spec.kind === "subscription") {
      const sub = spec.data.sub;
      parts.filter = sub.filter_policy ? el("span", { class: "pill pill-filter", text: "filter", title: `${sub.filter_policy_scope}: ${sub.filter_policy}` }) : null;
      parts.raw = sub.raw_message_delivery ? el("span", { class: "pill pill-raw", text: "raw", title: "raw message delivery: the queue gets the body, not the SNS envelope" }) : null;
      parts.rate = el("span", { class: "rate", text: "" });
      parts.filtered = el("span", { class: "filtered-count", text: "" });
      label = el("button", {
        type: "button", class: "edge-label edge-sub", title: "a subscription: click to edit its filter policy",
        dataset: { id: spec.id, kind: "subscription", from: arnName(spec.source), to: arnName(spec.target) },
        on: { click: () => this.actions.select({ kind: "subscription", id: spec.id }) },
      }, parts.filter, parts.raw, parts.rate, parts.filtered);
    } else if (spec.kind === "redrive") {
      label = el("button", {
        type: "button", class: "edge-label edge-redrive",
        title: `redrive: SQS moves a message to ${arnName(spec.target)} once it was received ${spec.data.maxReceiveCount} times without being deleted`,
        dataset: { id: spec.id, kind: "redrive" },
        on: { click: () => this.actions.select({ kind: "queue", id: spec.source }) },
      }, `after ${spec.data.maxReceiveCount ?? "?"} receives`);
    } else if (spec.kind === "work") {
      parts.rate = el("span", { class: "rate", text: "" });
      label = el("div", { class: "edge-label edge-work" }, parts.rate);
    }
    return { label, parts };
  }

  _placeEdgeLabels() {
    const seen = new Map();
    for (const item of this.edges.values()) {
      if (!item.label) continue;
      const { source, target, kind } = item.spec;
      const pair = `${source}>${target}`;
      const index = seen.get(pair) || 0;
      seen.set(pair, index + 1);
      const into = this.nodes.get(target)?.spec;
      if (this.stacked && into) {
        // In the gap above the card the edge leads into, just right of where it enters.
        const x = into.x - into.w / 2 + 10 + index * 90;
        const y = into.y - into.h / 2 - STACK_GAP / 2;
        item.label.style.transform = `translate(${x}px, ${y}px) translate(0, -50%)`;
        continue;
      }
      const at = kind === "subscription" ? 0.62 : 0.5;
      const p = this.along(source, target, at);
      const q = this.along(source, target, at + 0.1);
      if (!p || !q) continue;
      // Beside the line, not on it, so the dots travelling along it stay visible:
      // above it, except a redrive's, which goes below (its DLQ sits below and right).
      const len = Math.hypot(q.x - p.x, q.y - p.y) || 1;
      const normal = { x: (q.y - p.y) / len, y: -(q.x - p.x) / len };
      const side = (normal.y > 0 ? -1 : 1) * (kind === "redrive" ? -1 : 1);
      const offset = (kind === "work" ? 14 : 24) + index * 30;
      const x = p.x + normal.x * offset * side;
      const y = p.y + normal.y * offset * side;
      item.label.style.transform = `translate(${x}px, ${y}px) translate(-50%, -50%)`;
    }
  }

  // Drawing -------------------------------------------------------------------------

  /**
   * One pass per animation frame: the viewport at once (panning must feel direct), the
   * numbers at most every NUMBERS_MS (no one reads digits changing 20 times a second,
   * and each change costs a layout). Only what changed touches the DOM.
   */
  draw() {
    if (this.viewportDirty) {
      const pan = this.cy.pan();
      const zoom = this.cy.zoom();
      this.layer.style.transform = `translate(${pan.x}px, ${pan.y}px) scale(${zoom})`;
      this.root.style.setProperty("--zoom", String(zoom));
      this.viewportDirty = false;
    }
    const now = performance.now();
    const wait = NUMBERS_MS - (now - (this.numbersAt || 0));
    if (wait > 0) {
      clearTimeout(this.numbersTimer);
      this.numbersTimer = setTimeout(() => this.invalidate(), wait);
      return;
    }
    this.numbersAt = now;
    this._drawNumbers();
  }

  _drawNumbers() {
    const s = this.state;
    for (const [id, item] of this.nodes) {
      const { parts, spec } = item;
      if (spec.kind === "topic") {
        setText(parts.published, formatCount(s.count(`pub:${id}`)));
        const rate = s.rate(`pub:${id}`);
        setText(parts.rate, rate > 0 ? ` · ${formatRate(rate)}` : "");
      } else if (spec.kind === "queue") {
        const d = s.depths.get(id) || { visible: 0, in_flight: 0, delayed: 0 };
        setText(parts.visible, formatCount(d.visible));
        setText(parts.in_flight, formatCount(d.in_flight));
        setText(parts.delayed, formatCount(d.delayed));
        const history = s.history.get(id) || [];
        const total = d.visible + d.in_flight + d.delayed;
        const key = `${history.length}:${total}:${d.visible}:${d.in_flight}`;
        if (item.chartKey !== key) {
          item.chartKey = key;
          const points = history.map((p) => p.visible + p.in_flight + p.delayed);
          const scale = niceCeil(Math.max(total, ...points, 0));
          depthBarUpdate(parts.bar, d, scale);
          sparklineUpdate(parts.spark, [...points, total], scale);
        }
        setText(parts.delivered, formatCount(s.count(`in:${id}`)));
        setText(parts.processed, formatCount(s.count(`done:${id}`)));
        setText(parts.failed, formatCount(s.count(`fail:${id}`)));
        setClass(item.card, "has-failures", s.count(`fail:${id}`) > 0);
      } else if (spec.kind === "worker") {
        const w = s.workers.get(spec.data.worker.name);
        const busy = Boolean(w?.busy);
        setText(parts.state, w ? (busy ? "busy" : "idle") : "stopped");
        setClass(item.card, "busy", busy);
        setText(parts.processed, formatCount(w?.processed ?? 0));
        setText(parts.failed, formatCount(w?.failed ?? 0));
      } else if (spec.kind === "device") {
        setText(parts.received, formatCount(s.count(`in:${spec.data.endpoint.arn}`)));
      } else if (spec.kind === "application" || spec.kind === "devices-more") {
        setText(parts.received, formatCount(spec.data.devices.reduce((a, d) => a + s.count(`in:${d.arn}`), 0)));
      } else if (spec.kind === "more") {
        const ws = spec.data.workers.map((x) => s.workers.get(x.name)).filter(Boolean);
        const busy = ws.filter((w) => w.busy).length;
        const done = ws.reduce((a, w) => a + w.processed, 0);
        setText(parts.summary, `${busy} busy · ${formatCount(done)} processed`);
      }
    }
    for (const [id, item] of this.edges) {
      const { parts, spec } = item;
      let rate = 0;
      if (spec.kind === "subscription") {
        rate = s.rate(`sub:${id}`);
        const delivered = s.count(`sub:${id}`);
        const filtered = s.count(`subf:${id}`);
        setText(parts.rate, formatRate(rate));
        setText(parts.filtered, filtered ? `⊘ ${formatCount(filtered)}` : "");
        const title = `${delivered} delivered, ${filtered} filtered out by its policy since ${s.countingSince.toTimeString().slice(0, 5)} — click to edit the policy`;
        if (item.label.title !== title) item.label.title = title;
      } else if (spec.kind === "redrive") {
        rate = s.rate(`dlq:${spec.source}`);
      } else if (spec.kind === "work") {
        const names = spec.data.worker ? [spec.data.worker.name] : spec.data.workers.map((w) => w.name);
        rate = names.reduce((a, n) => a + s.rate(`wrecv:${n}`), 0);
        setText(parts.rate, rate > 0 ? formatRate(rate) : "");
        setClass(item.label, "idle", rate <= 0);
      }
      const width = Math.round(2 * (3 + Math.min(7, Math.log2(1 + rate) * 2))) / 2;
      if (item.edge.data("width") !== width) item.edge.data("width", width);
      const flowing = rate > 0 && spec.kind !== "redrive";
      if (item.edge.hasClass("flowing") !== flowing) item.edge.toggleClass("flowing", flowing);
    }
  }
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setClass(node, name, on) {
  if (node.classList.contains(name) !== on) node.classList.toggle(name, on);
}
