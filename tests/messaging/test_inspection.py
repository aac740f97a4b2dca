"""Looking inside queues without stealing messages, and moving messages out of a DLQ."""

from __future__ import annotations

import time

import pytest

from messaging import publishing, resources
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.inspection import inspector_kind, queue_inspect, queue_receive_and_return
from messaging.redrive import MemoryJournal, redrive_run


@pytest.fixture
def embedded(moto_url: str) -> Connection:
    """The embedded backend: moto in this very process (the test's moto server is)."""
    return Connection(BackendConfig(backend="embedded"), endpoint_url=moto_url)


def receive_counts(conn: Connection, url: str) -> dict[str, int]:
    """ApproximateReceiveCount of every message, read the only way AWS allows (a receive)."""
    got = publishing.queue_receive(conn, queue_url=url, visibility_timeout=0)
    return {m.message_id: m.receive_count for m in got}


def test_inspector_sees_every_state_and_changes_nothing(embedded: Connection) -> None:
    conn = embedded
    assert inspector_kind(conn) == "embedded"
    queue = resources.queue_create(conn, name="work", new_dead_letter_queue="work-dlq")
    for n in range(3):
        publishing.queue_send(conn, queue_url=queue.url, body=f"m{n}")
    publishing.queue_send(conn, queue_url=queue.url, body="later", delay_seconds=60)
    (taken,) = publishing.queue_receive(
        conn, queue_url=queue.url, max_messages=1, visibility_timeout=120
    )
    before = [
        (m.message_id, m.receive_count, m.state) for m in queue_inspect(conn, queue=queue).messages
    ]
    view = queue_inspect(conn, queue=queue)
    assert view.kind == "embedded"
    assert view.counts == {"visible": 2, "in_flight": 1, "delayed": 1}
    (in_flight,) = [m for m in view.messages if m.state == "in_flight"]
    assert in_flight.message_id == taken.message_id and in_flight.receive_count == 1
    assert in_flight.visible_at and 110_000 < in_flight.visible_at - view.now_ms <= 120_000
    (delayed,) = [m for m in view.messages if m.state == "delayed"]
    assert delayed.body == "later" and delayed.delayed_until
    assert view.max_receive_count == 5 and view.dead_letter_arn == queue.dead_letter_arn
    # Looking again changed nothing: same receive counts, same states.
    after = [
        (m.message_id, m.receive_count, m.state) for m in queue_inspect(conn, queue=queue).messages
    ]
    assert before == after
    depth = resources.queue_get(conn, url=queue.url).depth
    assert (depth.visible, depth.in_flight, depth.delayed) == (2, 1, 1)
    # And SQS itself agrees: the visible ones were never received.
    assert sorted(receive_counts(conn, queue.url).values()) == [1, 1]


def test_fifo_lanes_and_locked_group(embedded: Connection) -> None:
    conn = embedded
    queue = resources.queue_create(
        conn, name="jobs.fifo", fifo=True, content_based_deduplication=True
    )
    for group, body in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2")]:
        publishing.queue_send(conn, queue_url=queue.url, body=body, message_group_id=group)
    publishing.queue_receive(conn, queue_url=queue.url, max_messages=1, visibility_timeout=60)
    view = queue_inspect(conn, queue=queue)
    bodies = {m.message_id: m.body for m in view.messages}
    assert {g: [bodies[i] for i in ids] for g, ids in view.lanes.items()} == {
        "a": ["a1", "a2"],
        "b": ["b1", "b2"],
    }
    assert view.locked_groups == ["a"]


def test_receive_based_view_is_explicit_and_raises_counts(moto_url: str) -> None:
    conn = Connection(BackendConfig(backend="endpoint", endpoint_url=moto_url))
    assert inspector_kind(conn) == "receive"
    queue = resources.queue_create(conn, name="work")
    publishing.queue_send(conn, queue_url=queue.url, body="x")
    assert queue_inspect(conn, queue=queue).messages == []  # never receives by itself
    view = queue_receive_and_return(conn, queue=queue)
    assert [m.receive_count for m in view.messages] == [1]
    assert "receive count" in view.note
    # Returned at once: visible again, count raised.
    assert list(receive_counts(conn, queue.url).values()) == [2]


def make_dead_letters(conn: Connection, count: int) -> tuple[resources.Queue, resources.Queue]:
    source = resources.queue_create(
        conn, name="orders", visibility_timeout=0, new_dead_letter_queue="orders-dlq",
        max_receive_count=1,
    )  # fmt: skip
    for n in range(count):
        publishing.queue_send(conn, queue_url=source.url, body=f"order {n}")
    publishing.queue_receive(conn, queue_url=source.url, visibility_timeout=0)
    publishing.queue_receive(conn, queue_url=source.url, visibility_timeout=0)  # moves to DLQ
    dlq = resources.queue_get(conn, url=resources.queue_url(conn, arn=source.dead_letter_arn or ""))
    while dlq.depth.visible < count:
        publishing.queue_receive(conn, queue_url=source.url, visibility_timeout=0)
        dlq = resources.queue_get(conn, url=dlq.url)
    return source, dlq


def bodies(conn: Connection, queue: resources.Queue) -> list[str]:
    return sorted(m.body for m in queue_inspect(conn, queue=queue).messages)


def test_redrive_moves_each_message_exactly_once(embedded: Connection) -> None:
    conn = embedded
    source, dlq = make_dead_letters(conn, 7)
    seen = []
    result = redrive_run(
        conn, dead_letter=dlq, source=source, journal=MemoryJournal(),
        progress=lambda r: seen.append(r.moved),
    )  # fmt: skip
    assert result.moved == 7 and seen[-1] == 7
    assert bodies(conn, source) == sorted(f"order {n}" for n in range(7))
    assert bodies(conn, dlq) == []


class CrashAfterRecording(MemoryJournal):
    """The process dies after a batch was sent and journaled, before the DLQ delete.

    (A crash between a send returning and its journal entry is the one window a
    journal cannot close; FIFO sources close it with the deduplication id.)"""

    def __init__(self, crash_after: int) -> None:
        super().__init__()
        self.crash_after = crash_after

    def record(self, message_id: str) -> None:
        super().record(message_id)
        if len(self.ids) == self.crash_after:
            raise KeyboardInterrupt("power cut")


def test_interrupted_redrive_neither_loses_nor_duplicates(embedded: Connection) -> None:
    conn = embedded
    source, dlq = make_dead_letters(conn, 15)
    journal = CrashAfterRecording(crash_after=10)
    with pytest.raises(KeyboardInterrupt):
        redrive_run(conn, dead_letter=dlq, source=source, journal=journal, visibility_timeout=1)
    assert len(bodies(conn, source)) == 10  # sent, but still in the DLQ too: not deleted yet
    assert len(bodies(conn, dlq)) == 15
    time.sleep(1.1)  # the interrupted batch becomes visible in the DLQ again
    journal.crash_after = -1
    result = redrive_run(conn, dead_letter=dlq, source=source, journal=journal)
    assert result.moved == 5 and result.resent_skipped == 10
    assert bodies(conn, source) == sorted(f"order {n}" for n in range(15))
    assert bodies(conn, dlq) == []
