"""HTTP probes of a stack's health and readiness endpoints, with their evidence."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from operations.config import JsonValue

# One probe never takes longer than this, whatever the wait around it allows.
PROBE_TIMEOUT_S = 3.0
_BODY_SHOWN = 500
_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+|Read timed out|timed out")


@dataclass(frozen=True)
class HttpAnswer:
    url: str
    status: int | None  # None: no answer (refused, timed out, reset)
    body: str
    error: str = ""
    latency_s: float = 0.0

    def evidence(self) -> str:
        """The whole exchange for a report row: URL, status, latency and body."""
        status = str(self.status) if self.status is not None else f"no answer ({self.error})"
        return (f"GET {self.url}\nstatus: {status}\nlatency: {self.latency_s * 1000:.0f} ms\n"
                f"body: {self.body.strip()[:_BODY_SHOWN]}")

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self) -> str:
        if self.status is None:
            return f"no answer: {self.error}"
        return f"HTTP {self.status} {self.body.strip()[:_BODY_SHOWN]}"


def get(url: str, timeout: float = PROBE_TIMEOUT_S) -> HttpAnswer:
    """GET url; never raises for a network error, the answer carries it.

    The standard library's http.client: a probe needs no session, and `requests` would add
    0.15 s of imports to every run. Redirects are followed, up to a few.
    """
    started = time.monotonic()
    target = url
    try:
        for _ in range(_MAX_REDIRECTS + 1):
            status, headers, body = _get_once(target, timeout)
            location = headers.get("location")
            if status not in _REDIRECTS or not location:
                break
            target = urljoin(target, location)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return HttpAnswer(url, None, "", f"{type(exc).__name__}: {_short(exc)}",
                          time.monotonic() - started)
    return HttpAnswer(url, status, body, "", time.monotonic() - started)


def _get_once(url: str, timeout: float) -> tuple[int, http.client.HTTPMessage, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    # Short connect timeout: a refused or filtered port is retried by the caller.
    connection = kind(parts.hostname, parts.port, timeout=min(timeout, 1.0))
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"Accept": "application/json, */*",
                                                 "Connection": "close"})
        response = connection.getresponse()
        raw = response.read()
        charset = response.headers.get_content_charset() or "utf-8"
        return response.status, response.headers, raw.decode(charset, errors="replace")
    finally:
        connection.close()


def _short(exc: Exception) -> str:
    """urllib3 nests the cause in long reprs; the errno text names it."""
    text = str(exc)
    cause = _ERRNO.search(text)
    return cause.group(0) if cause else text[:300]


def mismatches(answer: HttpAnswer, expect: Mapping[str, JsonValue]) -> list[str]:
    """What in the answer differs from a 200 with a JSON object whose fields equal `expect`
    (typed, dotted paths as in operations.core.probes; its `mismatches` takes a whole
    probe: any 2xx, a text, or no body expectation at all)."""
    from operations.core.probes import json_mismatches  # it builds on this module

    if answer.status != 200:
        return [f"expected HTTP 200, got {answer.describe()}"]
    body = answer.json
    if not isinstance(body, dict):
        return [f"expected a JSON object, got {answer.body.strip()[:_BODY_SHOWN]!r}"]
    return json_mismatches(body, expect)
