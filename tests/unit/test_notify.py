"""The Slack message and its delivery: payload, one retry, timeouts, no URL anywhere."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from operations.rollback import notify

SUMMARY = notify.RollbackSummary(
    target="freshtrack-demo", operator="alice", reason="checkout broken",
    cutover_timestamp="2026-01-23T12:00:00+00:00",
    tables=[("sensor_readings", 12), ("alerts", 0)], manifest="/r/ROLLBACK_MANIFEST.md",
    ticket="CHG-7",
)


def test_payload_has_text_and_blocks_with_every_fact():
    message = notify.payload(SUMMARY)
    assert set(message) == {"text", "blocks"}
    everything = message["text"] + json.dumps(message["blocks"])
    for fact in ("freshtrack-demo", "alice", "checkout broken", "2026-01-23T12:00:00+00:00",
                 "sensor_readings", "alerts", "/r/ROLLBACK_MANIFEST.md", "CHG-7"):
        assert fact in everything, fact
    # Each count beside its table (a bare "12" would also match the time's "T12:00").
    assert "sensor_readings: 12, alerts: 0" in message["text"]
    blocks = json.dumps(message["blocks"], ensure_ascii=False)
    assert "• `sensor_readings`: 12 rows" in blocks and "• `alerts`: 0 rows" in blocks
    assert all(isinstance(block, dict) and "type" in block for block in message["blocks"])


class _Server:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[bytes] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(server.statuses.pop(0) if server.statuses else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/SECRET-PATH"


@pytest.fixture
def server() -> Iterator[_Server]:
    made = _Server([])
    yield made
    made.httpd.shutdown()
    made.httpd.server_close()


def test_sent_once_when_accepted(server):
    result = notify.send(server.url, {"text": "hi"}, pause=lambda s: None)
    assert result.sent and result.attempts == ["attempt 1: ok"]
    assert json.loads(server.bodies[0]) == {"text": "hi"}


def test_one_retry_after_a_server_error(server):
    server.statuses[:] = [500, 200]
    pauses: list[float] = []
    result = notify.send(server.url, {"text": "hi"}, pause=pauses.append)
    assert result.sent
    assert result.attempts == ["attempt 1: HTTP 500", "attempt 2: ok"]
    assert pauses == [notify.RETRY_PAUSE_S]


def test_two_failures_are_reported_not_raised_and_never_name_the_url(server):
    server.statuses[:] = [500, 503]
    result = notify.send(server.url, {"text": "hi"}, pause=lambda s: None)
    assert not result.sent and len(server.bodies) == 2
    assert "SECRET-PATH" not in result.describe() and "127.0.0.1" not in result.describe()


def test_a_silent_server_times_out_on_each_attempt():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        started = time.monotonic()
        result = notify.send(f"http://127.0.0.1:{silent.getsockname()[1]}/x", {"text": "hi"},
                             timeout=0.3, pause=lambda s: None)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert not result.sent
    assert result.attempts == ["attempt 1: no answer within 0.3s",
                               "attempt 2: no answer within 0.3s"]
    assert elapsed < 2


def test_refused_connection_is_reported():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()  # nothing listens there now
    result = notify.send(f"http://127.0.0.1:{number}/x", {"text": "hi"}, pause=lambda s: None)
    assert not result.sent and all("cannot connect" in a for a in result.attempts)
