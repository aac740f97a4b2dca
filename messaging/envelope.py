"""Reading what SNS wrote into an SQS message, without trusting it.

SNS wraps each delivery in a JSON envelope unless the subscription uses raw
delivery. A body that merely looks like an envelope is still just a body:
parsing is pure, never raises, and returns ``None`` for anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ENVELOPE_KEYS = ("Type", "MessageId", "TopicArn", "Message")


@dataclass(frozen=True, slots=True, kw_only=True)
class SnsEnvelope:
    message_id: str
    topic_arn: str
    message: str
    type: str = "Notification"
    subject: str | None = None
    timestamp: str | None = None
    sequence_number: str | None = None
    message_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    signature_version: str | None = None
    signing_cert_url: str | None = None
    unsubscribe_url: str | None = None


def envelope_parse(body: str) -> SnsEnvelope | None:
    if not body.startswith("{"):
        return None
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ENVELOPE_KEYS):
        return None
    attributes = data.get("MessageAttributes")
    return SnsEnvelope(
        message_id=data["MessageId"],
        topic_arn=data["TopicArn"],
        message=data["Message"],
        type=data["Type"],
        subject=data.get("Subject") or None,
        timestamp=data.get("Timestamp"),
        sequence_number=data.get("SequenceNumber"),
        message_attributes=attributes if isinstance(attributes, dict) else {},
        signature_version=data.get("SignatureVersion"),
        # SQS deliveries spell these with "URL"; HTTP deliveries too. Accept both.
        signing_cert_url=data.get("SigningCertURL") or data.get("SigningCertUrl"),
        unsubscribe_url=data.get("UnsubscribeURL") or data.get("UnsubscribeUrl"),
    )
