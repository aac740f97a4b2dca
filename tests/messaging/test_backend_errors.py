"""What users see when the backend fails: endpoint down, access denied, throttling.

No AWS account is available to tests, so a small HTTP server on loopback answers
every request with the error AWS sends, in AWS's own wire formats (query/XML for
SNS, JSON for SQS). Everything from boto3's request, its retries and its error
parsing to Flowdash's mapping runs for real.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from messaging import publishing, resources
from messaging.config import BackendConfig
from messaging.connection import Connection
from messaging.errors import AccessDenied, BackendUnavailable, Throttled


class AwsErrorServer(ThreadingHTTPServer):
    def __init__(self, code: str, status: int) -> None:
        super().__init__(("127.0.0.1", 0), AwsErrorHandler)
        self.code = code
        self.status = status
        self.requests = 0


class AwsErrorHandler(BaseHTTPRequestHandler):
    server: AwsErrorServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        code, status = self.server.code, self.server.status
        if self.headers.get("X-Amz-Target"):  # SQS speaks JSON
            body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": "no"}).encode()
            content_type = "application/x-amz-json-1.0"
        else:  # SNS speaks the query protocol
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def error_server(request: pytest.FixtureRequest) -> Iterator[AwsErrorServer]:
    code, status = request.param
    server = AwsErrorServer(code, status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def connect(url: str) -> Connection:
    return Connection(BackendConfig(backend="endpoint", endpoint_url=url))


@pytest.mark.parametrize("error_server", [("AuthorizationError", 403)], indirect=True)
def test_access_denied_on_sns(error_server: AwsErrorServer) -> None:
    conn = connect(f"http://127.0.0.1:{error_server.server_address[1]}")
    with pytest.raises(AccessDenied) as info:
        resources.topic_create(conn, name="orders")
    assert info.value.status == 403
    assert info.value.message.startswith("AWS denied access (AuthorizationError)")


@pytest.mark.parametrize("error_server", [("AccessDenied", 403)], indirect=True)
def test_access_denied_on_sqs(error_server: AwsErrorServer) -> None:
    conn = connect(f"http://127.0.0.1:{error_server.server_address[1]}")
    with pytest.raises(AccessDenied):
        resources.queue_list(conn)


@pytest.mark.parametrize("error_server", [("Throttling", 400)], indirect=True)
def test_throttling_is_retried_then_reported(error_server: AwsErrorServer) -> None:
    conn = connect(f"http://127.0.0.1:{error_server.server_address[1]}")
    with pytest.raises(Throttled) as info:
        publishing.topic_publish(
            conn, topic_arn="arn:aws:sns:us-east-1:123456789012:orders", body="x"
        )
    assert info.value.status == 429
    assert "try again shortly" in info.value.message
    assert error_server.requests == 3  # botocore's standard retry mode tried three times
    assert conn.requests.snapshot() == {"sns.Publish": 3}


def test_endpoint_down() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = connect(f"http://127.0.0.1:{port}")
    with pytest.raises(BackendUnavailable) as info:
        resources.topic_list(conn)
    assert info.value.status == 503
    assert "did not answer" in info.value.message
