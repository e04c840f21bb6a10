"""A health URL that hangs, redirects in a loop or answers garbage: the probe is an answer
with its evidence within its timeout, never an exception (real loopback servers)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from operations.config import Probe
from operations.core import http_checks, probes
from operations.deploy import steps as deploy


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes | None], str]]:
    """A loopback TCP server answering every connection with the given bytes (None: never
    answers, the connection stays open); returns its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    answer: list[bytes | None] = [None]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            if answer[0] is not None:
                conn.recv(65536)
                conn.sendall(answer[0])
                conn.close()

    threading.Thread(target=serve, daemon=True).start()

    def url(reply: bytes | None) -> str:
        answer[0] = reply
        return f"http://127.0.0.1:{listener.getsockname()[1]}/health"

    yield url
    listener.close()
    for conn in held:
        conn.close()


def test_a_hanging_health_url_is_no_answer_within_the_probe_timeout(raw_server) -> None:
    started = time.monotonic()
    answer = http_checks.get(raw_server(None), timeout=0.5)
    assert answer.status is None and "timed out" in answer.error
    assert time.monotonic() - started < 1.5


def test_the_health_wait_on_a_hanging_url_ends_at_its_timeout(raw_server) -> None:
    started = time.monotonic()
    result, answer = deploy.wait_healthy(raw_server(None), {}, timeout=1.5)
    assert not result.done and answer.status is None
    assert time.monotonic() - started < 3.5


def test_a_redirect_loop_stops_and_is_judged_as_the_redirect(raw_server) -> None:
    url = raw_server(b"HTTP/1.1 302 Found\r\nLocation: /health\r\nContent-Length: 0\r\n\r\n")
    answer = http_checks.get(url, timeout=1)
    assert answer.status == 302
    result = probes.run(Probe(name="health", url=url), timeout=1)
    assert not result.ok and "expected HTTP 2xx, got HTTP 302" in result.describe()


def test_a_garbage_answer_is_no_answer_naming_the_error(raw_server) -> None:
    answer = http_checks.get(raw_server(b"\x00\xffgarbage\r\n\r\n"), timeout=1)
    assert answer.status is None and answer.error.startswith("BadStatusLine")


def test_a_garbage_body_fails_the_json_expectation_with_the_body(raw_server) -> None:
    url = raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 6\r\n\r\n\xff\xfe{no}")
    result = probes.run(Probe(name="health", url=url, expect_json={"status": "healthy"}),
                        timeout=1)
    assert not result.ok and "expected a JSON object" in result.describe()
