"""Bounded polling with an injectable clock: the first probe is immediate, pauses are short.

Unit tests pass a fake clock and sleep, so nothing here ever really waits in a test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("cutover.waits")

# Progress goes to the log at most this often, plus every change of what the probe says.
PROGRESS_EVERY_S = 2.0


@dataclass(frozen=True)
class Probe:
    """One look at the thing waited for: done or not, and what was seen."""

    done: bool
    detail: str


@dataclass(frozen=True)
class WaitResult:
    done: bool
    attempts: int
    elapsed_s: float
    last: str  # what the last probe saw: the evidence in a timeout message
    what: str

    def describe(self) -> str:
        state = "done" if self.done else "timed out"
        return (f"{state} waiting for {self.what} after {self.elapsed_s:.1f}s "
                f"({self.attempts} probes); last: {self.last}")


def wait_until(
    check: Callable[[float], Probe],
    *,
    what: str,
    timeout: float,
    pause: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitResult:
    """Call check(remaining_s) until it reports done or `timeout` seconds have passed.

    check gets the time left so its own network timeout never outlasts the wait.
    """
    started = clock()
    attempts, last_logged, last_detail = 0, float("-inf"), ""
    while True:
        now = clock()
        remaining = timeout - (now - started)
        attempts += 1
        probe = check(max(remaining, 0.0))
        elapsed = clock() - started
        if probe.done:
            log.info("%s: ready after %.2fs (%d probes): %s", what, elapsed, attempts,
                     probe.detail)
            return WaitResult(True, attempts, elapsed, probe.detail, what)
        if probe.detail != last_detail or elapsed - last_logged >= PROGRESS_EVERY_S:
            log.info("%s: waiting (%.1fs of %.0fs): %s", what, elapsed, timeout, probe.detail)
            last_logged, last_detail = elapsed, probe.detail
        if elapsed >= timeout:
            log.warning("%s: gave up after %.1fs: %s", what, elapsed, probe.detail)
            return WaitResult(False, attempts, elapsed, probe.detail, what)
        sleep(min(pause, timeout - elapsed))
