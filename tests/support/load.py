"""A bounded HTTP load on loopback through the demo's proxy: reads and authenticated writes.

Each client loops until `stop` is set or its time or request budget is spent, so the load
always ends by itself. Every answer is counted; a 201 write keeps the id it was given, so a
test can prove afterwards that each acknowledged write is in the database.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support.demo import DemoTarget

REQUEST_TIMEOUT_S = 10.0
# http.client's words for a connection the server closed before any byte of an answer.
_CLOSED_BEFORE_ANSWER = "RemoteDisconnected: Remote end closed connection without response"


@dataclass
class LoadResult:
    requests: int = 0
    failed: int = 0  # no answer, or an answer other than the expected status
    # Requests sent again on a new connection because the proxy had closed the kept-alive
    # one before answering (RFC 9112 9.3.1: the request was not processed; browsers resend
    # it the same way). Counted here so a figure never hides them.
    stale_retries: int = 0
    longest_failure_run: int = 0
    written_ids: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first few, for the message
    _run: int = 0

    def describe(self) -> str:
        return (f"{self.requests} requests, {self.failed} failed, longest run of failures "
                f"{self.longest_failure_run}, {len(self.written_ids)} writes acknowledged, "
                f"{self.stale_retries} resent after a closed keep-alive connection")


class Load:
    """`clients` threads; each alternates GET /health and POST /api/readings."""

    def __init__(self, demo: DemoTarget, token: str, clients: int = 4,
                 max_seconds: float = 300.0, max_requests: int = 200_000) -> None:
        self.url = urlsplit(demo.proxy_url)
        self.token = token
        self.result = LoadResult()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + max_seconds
        self._budget = max_requests
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True)
                         for n in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)

    def _client(self, number: int) -> None:
        sequence = 0
        connection = self._connect()
        reused = False  # whether the connection has answered before
        while not self.stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if self.result.requests >= self._budget:
                    return
            sequence += 1
            method, path, body, expected = "GET", "/health", None, 200
            if sequence % 2 == 0:
                method, path, expected = "POST", "/api/readings", 201
                body = json.dumps({"sensor_id": f"load-{number}", "value": sequence,
                                   "note": "load"})
            ok, detail, written = self._request(connection, method, path, body, expected)
            if not ok:  # a fresh connection after any failure, as a browser would
                connection.close()
                connection = self._connect()
                if detail.endswith(_CLOSED_BEFORE_ANSWER) and reused:
                    with self._lock:
                        self.result.stale_retries += 1
                    ok, detail, written = self._request(connection, method, path, body,
                                                        expected)
            reused = ok
            self._count(ok, detail, written)
        connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        """Kept alive between requests, as clients behind a proxy usually are."""
        return http.client.HTTPConnection(self.url.hostname or "127.0.0.1", self.url.port,
                                          timeout=REQUEST_TIMEOUT_S)

    def _request(self, connection: http.client.HTTPConnection, method: str, path: str,
                 body: str | None, expected: int) -> tuple[bool, str, int | None]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as exc:
            return False, f"{method} {path}: {type(exc).__name__}: {exc}", None
        if response.status != expected:
            return False, f"{method} {path}: HTTP {response.status} {text[:120]}", None
        written = json.loads(text).get("id") if method == "POST" else None
        return True, "", written

    def _count(self, ok: bool, detail: str, written: int | None) -> None:
        with self._lock:
            result = self.result
            result.requests += 1
            if ok:
                result._run = 0
                if written is not None:
                    result.written_ids.append(int(written))
                return
            result.failed += 1
            result._run += 1
            result.longest_failure_run = max(result.longest_failure_run, result._run)
            if len(result.failures) < 5:
                result.failures.append(detail)


def mint_token(demo: DemoTarget) -> str:
    done = demo.compose("exec", "-T", "backend", "freshtrack", "token", "--subject", "load",
                        "--ttl", "3600", timeout=60)
    return done.stdout.strip()
