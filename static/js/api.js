// The JSON API (dashboard/api/), called with the session cookie and Django's CSRF header.
// Every error comes back as {"error": {code, message, field}}; callers show it next to `field`.

function csrfToken() {
  const match = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  return match ? decodeURIComponent(match.slice("csrftoken=".length)) : "";
}

/** Paths take ARNs as one segment, as the API addresses resources. */
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}

/**
 * Call the API. Resolves to {ok: true, data} or {ok: false, error: {code, message, field}};
 * network failures become an error too, so forms always have something to show.
 */
export async function call(method, url, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (exc) {
    return { ok: false, status: 0, error: { code: "NetworkError", message: `Flowdash did not answer (${exc.message}).`, field: null } };
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return { ok: true, status: response.status, data };
  const error = data?.error ?? { code: `HTTP${response.status}`, message: `The server answered ${response.status}.`, field: null };
  return { ok: false, status: response.status, error };
}

export const api = {
  topicCreate: (body) => call("POST", "/api/topics", body),
  queueCreate: (body) => call("POST", "/api/queues", body),
  subscribe: (body) => call("POST", "/api/subscriptions", body),
  publish: (arn, body) => call("POST", path`/api/topics/${arn}/publish`, body),
  burst: (arn, body) => call("POST", path`/api/topics/${arn}/burst`, body),
  send: (arn, body) => call("POST", path`/api/queues/${arn}/messages`, body),
  queueBurst: (arn, body) => call("POST", path`/api/queues/${arn}/burst`, body),
  receive: (arn, body) => call("POST", path`/api/queues/${arn}/receive`, body),
  messageDelete: (arn, receipt) => call("POST", path`/api/queues/${arn}/messages/delete`, { receipt_handle: receipt }),
  messageRelease: (arn, receipt) => call("POST", path`/api/queues/${arn}/messages/release`, { receipt_handle: receipt }),
  purge: (arn) => call("POST", path`/api/queues/${arn}/purge`),
  workersSet: (arn, body) => call("PUT", path`/api/queues/${arn}/workers`, body),
  subscriptionUpdate: (arn, body) => call("PATCH", path`/api/subscriptions/${arn}`, body),
  subscriptionPreview: (arn, body) => call("POST", path`/api/subscriptions/${arn}/preview`, body),
  trace: (traceId) => call("GET", path`/api/traces/${traceId}`),
};
