"""The watch window after a switch: health through the proxy, the new containers' state,
and the proxy's own 5xx rate (its JSON access log), for `[deploy] watch_s` seconds.

Any breach ends the window at once with the reason, so the caller can revert while the
old containers are still there.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from operations.config import Probe
from operations.core import probes
from operations.engine import docker

PAUSE_S = 0.1
HEALTH_EVERY_S = 1.0
# A failing health probe through the proxy must repeat to count: one can be a blip.
HEALTH_FAILURES_TO_BREACH = 2
# The error rate is judged once the proxy has answered this many requests.
MIN_REQUESTS = 20


@dataclass
class AccessCounts:
    total: int = 0
    errors: int = 0  # 5xx answers

    @property
    def rate(self) -> float:
        return self.errors / self.total if self.total else 0.0

    def describe(self) -> str:
        return f"{self.errors} of {self.total} requests answered 5xx ({self.rate:.1%})"


class AccessLog:
    """Follows a container's stdout (`docker logs --follow`), counting JSON log lines with
    a numeric `status`; other lines are ignored."""

    def __init__(self, container: str) -> None:
        self.counts = AccessCounts()
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            ["docker", "logs", "--follow", "--since", f"{time.time():.3f}", container],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            status = _status(line)
            if status is not None:
                with self._lock:
                    self.counts.total += 1
                    self.counts.errors += status >= 500

    def snapshot(self) -> AccessCounts:
        with self._lock:
            return AccessCounts(self.counts.total, self.counts.errors)

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._reader.join(timeout=2)


def _status(line: str) -> int | None:
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    status = entry.get("status") if isinstance(entry, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


@dataclass(frozen=True)
class WatchResult:
    ok: bool
    reason: str  # the breach, or what held
    elapsed_s: float
    health_probes: int
    access: AccessCounts | None

    def describe(self) -> str:
        access = f"; proxy: {self.access.describe()}" if self.access else ""
        verdict = "held" if self.ok else "breached"
        return (f"watch window {verdict} after {self.elapsed_s:.1f}s: {self.reason} "
                f"({self.health_probes} health probes{access})")


def watch(seconds: float, health: Probe | None,
          containers: Sequence[str], access_log: AccessLog | None, max_error_rate: float,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> WatchResult:
    """Watch until `seconds` have passed or something breaches."""
    started = clock()
    restarts = {name: _restarts(name) for name in containers}
    sent, failing, next_probe = 0, 0, started

    def result(ok: bool, reason: str) -> WatchResult:
        access = access_log.snapshot() if access_log else None
        return WatchResult(ok, reason, clock() - started, sent, access)

    while clock() - started < seconds:
        if access_log is not None:
            counts = access_log.snapshot()
            if counts.total >= MIN_REQUESTS and counts.rate > max_error_rate:
                return result(False, f"proxy error rate {counts.rate:.1%} over "
                                     f"max_error_rate {max_error_rate:.1%} "
                                     f"({counts.errors} of {counts.total} answered 5xx)")
        if clock() >= next_probe:
            next_probe += HEALTH_EVERY_S
            breach = _container_breach(containers, restarts)
            if breach:
                return result(False, breach)
            if health is not None:
                sent += 1
                problems = probes.run(health, timeout=2.0).problems
                failing = failing + 1 if problems else 0
                if failing >= HEALTH_FAILURES_TO_BREACH:
                    return result(False, f"{health.url} failed {failing} probes in a row: "
                                         f"{problems[0]}")
        sleep(PAUSE_S)
    return result(True, "health, containers and error rate stayed within bounds")


def _restarts(name: str) -> int:
    found = docker.inspect(name)
    return found.restarts if found else 0


def _container_breach(containers: Sequence[str], restarts: Mapping[str, int]) -> str | None:
    for name in containers:
        found = docker.inspect(name)
        if found is None:
            return f"container {name} is gone"
        if found.state != "running" or found.health == "unhealthy":
            return f"container {found.describe()}"
        if found.restarts > restarts.get(name, 0):
            return f"container {name} restarted"
    return None
