"""Moving messages from a dead-letter queue back to its source queue.

moto does not implement StartMessageMoveTask, and Flowdash must work the same
on every backend, so the move is receive, send, delete, batch by batch, in the
one order that loses nothing: a message is deleted from the DLQ only after it
was sent to the source. What makes it exactly-once is the journal: the id of
every DLQ message is recorded once it was sent, before it is deleted. If the
move is interrupted between the two, the message reappears in the DLQ after
``visibility_timeout``, and the next run finds it in the journal and only
deletes it. The one window a journal cannot close is a crash after a send
returned and before its entry was written; FIFO sends carry the original id as
deduplication id, which closes it for FIFO queues (within SQS's 5 minutes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from .connection import Connection
from .errors import InvalidInput, aws_errors
from .publishing import message_options
from .receiving import ReceivedMessage, queue_receive
from .resources import Queue
from .validation import BATCH_MAX

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef


class Journal(Protocol):
    def sent(self, message_id: str) -> bool: ...

    def record(self, message_id: str) -> None: ...


class MemoryJournal:
    def __init__(self) -> None:
        self.ids: set[str] = set()

    def sent(self, message_id: str) -> bool:
        return message_id in self.ids

    def record(self, message_id: str) -> None:
        self.ids.add(message_id)


@dataclass(slots=True)
class RedriveResult:
    moved: int = 0
    resent_skipped: int = 0


def redrive_run(
    conn: Connection,
    *,
    dead_letter: Queue,
    source: Queue,
    journal: Journal,
    limit: int | None = None,
    visibility_timeout: int = 30,
    progress: Callable[[RedriveResult], None] = lambda result: None,
) -> RedriveResult:
    """Move up to ``limit`` messages (all when None) from ``dead_letter`` to ``source``."""
    conn.write_check()
    if source.dead_letter_arn != dead_letter.arn:
        raise InvalidInput(
            f"{dead_letter.name} is not the dead-letter queue of {source.name}.", field="source"
        )
    result = RedriveResult()
    while limit is None or result.moved < limit:
        want = BATCH_MAX if limit is None else min(BATCH_MAX, limit - result.moved)
        batch = queue_receive(
            conn, queue_url=dead_letter.url, max_messages=want,
            visibility_timeout=visibility_timeout,
        )  # fmt: skip
        if not batch:
            break
        fresh = [m for m in batch if not journal.sent(m.message_id)]
        result.resent_skipped += len(batch) - len(fresh)
        if fresh:
            _send(conn, source, fresh, journal)
        _delete(conn, dead_letter, batch)
        result.moved += len(fresh)
        progress(result)
    return result


def _send(
    conn: Connection, source: Queue, messages: list[ReceivedMessage], journal: Journal
) -> None:
    entries: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        group, dedup = (
            (m.message_group_id or "redrive", m.message_id) if source.fifo else (None, None)
        )
        options = message_options(m.message_attributes, group, dedup)
        entries.append({"Id": str(i), "MessageBody": m.body, **options})
    with aws_errors(field="source"):
        response = conn.sqs.send_message_batch(
            QueueUrl=source.url,
            # message_options gives SendMessage's own parameters, as a plain dict.
            Entries=cast("list[SendMessageBatchRequestEntryTypeDef]", entries),
        )
    for ok in response.get("Successful", []):
        journal.record(messages[int(ok["Id"])].message_id)
    if response.get("Failed"):
        failure = response["Failed"][0]
        raise InvalidInput(
            f"Could not send {len(response['Failed'])} message(s) back: {failure.get('Message')}",
            field="source",
        )


def _delete(conn: Connection, dead_letter: Queue, messages: list[ReceivedMessage]) -> None:
    with aws_errors(field="dead_letter"):
        conn.sqs.delete_message_batch(
            QueueUrl=dead_letter.url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)
            ],
        )
