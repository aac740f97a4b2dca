"""A small Celery application on kombu's SQS transport, for tests/clients/test_celery.py.

The worker (``celery -A tests.clients.celery_app worker``, a subprocess) reads its
broker from the environment; the test process, which only sends tasks, calls
``configure`` with the embedded moto's URL. kombu's SQS transport takes the
endpoint from the broker URL's host and port (``Channel.endpoint_url``), with
``is_secure`` False for plain HTTP. No result backend: the test sees the work
through ``/ws/flow/`` and through a journal file (JSON lines): each task run
appends ``{"task": n}``, and each CreateQueue kombu makes appends ``{"created":
<queue URL>, "at": <Unix time the call returned>}``, so the test can measure how
soon the queue appeared on the socket. That stamp is a botocore ``after-call``
hook on the clients kombu creates; it changes nothing kombu sends.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery

#: Where the embedded moto listens, e.g. ``http://127.0.0.1:5001``.
ENDPOINT_VARIABLE = "OUTSIDE_MOTO_URL"
QUEUE_VARIABLE = "OUTSIDE_CELERY_QUEUE"
JOURNAL_VARIABLE = "OUTSIDE_CELERY_JOURNAL"

app = Celery("outside")


def configure(endpoint: str, queue: str) -> None:
    netloc = urlsplit(endpoint).netloc
    app.conf.update(
        broker_url=f"sqs://test:test@{netloc}",
        broker_transport_options={
            "region": "us-east-1",
            "is_secure": False,
            # Short polls and waits, so the worker notices work and shutdown quickly.
            "wait_time_seconds": 1,
            "polling_interval": 0.1,
            "visibility_timeout": 60,
        },
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        task_ignore_result=True,
        result_backend=None,
        # Control, events and gossip need fanout exchanges; SQS has none by default.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_prefetch_multiplier=1,
    )


def _journal(entry: dict[str, Any]) -> None:
    journal = os.environ.get(JOURNAL_VARIABLE)
    if journal:
        with Path(journal).open("a") as out:
            out.write(json.dumps(entry) + "\n")


def _queue_created(parsed: dict[str, Any], **_: Any) -> None:
    _journal({"created": parsed.get("QueueUrl"), "at": time.time()})


def _stamp_queue_creation() -> None:
    """Journal when each CreateQueue of kombu's SQS clients returns."""
    from kombu.transport.SQS import Channel

    original = Channel.new_sqs_client
    if getattr(original, "stamped", False):
        return

    def new_sqs_client(self: Channel, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("after-call.sqs.CreateQueue", _queue_created)
        return client

    new_sqs_client.stamped = True  # type: ignore[attr-defined]
    Channel.new_sqs_client = new_sqs_client  # type: ignore[method-assign]


_stamp_queue_creation()

if os.environ.get(ENDPOINT_VARIABLE):
    configure(os.environ[ENDPOINT_VARIABLE], os.environ.get(QUEUE_VARIABLE, "outside-celery"))


@app.task(name="outside.record")
def record(n: int) -> int:
    """Journal that task ``n`` ran."""
    _journal({"task": n, "pid": os.getpid()})
    return n
