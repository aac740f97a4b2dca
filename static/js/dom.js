// DOM helpers for the flow page. Text goes in only through textContent:
// message bodies and names are untrusted and never become HTML.

/**
 * el("div", {class: "card", dataset: {arn}}, "text", childNode, ...)
 * Attributes are set with setAttribute; `text` sets textContent; `on` adds listeners.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else if (key === "hidden") node.hidden = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children (strings become text nodes). */
export function replaceChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** The last part of an ARN: the resource's name. */
export function arnName(arn) {
  if (!arn) return "";
  const parts = String(arn).split(":");
  // Subscription ARNs end in <topic>:<uuid>; show the topic and a short id.
  if (parts.length === 7 && parts[2] === "sns") return `${parts[5]}:${parts[6].slice(0, 8)}`;
  return parts[parts.length - 1];
}

export function formatRate(perSecond) {
  if (perSecond <= 0) return "0/s";
  if (perSecond < 0.1) return "<0.1/s";
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  return `${Math.round(perSecond)}/s`;
}

export function formatCount(n) {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 100_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatTime(ts) {
  const d = new Date(ts * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A JSON body pretty-printed, or the text unchanged when it is not JSON. */
export function prettyBody(body) {
  const text = String(body ?? "");
  const trimmed = text.trim();
  if (!(trimmed.startsWith("{") || trimmed.startsWith("["))) return { text, json: false };
  try {
    return { text: JSON.stringify(JSON.parse(trimmed), null, 2), json: true };
  } catch {
    return { text, json: false };
  }
}
