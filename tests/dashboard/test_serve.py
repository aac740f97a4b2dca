"""`manage.py serve` as `make run` starts it: a real process, real HTTP, real moto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.live import ROOT, flowdash_served, free_port, login


def read_until(lines: queue.Queue[str], pattern: str, timeout: float = 60) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_serve_starts_embedded_moto_and_the_dashboard(tmp_path: Path) -> None:
    port, moto_port = free_port(), free_port()
    env = {
        **os.environ,
        "FLOWDASH_VAR_DIR": str(tmp_path),
        "FLOWDASH_BACKEND": "embedded",
        "FLOWDASH_MOTO_PORT": str(moto_port),
        "FLOWDASH_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    proc = subprocess.Popen(
        [python, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        banner = "".join(read_until(lines, "Press Ctrl-C"))
        assert f"Flowdash dashboard: http://127.0.0.1:{port}/" in banner
        endpoint = f"http://127.0.0.1:{moto_port}"
        assert f"AWS endpoint: {endpoint}" in banner
        assert f"--endpoint-url {endpoint} sns list-topics" in banner
        password = re.search(r"Log in as 'instructor' with password: (\S+)", banner)
        assert password, banner
        base = f"http://127.0.0.1:{port}"
        read_until_listening(base)

        health = httpx.get(f"{base}/healthz").json()
        assert health["backend"] == "embedded" and health["endpoint_url"] == endpoint
        assert health["moto_fastpath"] is True and health["moto_inprocess"] is True

        with httpx.Client(base_url=base, follow_redirects=False) as browser:
            browser.get("/login/")
            login = browser.post(
                "/login/",
                data={
                    "username": "instructor",
                    "password": password.group(1),
                    "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                },
                headers={"Referer": f"{base}/login/"},
            )
            assert login.status_code == 302, login.text
            created = browser.post(
                "/topics/",
                data={"name": "from-the-page", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
                headers={"Referer": f"{base}/topics/"},
            )
            assert created.status_code == 302

            # The same moto server answers the AWS CLI / boto3 on its loopback port.
            sns = boto3.client(
                "sns", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="x", aws_secret_access_key="x",
            )  # fmt: skip
            arns = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
            assert [a.rsplit(":", 1)[-1] for a in arns] == ["from-the-page"]
            sns.create_topic(Name="from-the-cli")
            assert "from-the-cli" in browser.get("/topics/").text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    read_until(lines, "Flowdash stopped", timeout=5)


def read_until_listening(base: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{base} never answered")


def test_sns_http_delivery_reaches_the_own_receiver(tmp_path: Path) -> None:
    """Publish (a sync view) -> moto POSTs to /hooks/sns/ inside Publish -> stored: no deadlock."""
    port, moto_port = free_port(), free_port()
    env = {
        **os.environ, "FLOWDASH_VAR_DIR": str(tmp_path), "FLOWDASH_BACKEND": "embedded",
        "FLOWDASH_MOTO_PORT": str(moto_port), "FLOWDASH_PORT": str(port), "PYTHONUNBUFFERED": "1",
        # Stock moto here: the HTTP delivery path must work without the fast path too.
        "FLOWDASH_MOTO_FASTPATH": "0",
    }  # fmt: skip
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    run("migrate", "--noinput")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        read_until_listening(base)
        assert httpx.get(f"{base}/healthz").json()["moto_fastpath"] is False
        token = run("apitoken", "instructor").strip()
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20)
        topic = api.post("/api/topics", json={"name": "hooks"}).json()
        sub = api.post(
            "/api/subscriptions",
            json={"topic_arn": topic["arn"], "protocol": "http", "endpoint": f"{base}/hooks/sns/"},
        )
        assert sub.status_code == 201, sub.text
        refused = api.post(
            "/api/subscriptions",
            json={"topic_arn": topic["arn"], "protocol": "http",
                  "endpoint": "http://169.254.169.254/latest/meta-data"},
        )  # fmt: skip
        assert refused.status_code == 400
        assert "not an allowed host" in refused.json()["error"]["message"]
        published = api.post(f"/api/topics/{topic['arn']}/publish", json={"body": "ping <b>"})
        assert published.status_code == 200, published.text
        (delivery,) = api.get("/api/deliveries").json()
        assert delivery["message_type"] == "Notification"
        assert delivery["message_id"] == published.json()["message_id"]
        assert delivery["body"] == "ping <b>"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_an_unreachable_backend_closes_the_flow_socket_with_4503(tmp_path: Path) -> None:
    """Through real Daphne: autobahn sends only 1000 and 3000-4999 and turns any other
    close code (1013, "try again later", was one) into 1011, which says "server error"."""
    nothing_there = f"http://127.0.0.1:{free_port()}"
    password = "unreachable-backend-password"
    with flowdash_served(
        tmp_path, password=password, FLOWDASH_BACKEND="endpoint",
        FLOWDASH_AWS_ENDPOINT_URL=nothing_there,
    ) as server:  # fmt: skip
        cookie = "; ".join(f"{k}={v}" for k, v in login(server.base, password).cookies.items())

        async def watch() -> tuple[list[dict[str, object]], int | None]:
            frames = []
            async with connect(
                server.base.replace("http://", "ws://") + "/ws/flow/",
                origin=server.base,  # type: ignore[arg-type]
                additional_headers={"Cookie": cookie},
                proxy=None,
            ) as ws:
                with contextlib.suppress(ConnectionClosed):
                    async for message in ws:
                        frames.append(json.loads(message))
                return frames, ws.close_code

        frames, code = asyncio.run(asyncio.wait_for(watch(), timeout=60))
    assert code == 4503
    # The engine's own error events may come first; the socket's reason comes last.
    assert frames[-1]["type"] == "error"
    assert "flow engine is not running" in str(frames[-1]["message"])
