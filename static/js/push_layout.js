// Mobile push in the diagram: topic → platform application → its devices.
//
// A topic's `application` subscriptions each name one device (a platform endpoint); drawn
// one edge per subscription they would hide the step the course explains, so the topic
// feeds its application once and the application fans out to the devices. Devices are
// ordered by their label (custom user data, else the token's end); past MAX_DEVICE_NODES
// the rest share one "+N devices" node. A disabled device is drawn as such (switched off).

export const MAX_DEVICE_NODES = 8;
export const PUSH_SIZES = {
  application: { w: 300, h: 70 },
  device: { w: 210, h: 66 },
  "devices-more": { w: 210, h: 50 },
};

export const appId = (arn) => `app:${arn}`;
export const deviceId = (arn) => `device:${arn}`;
export const moreDevicesId = (appArn) => `devices-more:${appArn}`;

/** The application an endpoint ARN (`...:endpoint/<platform>/<app>/<id>`) belongs to. */
export function endpointAppArn(endpointArn) {
  const i = endpointArn.lastIndexOf(":");
  const [, platform, app] = endpointArn.slice(i + 1).split("/");
  return `${endpointArn.slice(0, i)}:app/${platform}/${app}`;
}

/** What a device is called on screen: its custom user data, else its token's end. */
export function deviceLabel(endpoint) {
  if (endpoint.custom_user_data) return endpoint.custom_user_data;
  const token = endpoint.token || endpoint.arn.split("/").pop();
  return token.length > 12 ? `…${token.slice(-10)}` : token;
}

const byLabel = (a, b) => deviceLabel(a).localeCompare(deviceLabel(b)) || (a.arn < b.arn ? -1 : 1);

/**
 * Places each application that topics deliver to (in `columnX[1]`) with its subscribed
 * devices beside it (`columnX[2]`), from `cursor` down; returns the new cursor.
 * `add(kind, id, x, y, data, size)` and `edges` are layoutCompute's; `centreOf` learns
 * each application's centre so its topics sit beside it.
 */
export function pushPlace(topology, { add, edges, centreOf, cursor, columnX, gap }) {
  const subs = topology.subscriptions.filter((s) => s.protocol === "application");
  const endpoints = new Map((topology.endpoints || []).map((e) => [e.arn, e]));
  const apps = new Map((topology.applications || []).map((a) => [a.arn, a]));
  const devicesByApp = new Map();
  const topicsByApp = new Map();
  for (const sub of subs) {
    const appArn = endpointAppArn(sub.endpoint);
    if (!devicesByApp.has(appArn)) {
      devicesByApp.set(appArn, new Map());
      topicsByApp.set(appArn, new Set());
    }
    const known = endpoints.get(sub.endpoint) || { arn: sub.endpoint, enabled: true, token: "", custom_user_data: "" };
    devicesByApp.get(appArn).set(sub.endpoint, known);
    topicsByApp.get(appArn).add(sub.topic_arn);
  }
  for (const appArn of [...devicesByApp.keys()].sort()) {
    const devices = [...devicesByApp.get(appArn).values()].sort(byLabel);
    const shown = devices.length > MAX_DEVICE_NODES ? devices.slice(0, MAX_DEVICE_NODES - 1) : devices;
    const top = cursor;
    let y = cursor;
    for (const endpoint of shown) {
      const size = PUSH_SIZES.device;
      add("device", deviceId(endpoint.arn), columnX[2], y + size.h / 2, { endpoint }, size);
      edges.push({ id: `to-device:${endpoint.arn}`, kind: "device", source: appId(appArn), target: deviceId(endpoint.arn), data: { endpoint } });
      y += size.h + gap;
    }
    if (devices.length > shown.length) {
      const rest = devices.slice(shown.length);
      const size = PUSH_SIZES["devices-more"];
      add("devices-more", moreDevicesId(appArn), columnX[2], y + size.h / 2, { appArn, devices: rest }, size);
      edges.push({ id: `to-devices-more:${appArn}`, kind: "device", source: appId(appArn), target: moreDevicesId(appArn), data: { devices: rest } });
      y += size.h + gap;
    }
    const size = PUSH_SIZES.application;
    const bottom = Math.max(top + size.h + gap, y);
    const centre = (top + bottom - gap) / 2;
    const [, platform, name] = appArn.slice(appArn.lastIndexOf(":") + 1).split("/");
    const application = apps.get(appArn) || { arn: appArn, name, platform, enabled: true };
    add("application", appId(appArn), columnX[1], centre, { application, devices }, size);
    centreOf.set(appId(appArn), centre);
    for (const topicArn of [...topicsByApp.get(appArn)].sort()) {
      edges.push({ id: `push:${topicArn}|${appArn}`, kind: "push", source: topicArn, target: appId(appArn), data: { topicArn, appArn } });
    }
    cursor = bottom;
  }
  return cursor;
}
