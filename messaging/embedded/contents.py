"""Reading an embedded moto queue's messages without receiving them.

Flowdash runs moto in its own process, so it can look at a queue's messages
directly: no ReceiveMessage, so no receive count rises, no message hides from
the application's consumers, none moves toward the DLQ. This is the only
module that knows moto's SQS internals (``Queue._messages``, ``Message``'s
``visible_at``/``delayed_until`` in epoch milliseconds), checked against the
moto versions pinned in pyproject.toml; ``tests/messaging/test_inspect.py``
fails loudly when they change.
"""

from __future__ import annotations

import time
from typing import Any

from ..envelope import envelope_parse
from ..errors import ResourceNotFound
from ..inspection import InspectedMessage, MessageState


def _backend(account: str, region: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[account][region]


def moto_queue_messages(*, queue_url: str, region: str) -> list[InspectedMessage]:
    """Every message in the queue, oldest first, read from moto's memory."""
    parts = queue_url.rstrip("/").split("/")
    account, name = parts[-2], parts[-1]
    queue = _backend(account, region).queues.get(name)
    if queue is None:
        raise ResourceNotFound(f"Queue {name!r} does not exist.", field="queue")
    now_ms = time.time() * 1000
    # A copy: moto's server thread appends and removes while we read.
    messages = list(queue._messages)
    result = []
    for m in messages:
        delayed = now_ms < m.delayed_until
        in_flight = not delayed and now_ms <= m.visible_at
        state: MessageState = "delayed" if delayed else "in_flight" if in_flight else "visible"
        attributes = {
            key: {
                "Type": value.get("DataType", "String"),
                "Value": str(value.get("StringValue", value.get("BinaryValue", ""))),
            }
            for key, value in (m.message_attributes or {}).items()
        }
        result.append(
            InspectedMessage(
                message_id=m.id,
                body=m.body,
                attributes=attributes,
                sent_timestamp=m.sent_timestamp,
                receive_count=m.approximate_receive_count,
                state=state,
                visible_at=int(m.visible_at) if in_flight else None,
                delayed_until=int(m.delayed_until) if delayed else None,
                group_id=m.group_id,
                deduplication_id=m.deduplication_id,
                sequence_number=m.sequence_number,
                envelope=envelope_parse(m.body),
            )
        )
    return result


def moto_sns_outbox(*, account: str, region: str) -> list[dict[str, str]]:
    """What the embedded SNS "sent" outside SQS: SMS to phone numbers and mobile
    pushes to platform endpoints, as moto records them (newest last)."""
    from moto.sns.models import sns_backends

    backend = sns_backends[account][region]
    outbox = [
        {"kind": "sms", "message_id": message_id, "to": phone, "body": body}
        for message_id, (phone, body) in list(backend.sms_messages.items())
    ]
    for endpoint in list(backend.platform_endpoints.values()):
        outbox.extend(
            {"kind": "push", "message_id": message_id, "to": endpoint.arn, "body": body}
            for message_id, body in list(endpoint.messages.items())
        )
    return outbox
