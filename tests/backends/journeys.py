"""Flow events reduced to what every backend must agree on.

Backends differ in what they can see (the embedded observer also reports visibility
lapses and exact depths; the outside path samples), in ids (account, MessageIds) and
in timing, so events are compared after reduction:

- only the contract's types (``CONTRACT``), and only events about the test's own
  resources, each ARN replaced by the label the test gave it (``queue:work``);
- per trace (one published message's journey), keyed by the message's body: a list
  of *stages*, where stages are ordered (published before delivered, received before
  processed...) and events within a stage are not (a topic's copies to two queues
  arrive in either order). Receive counts are part of ``received``/``failed`` steps.

``journeys_settled`` waits until the journeys equal the expected ones, then a little
longer, so a duplicate or late extra event fails the test too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tests.clients.conftest import PATIENCE, FlowWatch

CONTRACT = (
    "published",
    "delivered",
    "filtered",
    "received",
    "processed",
    "failed",
    "dead_lettered",
)
#: Quiet time after the journeys matched, in which no further contract event may come.
SETTLE_SECONDS = 1.5

Journey = list[list[str]]


def step(event: dict[str, Any], labels: Mapping[str, str]) -> str | None:
    """One event as a backend-neutral step (``"delivered queue:a"``), or None when it is
    not about the labelled resources."""
    kind = event["type"]
    if kind == "published":
        arns = [event.get("topic_arn") or event.get("queue_arn") or ""]
    elif kind in ("delivered", "filtered"):
        arns = [event["endpoint"]]
    elif kind == "dead_lettered":
        arns = [event["queue_arn"], event["dead_letter_arn"]]
    else:
        arns = [event["queue_arn"]]
    if not all(arn in labels for arn in arns):
        return None
    text = f"{kind} " + "->".join(labels[arn] for arn in arns)
    if kind in ("received", "failed", "dead_lettered"):
        text += f" #{event['receive_count']}"
    return text


def journeys(watch: FlowWatch, labels: Mapping[str, str]) -> dict[str, list[str]]:
    """Each trace's steps in sequence order, keyed by the body its ``published`` event
    shows (``"?<trace id>"`` for a trace whose publication was not seen); a later trace
    with the same body is ``"<body> (2)"``."""
    with watch._cond:
        events = sorted((e for e in watch.events if e["type"] in CONTRACT), key=lambda e: e["seq"])
    steps: dict[str, list[str]] = {}
    bodies: dict[str, str] = {}
    for event in events:
        text = step(event, labels)
        if text is None:
            continue
        trace = event["trace_id"]
        steps.setdefault(trace, []).append(text)
        if event["type"] == "published":
            bodies.setdefault(trace, event["body"])
    keyed: dict[str, list[str]] = {}
    for trace, found in steps.items():  # in the order the traces began
        key = bodies.get(trace, f"?{trace}")
        n = 1
        while (name := key if n == 1 else f"{key} ({n})") in keyed:
            n += 1  # the same body again (a redriven copy is a message of its own)
        keyed[name] = found
    return keyed


def staged(found: list[str], expected: Journey) -> Journey:
    """``found`` cut into ``expected``'s stage sizes, each stage sorted: equal to
    ``expected`` (stages sorted) exactly when the order between stages holds."""
    result: Journey = []
    rest = list(found)
    for stage in expected:
        result.append(sorted(rest[: len(stage)]))
        rest = rest[len(stage) :]
    if rest:
        result.append(rest)
    return result


def normalised(expected: Mapping[str, Journey]) -> dict[str, Journey]:
    return {body: [sorted(stage) for stage in journey] for body, journey in expected.items()}


def journeys_settled(
    watch: FlowWatch,
    labels: Mapping[str, str],
    expected: Mapping[str, Journey],
    *,
    timeout: float = PATIENCE,
) -> dict[str, list[str]]:
    """Wait until each body's journey is ``expected``'s (and no other trace of the labelled
    resources exists), then ``SETTLE_SECONDS`` more; fail showing both if not."""
    want = normalised(expected)

    def current() -> dict[str, Journey]:
        found = journeys(watch, labels)
        return {body: staged(steps, want.get(body, [])) for body, steps in found.items()}

    try:
        watch.wait(lambda: current() == want, "the expected journeys", timeout=timeout)
        time.sleep(SETTLE_SECONDS)  # a viewer would see late extras now: so must the test
    except AssertionError:
        pass
    got = current()
    assert got == want, (
        f"journeys differ\nexpected: {_show(want)}\nfound:    {_show(got)}\n{watch.summary()}"
    )
    return journeys(watch, labels)


def _show(journeys: Mapping[str, Journey]) -> str:
    return "\n  ".join([""] + [f"{body}: {stages}" for body, stages in sorted(journeys.items())])


def order_of(watch: FlowWatch, kind: str, resource: str, bodies: Mapping[str, str]) -> list[str]:
    """The bodies (through their traces: ``bodies`` maps trace id to body) in the order
    their ``kind`` events on ``resource`` came."""
    with watch._cond:
        events = sorted(
            (e for e in watch.events if e["type"] == kind and e.get("queue_arn") == resource),
            key=lambda e: e["seq"],
        )
    return [bodies[e["trace_id"]] for e in events if e["trace_id"] in bodies]


def trace_bodies(watch: FlowWatch) -> dict[str, str]:
    """Trace id -> body, from every ``published`` event seen."""
    return {e["trace_id"]: e["body"] for e in watch.of("published")}
