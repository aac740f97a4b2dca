"""What users see when the backend breaks: a 5xx, or an answer botocore cannot read.

A small HTTP server on loopback (as in tests/messaging/test_backend_errors.py) answers
every request with one scripted answer: moto's HTML 500 page, garbage with HTTP 200, a
proxy's 503/502/404 page, JSON that is no AWS error, or AWS's own InternalFailure.
boto3's request, retries and parsing run for real; Flowdash must turn each into
``BackendFailed`` in messaging and into the JSON error shape with status 502 in the API,
never an HTML page, never the backend's text, and never a claimed delivery.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.parsers import ResponseParserError
from django.contrib.auth.models import User
from django.test import Client

from dashboard.api import errors as dashboard_api
from dashboard.backend import connection
from dashboard.models import FlowEventRecord
from messaging import publishing, resources
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.errors import (
    BACKEND_FAILED,
    UNREADABLE_ANSWER,
    UNREADABLE_CODE,
    BackendFailed,
)

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:orders"
#: What moto's server (werkzeug) sends when Publish raises inside moto.
MOTO_500_PAGE = (
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1>\n<p>TypeError: secret-in-traceback</p>\n"
)


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP answer; ``aws_code`` answers in AWS's error wire formats instead."""

    status: int
    content_type: str = ""
    body: bytes = b""
    aws_code: str = ""


ANSWERS = {
    "html-500": Answer(500, "text/html; charset=utf-8", MOTO_500_PAGE),
    # Not UTF-8: botocore's XML parser raises ResponseParserError, its JSON one UnicodeDecodeError.
    "binary-200": Answer(200, "application/octet-stream", b"\x00\xff\xfe not XML { nor JSON <"),
    # Plain text: botocore's JSON parser (SQS) accepts it and returns no QueueUrl at all.
    "text-200": Answer(200, "text/plain", b"Welcome to nginx! This is not SNS or SQS."),
    "html-503": Answer(503, "text/html", b"<html><body>Service Unavailable</body></html>"),
    "aws-500": Answer(500, aws_code="InternalFailure"),
    # Well-formed XHTML parses as XML: SNS sees an error without <Code> ("Unknown").
    "xhtml-502": Answer(502, "text/html", b"<!DOCTYPE html><html>Bad gateway</html>"),
    "xhtml-404": Answer(404, "text/html", b"<html><body>Not Found</body></html>"),
    # JSON, but no AWS error: SQS sees code "400" with no "__type".
    "json-400": Answer(400, "application/json", b'{"message": "secret-in-body"}'),
}

#: What each answer becomes: (code, message), the same for SNS (query/XML) and SQS (JSON).
EXPECTED = {
    "html-500": ("500", BACKEND_FAILED.format(reason="HTTP 500")),
    "binary-200": (UNREADABLE_CODE, UNREADABLE_ANSWER),
    "text-200": (UNREADABLE_CODE, UNREADABLE_ANSWER),
    "html-503": ("503", BACKEND_FAILED.format(reason="HTTP 503")),
    "aws-500": ("InternalFailure", BACKEND_FAILED.format(reason="HTTP 500, InternalFailure")),
    "xhtml-502": ("502", BACKEND_FAILED.format(reason="HTTP 502")),
    "xhtml-404": (UNREADABLE_CODE, UNREADABLE_ANSWER),
    "json-400": (UNREADABLE_CODE, UNREADABLE_ANSWER),
}


class ScriptedServer(ThreadingHTTPServer):
    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.name = name
        self.answer = ANSWERS[name]
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        answer = self.server.answer
        body, content_type = answer.body, answer.content_type
        if answer.aws_code and self.headers.get("X-Amz-Target"):  # SQS speaks JSON
            body = json.dumps({"__type": f"com.amazonaws.sqs#{answer.aws_code}"}).encode()
            content_type = "application/x-amz-json-1.0"
        elif answer.aws_code:  # SNS speaks the query protocol
            body = (
                f"<ErrorResponse><Error><Type>Receiver</Type><Code>{answer.aws_code}</Code>"
                f"<Message>secret-in-message</Message></Error><RequestId>r</RequestId>"
                f"</ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        self.send_response(answer.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=list(ANSWERS))
def broken(request: pytest.FixtureRequest) -> Iterator[ScriptedServer]:
    server = ScriptedServer(request.param)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def assert_backend_failed(exc: BackendFailed, answer: str) -> None:
    code, message = EXPECTED[answer]
    assert (exc.status, exc.code, exc.message, exc.field) == (502, code, message, None)
    assert "secret" not in exc.message and "<" not in exc.message


# messaging: every call ends in BackendFailed ----------------------------------------


def test_messaging_calls_raise_backend_failed(broken: ScriptedServer) -> None:
    conn = Connection(BackendConfig(backend="endpoint", endpoint_url=broken.url))
    told: list[str] = []
    conn.on_change(lambda kind, details: told.append(kind))
    started = time.monotonic()
    calls = {
        "publish": lambda: publishing.topic_publish(conn, topic_arn=TOPIC_ARN, body="x"),
        "topic_list": lambda: resources.topic_list(conn),
        "queue_create": lambda: resources.queue_create(conn, name="orders"),
    }
    for name, call in calls.items():
        with pytest.raises(BackendFailed) as info:
            call()
        assert_backend_failed(info.value, broken.name)
        assert info.value.__cause__ is not None, name  # the botocore failure, for the log
    assert told == []  # nothing claims a change or a delivery that did not happen
    # botocore retries a 5xx it could parse (3 attempts, 50 ms base backoff): still fast.
    assert time.monotonic() - started < 5


def test_a_parser_error_is_not_retried_but_a_json_5xx_is() -> None:
    """Worth knowing: an unparseable SNS 500 fails on the first attempt (botocore's retry
    handler never sees a 500, only a ResponseParserError); SQS's JSON parser reads any
    body, so the same page arrives as ClientError "500" after three attempts."""
    server = ScriptedServer("html-500")
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        conn = Connection(BackendConfig(backend="endpoint", endpoint_url=server.url))
        with pytest.raises(BackendFailed) as info:
            resources.topic_list(conn)
        assert isinstance(info.value.__cause__, ResponseParserError)
        assert conn.requests.snapshot() == {"sns.ListTopics": 1}
        with pytest.raises(BackendFailed):
            resources.queue_list(conn)
        assert conn.requests.snapshot() == {"sns.ListTopics": 1, "sqs.ListQueues": 3}
    finally:
        server.shutdown()
        server.server_close()


# API: the JSON error shape with 502, never HTML -------------------------------------


@pytest.fixture
def instructor_client(settings, broken: ScriptedServer, db) -> Client:
    """A logged-in instructor's browser, with Flowdash pointed at the broken backend."""
    settings.FLOWDASH_BACKEND = BackendConfig(backend="endpoint", endpoint_url=broken.url)
    client = Client()  # raises any exception that escapes Django: none may
    client.force_login(User.objects.create_superuser("teacher", password="pw-for-tests"))
    return client


def assert_json_error(response, status: int, code: str, message: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {"error": {"code": code, "message": message, "field": None}}
    assert b"<html" not in response.content.lower() and b"secret" not in response.content


@pytest.mark.django_db
def test_api_answers_502_json(broken: ScriptedServer, instructor_client: Client) -> None:
    told: list[str] = []
    connection().on_change(lambda kind, details: told.append(kind))
    code, message = EXPECTED[broken.name]
    responses = {
        "publish": instructor_client.post(
            f"/api/topics/{TOPIC_ARN}/publish", {"body": "x"}, content_type="application/json"
        ),
        "queue_create": instructor_client.post(
            "/api/queues", {"name": "orders"}, content_type="application/json"
        ),
        "topic_list": instructor_client.get("/api/topics"),
    }
    for name, response in responses.items():
        assert response.status_code == 502, (name, response.content[:200])
        assert_json_error(response, 502, code, message)
    assert told == []
    assert not FlowEventRecord.objects.exists()  # no event claims a delivery


@pytest.mark.django_db
@pytest.mark.parametrize("broken", ["html-500"], indirect=True)
def test_unexpected_exception_becomes_500_json(
    broken: ScriptedServer, instructor_client: Client, monkeypatch, caplog
) -> None:
    """A botocore exception that slipped past ``aws_errors`` (or any other bug) still
    gets the one shape: status 500, a generic message, the details in the log only."""

    def slipped(conn: Connection) -> None:
        raise ResponseParserError("Unable to parse response: b'token=secret-in-exception'")

    monkeypatch.setattr(resources, "topic_list", slipped)
    with caplog.at_level(logging.ERROR, logger="dashboard.api"):
        response = instructor_client.get("/api/topics")
    assert_json_error(response, 500, "InternalError", dashboard_api.UNEXPECTED_ERROR)
    [record] = [r for r in caplog.records if r.name == "dashboard.api"]
    assert record.exc_info and isinstance(record.exc_info[1], ResponseParserError)
