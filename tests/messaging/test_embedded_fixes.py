"""moto's FIFO order after a lapsed visibility timeout, corrected for the embedded backend."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from messaging.connection import Connection
from messaging.embedded import fixes as moto_fixes
from messaging.embedded import version


@pytest.fixture
def fixes() -> Iterator[None]:
    """Request it first: it must re-apply after monkeypatch has undone its patches."""
    yield
    moto_fixes.fixes_apply()  # the embedded server runs with them


def lapsed_group_order(conn: Connection) -> list[str]:
    url = conn.sqs.create_queue(
        QueueName="j.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "VisibilityTimeout": "1",
        },
    )["QueueUrl"]
    for n in range(3):
        for group in "ab":
            conn.sqs.send_message(QueueUrl=url, MessageBody=f"{group}{n}", MessageGroupId=group)
    first = conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["a0", "b0", "a1", "b1", "a2", "b2"]
    conn.sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(first)
            if m["Body"].startswith("a")
        ],
    )
    time.sleep(1.1)  # group b's visibility lapses
    again = conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return [m["Body"] for m in again]


def test_lapsed_group_comes_back_from_its_oldest_message(conn: Connection, fixes) -> None:
    assert moto_fixes.fixes_apply()
    assert lapsed_group_order(conn) == ["b0", "b1", "b2"]


def test_stock_moto_still_has_the_bug(conn: Connection, fixes) -> None:
    """When this fails, moto fixed it upstream: drop the correction."""
    moto_fixes.fixes_revert()
    assert lapsed_group_order(conn) == ["b2"]


def test_unchecked_moto_version_runs_as_it_is(fixes, monkeypatch, caplog) -> None:
    moto_fixes.fixes_revert()
    monkeypatch.setattr(version, "moto_version", lambda: "9.9.9")
    assert moto_fixes.fixes_apply() is False
    assert "not one Flowdash's corrections" in caplog.text


def test_concurrent_receives_do_not_trip_over_the_fix(conn: Connection, fixes, caplog) -> None:
    """Workers receive from one queue in parallel threads; the fix reads the queue's
    pending set while other receives change it, and must not fail them (it did: a
    500 and a retry, 'Set changed size during iteration'), and deletes must not
    drop messages sent meanwhile."""
    url = conn.sqs.create_queue(QueueName="shared")["QueueUrl"]
    for start in range(0, 1500, 10):
        conn.sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)],
        )

    taken: Counter[str] = Counter()

    def drain() -> None:
        while messages := conn.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            taken.update(m["Body"] for m in messages)
            conn.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(messages)
                ],
            )

    with caplog.at_level(logging.ERROR), ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: drain(), range(6)))
    # Nothing lost. (A message handed out twice is still seen at times once other tests
    # have run in this process; SQS's standard queues are at-least-once too.)
    assert len(taken) == 1500
    assert "changed size during iteration" not in caplog.text
