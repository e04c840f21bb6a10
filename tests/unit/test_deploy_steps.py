"""The deploy's pure parts, and the health wait against a real local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from operations import deploy, http_checks


class _Health(BaseHTTPRequestHandler):
    healthy_at = 0.0  # monotonic time from which /health answers 200

    def do_GET(self) -> None:
        healthy = time.monotonic() >= self.healthy_at
        body = json.dumps({"status": "healthy" if healthy else "starting", "version": "2"})
        self.send_response(200 if healthy else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    handler = type("H", (_Health,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/health"


def test_wait_healthy_ends_within_a_pause_of_turning_healthy(server: ThreadingHTTPServer
                                                             ) -> None:
    turns = time.monotonic() + 0.6
    server.RequestHandlerClass.healthy_at = turns  # type: ignore[attr-defined]
    polls: list[dict[str, object]] = []
    result, answer = deploy.wait_healthy(_url(server), {"status": "healthy"}, timeout=10,
                                         polls=polls)
    assert result.done and answer.status == 200
    assert time.monotonic() - turns < 0.25
    assert result.attempts >= 3
    # Every poll is kept for the report's timeline: unhealthy ones, then the healthy one.
    assert len(polls) == result.attempts
    assert [p["ok"] for p in polls] == [False] * (len(polls) - 1) + [True]
    assert str(polls[0]["result"]).startswith("HTTP 503")
    assert "latency:" in answer.evidence() and answer.latency_s > 0


def test_wait_healthy_times_out_naming_the_last_answer(server: ThreadingHTTPServer) -> None:
    server.RequestHandlerClass.healthy_at = float("inf")  # type: ignore[attr-defined]
    started = time.monotonic()
    result, answer = deploy.wait_healthy(_url(server), {"status": "healthy"}, timeout=1.0)
    assert not result.done and 1.0 <= time.monotonic() - started < 1.5
    assert answer.describe() == 'HTTP 503 {"status": "starting", "version": "2"}'


def test_a_refused_connection_is_an_answer_not_an_exception() -> None:
    answer = http_checks.get("http://127.0.0.1:1/health", timeout=1)
    assert answer.status is None and "Connection refused" in answer.describe()


def test_mismatches_name_each_wrong_field() -> None:
    answer = http_checks.HttpAnswer("u", 200, '{"database": "not connected"}')
    assert http_checks.mismatches(answer, {"database": "connected", "redis": "connected"}) == [
        "field 'database' is 'not connected', expected 'connected'",
        "field 'redis' missing (expected 'connected')",
    ]
    assert http_checks.mismatches(http_checks.HttpAnswer("u", 200, "<html>"), {}) == [
        "expected a JSON object, got '<html>'"]


def test_applied_migrations_come_from_the_commands_output() -> None:
    output = "applied 0004_a.sql\napplied 0005_b.sql\n2 migration(s) applied\n"
    assert deploy.applied_migrations(output) == ["0004_a.sql", "0005_b.sql"]
    assert deploy.applied_migrations("nothing to apply\n") == []


def test_image_mismatches_name_the_service_and_both_ids() -> None:
    built = {"backend": "sha256:" + "b" * 64, "redis": "sha256:" + "r" * 64}
    running = {"backend": "sha256:" + "a" * 64, "redis": built["redis"]}
    assert deploy.image_mismatches(running, built) == [
        "backend: container runs sha256:aaaaaaaaaaaa, expected sha256:bbbbbbbbbbbb"]
    assert deploy.image_mismatches(built, built) == []
