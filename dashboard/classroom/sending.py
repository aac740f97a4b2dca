"""Sending a scenario's publishing steps: bursts through the engine, message lists here.

A burst runs in the flow engine (``burst.start``), paced and batched there; a
message list is sent one request per message and target, which is why a step
holds at most 100 messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from messaging import publishing
from messaging.burst import Burst
from messaging.connection import Connection

from ..flowbus import command_send
from .scenario_types import BurstDef, MessagesDef, ScenarioDefinition, Target


def burst_start(*, step: BurstDef, address: str) -> None:
    target = {"topic_arn": address} if step.target.kind == "topic" else {"queue_url": address}
    burst = Burst(
        count=step.count, rate=step.rate, body_template=step.body_template,
        attributes=step.attributes, message_group_id=step.message_group_id, **target,
    ).validate()  # fmt: skip
    command_send(
        "burst.start", burst={**asdict(burst), "attributes": [asdict(a) for a in burst.attributes]}
    )


def messages_send(
    conn: Connection,
    *,
    definition: ScenarioDefinition,
    step: MessagesDef,
    address: Callable[[Target], str],
    run: str,
) -> list[str]:
    """The same sequence to every target, message by message (interleaved, so the targets
    fill side by side). FIFO deduplication ids are scoped to this run, so a repeat in the
    list is dropped as a retry while playing again sends everything afresh."""
    sent = []
    for n, message in enumerate(step.messages, 1):
        for target in step.to:
            fifo = definition.is_fifo(target)
            ids: dict[str, Any] = {}
            if fifo:
                ids = {
                    "message_group_id": message.group_id,
                    "deduplication_id": f"{run}-{message.deduplication_id or n}",
                }
            if target.kind == "topic":
                result = publishing.topic_publish(
                    conn, topic_arn=address(target), body=message.body, subject=message.subject,
                    attributes=message.attributes, **ids,
                )  # fmt: skip
            else:
                result = publishing.queue_send(
                    conn, queue_url=address(target), body=message.body,
                    attributes=message.attributes, **ids,
                )  # fmt: skip
            sent.append(result.message_id)
    return sent
