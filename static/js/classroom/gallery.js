// The classroom page's scenario list: Load, Play and Reset through the JSON API.

import { call, path } from "../api.js";

const status = document.querySelector(".gallery-status");

const VERBS = {
  load: (d) => `loaded ${Object.keys(d.topics).length} topic(s) and ${Object.keys(d.queues).length} queue(s); press Play in a few seconds, or present it`,
  play: (d) => `playing: ${d.bursts} burst(s), ${d.sent.length} message(s) sent`,
  reset: (d) => `deleted ${d.topics.length} topic(s) and ${d.queues.length} queue(s)`,
};

document.querySelector(".scenario-gallery")?.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const row = button.closest("tr");
  const { slug } = row.dataset;
  const verb = button.dataset.action;
  button.disabled = true;
  const result = await call("POST", path`/api/classroom/scenarios/${slug}/${verb}`);
  button.disabled = false;
  status.textContent = result.ok ? `${slug}: ${VERBS[verb](result.data)}.` : `${slug}: ${result.error.message}`;
  status.dataset.kind = result.ok ? "ok" : "error";
});
