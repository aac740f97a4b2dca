"""SNS and SQS input rules, checked before anything is sent to AWS.

Checking here rather than relying on the backend's answer gives one clear
message per field whatever the backend is (moto, LocalStack and AWS word their
errors differently, and moto accepts some input AWS refuses), and means a
refused request never leaves a half-created resource behind.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidInput

QUEUE_NAME_MAX = 80
TOPIC_NAME_MAX = 256
NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
FIFO_SUFFIX = ".fifo"

SNS_MAX_MESSAGE_BYTES = 256 * 1024
SQS_MAX_MESSAGE_BYTES = 1024 * 1024
MAX_MESSAGE_ATTRIBUTES = 10
SUBJECT_MAX = 100
GROUP_ID_MAX = 128
DEDUP_ID_MAX = 128
GROUP_ID_RE = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]+$")

VISIBILITY_TIMEOUT_MAX = 12 * 60 * 60
DELAY_SECONDS_MAX = 15 * 60
RETENTION_MIN = 60
RETENTION_MAX = 14 * 24 * 60 * 60
RECEIVE_WAIT_MAX = 20
MAX_RECEIVE_COUNT_MAX = 1000
BATCH_MAX = 10

ATTRIBUTE_TYPES = ("String", "Number", "String.Array", "Binary")
ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
# SQS message bodies may hold only these characters (the XML 1.0 set).
INVALID_BODY_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def resource_name_validate(name: str, *, kind: str, fifo: bool, field: str = "name") -> str:
    """Check a queue or topic name; FIFO names must end in ``.fifo``, others must not."""
    limit = QUEUE_NAME_MAX if kind == "queue" else TOPIC_NAME_MAX
    if not name:
        raise InvalidInput(f"Enter a {kind} name.", field=field)
    if len(name) > limit:
        raise InvalidInput(
            f"A {kind} name can be at most {limit} characters; this one has {len(name)}.",
            field=field,
        )
    stem = name[: -len(FIFO_SUFFIX)] if name.endswith(FIFO_SUFFIX) else name
    if fifo and not name.endswith(FIFO_SUFFIX):
        raise InvalidInput(f"A FIFO {kind} name must end in '.fifo'.", field=field)
    if not fifo and name.endswith(FIFO_SUFFIX):
        raise InvalidInput(
            f"Only FIFO {kind}s may end in '.fifo'; tick FIFO or rename it.", field=field
        )
    if not stem or not NAME_RE.match(stem):
        raise InvalidInput(
            f"A {kind} name may contain only letters, digits, '-' and '_'"
            + (" (before '.fifo')." if fifo else "."),
            field=field,
        )
    return name


def int_in_range(value: int | None, *, field: str, low: int, high: int, what: str) -> None:
    if value is not None and not low <= value <= high:
        raise InvalidInput(f"{what} must be between {low} and {high}; got {value}.", field=field)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageAttribute:
    """One typed message attribute as a user enters it (Binary as base64 text)."""

    name: str
    type: str
    value: str

    def to_aws(self) -> dict[str, object]:
        if self.type.startswith("Binary"):
            return {"DataType": self.type, "BinaryValue": base64.b64decode(self.value)}
        return {"DataType": self.type, "StringValue": self.value}

    @property
    def size(self) -> int:
        """Bytes AWS counts towards the message size: name, type and value."""
        value_bytes = (
            len(base64.b64decode(self.value))
            if self.type.startswith("Binary")
            else len(self.value.encode())
        )
        return len(self.name.encode()) + len(self.type.encode()) + value_bytes


def message_attributes_validate(attributes: Iterable[MessageAttribute]) -> list[MessageAttribute]:
    attrs = list(attributes)
    if len(attrs) > MAX_MESSAGE_ATTRIBUTES:
        raise InvalidInput(
            f"A message can carry at most {MAX_MESSAGE_ATTRIBUTES} attributes; "
            f"this one has {len(attrs)}.",
            field="attributes",
        )
    seen: set[str] = set()
    for attr in attrs:
        name = attr.name
        if not ATTRIBUTE_NAME_RE.match(name) or name.startswith(".") or name.endswith("."):
            raise InvalidInput(
                f"Attribute name {name!r} is invalid: use 1-256 letters, digits, '_', '-' "
                "and '.', not starting or ending with '.'.",
                field="attributes",
            )
        if ".." in name or name.lower().startswith(("aws.", "amazon.")):
            raise InvalidInput(
                f"Attribute name {name!r} is reserved or contains '..'.", field="attributes"
            )
        if name in seen:
            raise InvalidInput(f"Attribute {name!r} is given twice.", field="attributes")
        seen.add(name)
        base_type = attr.type.split(".", 1)[0] if attr.type != "String.Array" else attr.type
        if base_type not in ATTRIBUTE_TYPES:
            raise InvalidInput(
                f"Attribute {name!r} has type {attr.type!r}; use one of "
                f"{', '.join(ATTRIBUTE_TYPES)}.",
                field="attributes",
            )
        if attr.value == "":
            raise InvalidInput(f"Attribute {name!r} needs a value.", field="attributes")
        _attribute_value_validate(attr, base_type)
    return attrs


def _attribute_value_validate(attr: MessageAttribute, base_type: str) -> None:
    if base_type == "Number":
        try:
            number = float(attr.value)
        except ValueError:
            raise InvalidInput(
                f"Attribute {attr.name!r} is a Number but {attr.value!r} is not a number.",
                field="attributes",
            ) from None
        if number != number or abs(number) > 1e9:  # NaN, or outside SNS's numeric range
            raise InvalidInput(
                f"Attribute {attr.name!r}: numbers must be between -1e9 and 1e9.",
                field="attributes",
            )
    elif base_type == "String.Array":
        try:
            parsed = json.loads(attr.value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or any(isinstance(v, dict | list) for v in parsed):
            raise InvalidInput(
                f"Attribute {attr.name!r} is a String.Array: give a JSON array of strings, "
                'numbers, true/false or null, such as ["red", 5].',
                field="attributes",
            )
    elif base_type == "Binary":
        try:
            base64.b64decode(attr.value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"Attribute {attr.name!r} is Binary: give its value as base64.",
                field="attributes",
            ) from None


def body_validate(body: str, *, limit: int, attributes: Iterable[MessageAttribute] = ()) -> None:
    if body == "":
        raise InvalidInput("The message body must not be empty.", field="body")
    if INVALID_BODY_CHARS.search(body):
        raise InvalidInput(
            "The message body contains characters SQS does not allow (control characters).",
            field="body",
        )
    size = len(body.encode()) + sum(a.size for a in attributes)
    if size > limit:
        raise InvalidInput(
            f"The message is {size:,} bytes with its attributes; the limit is "
            f"{limit:,} bytes ({limit // 1024} KiB).",
            field="body",
        )


def subject_validate(subject: str | None) -> None:
    if not subject:
        return
    if len(subject) > SUBJECT_MAX:
        raise InvalidInput(f"A subject can be at most {SUBJECT_MAX} characters.", field="subject")
    if not subject.isascii() or any(c in subject for c in "\r\n") or not subject[0].isprintable():
        raise InvalidInput(
            "A subject must be ASCII text on one line, starting with a letter, digit or "
            "punctuation.",
            field="subject",
        )


def fifo_ids_validate(
    *,
    fifo: bool,
    message_group_id: str | None,
    deduplication_id: str | None,
    content_based_deduplication: bool,
    kind: str,
) -> None:
    """FIFO sends need a group id, and a dedup id unless content-based dedup is on."""
    if not fifo:
        if deduplication_id:
            raise InvalidInput(
                f"A deduplication id only applies to FIFO {kind}s.", field="deduplication_id"
            )
        return
    if not message_group_id:
        raise InvalidInput(f"A FIFO {kind} needs a message group id.", field="message_group_id")
    for value, field, limit in (
        (message_group_id, "message_group_id", GROUP_ID_MAX),
        (deduplication_id, "deduplication_id", DEDUP_ID_MAX),
    ):
        if value and (len(value) > limit or not GROUP_ID_RE.match(value)):
            raise InvalidInput(
                f"Use at most {limit} letters, digits and punctuation, no spaces.", field=field
            )
    if not deduplication_id and not content_based_deduplication:
        raise InvalidInput(
            f"This FIFO {kind} has no content-based deduplication: give a deduplication id.",
            field="deduplication_id",
        )
