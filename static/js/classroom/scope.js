// The presenter shows one scenario: only resources whose names start with its prefix
// (`sc-<slug>-`, after Flowdash's own). An empty prefix shows everything.

const nameOf = (arn) => String(arn || "").split(":").pop();

export function inScope(prefix, arn) {
  return !prefix || nameOf(arn).startsWith(prefix);
}

/** The snapshot with its topology and workers cut down to the scenario's resources. */
export function scopeSnapshot(snapshot, prefix) {
  if (!prefix) return snapshot;
  const topics = snapshot.topology.topics.filter((t) => t.name.startsWith(prefix));
  const queues = snapshot.topology.queues.filter((q) => q.name.startsWith(prefix));
  const topicArns = new Set(topics.map((t) => t.arn));
  const queueArns = new Set(queues.map((q) => q.arn));
  // Mobile push: the scenario's applications (by name) and their devices.
  const applications = (snapshot.topology.applications || []).filter((a) => a.name.startsWith(prefix));
  const appArns = new Set(applications.map((a) => a.arn));
  const endpoints = (snapshot.topology.endpoints || []).filter((e) => appArns.has(e.application_arn));
  return {
    ...snapshot,
    topology: { topics, queues, subscriptions: snapshot.topology.subscriptions.filter((s) => topicArns.has(s.topic_arn)), applications, endpoints },
    workers: (snapshot.workers || []).filter((w) => queueArns.has(w.queue_arn)),
    producers: (snapshot.producers || []).filter((p) => topicArns.has(p.target_arn) || queueArns.has(p.target_arn)),
  };
}

/** Whether an event concerns the scenario's resources. */
export function eventInScope(prefix, e) {
  if (!prefix) return true;
  return [e.topic_arn, e.queue_arn, e.endpoint, e.arn, e.resource].some((arn) => arn && inScope(prefix, arn));
}

/** Whether the snapshot's topology holds every ARN a load returned. */
export function topologyHas(topology, loaded) {
  const have = new Set([
    ...topology.topics.map((t) => t.arn),
    ...topology.queues.map((q) => q.arn),
    ...topology.subscriptions.map((s) => s.arn),
  ]);
  const want = [...Object.values(loaded.topics), ...Object.values(loaded.queues), ...loaded.subscriptions];
  return want.every((arn) => have.has(arn));
}
