// The flow socket: connection, resync and connection state, exactly as docs/protocol.md says.
//
// 1. Until a snapshot arrives, frames are buffered.
// 2. A snapshot replaces all state; buffered frames it already covers are dropped,
//    and a frame straddling its last_seq loses the events with seq <= last_seq.
// 3. A frame with from_seq > last_seq + 1 means frames were lost: resync.
// 4. A resource_changed event asks for a resync (the snapshot has the new topology).
// 5. On close, reconnect with backoff; a new connection starts again at rule 1.
//
// Logs carry sequence numbers and types only, never message content.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const UNAUTHENTICATED = 4401;

export class FlowSocket {
  /**
   * @param {object} handlers
   *   snapshot(snapshot, {missed}) — state replaced; `missed` lists recent events after the
   *     previous last_seq (events a gap or reconnect would otherwise lose), or null at start.
   *   events(events, frame, {trimmed}) — new events in order, trimmed to seq > last_seq;
   *     `trimmed` says the frame straddled the snapshot, so its `counts` cover older events too.
   *   state(name, detail) — "connecting" | "live" | "resyncing" | "reconnecting" | "logged-out".
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.lastSeq = null; // the newest sequence number applied
    this.buffer = []; // frames waiting for a snapshot
    this.awaitingSnapshot = true;
    this.attempt = 0;
    this.retryTimer = null;
    this.state = "connecting";
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, "page closed");
  }

  resync(reason) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.awaitingSnapshot) {
      this.awaitingSnapshot = true;
      this.ws.send(JSON.stringify({ type: "resync" }));
    }
    this._setState("resyncing", reason);
  }

  _connect() {
    this.awaitingSnapshot = true;
    this.buffer = [];
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn("flow socket: a frame that is not JSON was ignored");
        return;
      }
      this.receive(message);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (event.code === UNAUTHENTICATED) {
        this._setState("logged-out", "Your session ended: log in again.");
        return;
      }
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
      this.attempt += 1;
      this._setState("reconnecting", { retryInMs: jittered, attempt: this.attempt });
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this._connect(), jittered);
    });
    // An "error" event is always followed by "close", which handles the retry.
    ws.addEventListener("error", () => {});
  }

  receive(message) {
    if (message.type === "snapshot") this._applySnapshot(message);
    else if (message.type === "frame") {
      if (this.awaitingSnapshot) this.buffer.push(message);
      else this._applyFrame(message);
    } else if (message.type === "error") {
      console.warn("flow socket: the server did not understand a request");
    }
  }

  _applySnapshot(snapshot) {
    const previous = this.lastSeq;
    const missed = previous === null ? null : (snapshot.recent || []).filter((e) => e.seq > previous);
    const complete = previous === null || snapshot.last_seq <= previous ||
      (snapshot.recent || []).some((e) => e.seq === previous + 1) ||
      (snapshot.recent || []).length === 0;
    this.lastSeq = snapshot.last_seq;
    this.awaitingSnapshot = false;
    this.attempt = 0;
    this.handlers.snapshot(snapshot, { missed, complete });
    const buffered = this.buffer;
    this.buffer = [];
    this._setState("live");
    for (const frame of buffered) {
      if (this.awaitingSnapshot) this.buffer.push(frame);
      else if (frame.from_seq > this.lastSeq + 1) {
        // The server answers a resync after sending every frame it had, so a snapshot
        // covers all frames received before it; one that still leaves a gap was numbered
        // by another engine (a restart) and has nothing to add.
        console.info(`flow socket: dropped a buffered frame (seq ${frame.from_seq}) after the snapshot`);
      } else this._applyFrame(frame);
    }
  }

  _applyFrame(frame) {
    if (frame.to_seq <= this.lastSeq) return; // the snapshot already had it
    if (frame.from_seq > this.lastSeq + 1) {
      // Frames were lost: everything from here waits for a fresh snapshot.
      console.info(`flow socket: gap after seq ${this.lastSeq} (frame starts at ${frame.from_seq}); resyncing`);
      this.buffer.push(frame);
      this.resync("gap");
      return;
    }
    const trimmed = frame.from_seq <= this.lastSeq;
    const events = frame.events.filter((e) => e.seq > this.lastSeq);
    this.lastSeq = frame.to_seq;
    this.handlers.events(events, frame, { trimmed });
    if (events.some((e) => e.type === "resource_changed")) this.resync("resource_changed");
  }

  _setState(name, detail) {
    this.state = name;
    this.handlers.state(name, detail);
  }
}

/** ws:// or wss:// for this page's origin. */
export function flowSocketUrl(location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/flow/`;
}
