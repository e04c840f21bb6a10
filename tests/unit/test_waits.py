"""wait_until on a fake clock: immediate first probe, short pauses, bounded, evidence kept."""

from __future__ import annotations

import itertools
import logging

import pytest

from operations.core.waits import Probe, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_first_probe_is_immediate_and_success_returns_at_once() -> None:
    clock = FakeClock()
    result = wait_until(lambda left: Probe(True, "HTTP 200"), what="x", timeout=90,
                        clock=clock, sleep=clock.sleep)
    assert result.done and result.attempts == 1 and clock.sleeps == []


def test_polls_with_short_pauses_until_done() -> None:
    clock = FakeClock()
    answers = iter([Probe(False, "refused")] * 5 + [Probe(True, "HTTP 200")])
    result = wait_until(lambda left: next(answers), what="x", timeout=90, pause=0.1,
                        clock=clock, sleep=clock.sleep)
    assert result.done and result.attempts == 6
    assert clock.sleeps == [0.1] * 5
    assert result.elapsed_s == pytest.approx(0.5)


def test_gives_up_at_the_timeout_with_the_last_evidence() -> None:
    clock = FakeClock()
    seen = iter(f"HTTP 503 #{n}" for n in range(10_000))
    result = wait_until(lambda left: Probe(False, next(seen)), what="http://h/health",
                        timeout=20, pause=0.25, clock=clock, sleep=clock.sleep)
    assert not result.done
    assert result.elapsed_s == pytest.approx(20)
    assert result.attempts == 81  # t=0, 0.25, ... 20.0
    assert result.last == "HTTP 503 #80"
    assert "timed out waiting for http://h/health after 20.0s" in result.describe()
    assert max(clock.sleeps) <= 0.25


def test_the_probe_is_told_the_time_left() -> None:
    clock = FakeClock()
    lefts: list[float] = []

    def probe(left: float) -> Probe:
        lefts.append(left)
        clock.now += 3  # a slow probe uses up the time
        return Probe(False, "slow")

    wait_until(probe, what="x", timeout=10, pause=0.1, clock=clock, sleep=clock.sleep)
    assert lefts[0] == 10 and all(b < a for a, b in itertools.pairwise(lefts))
    assert min(lefts) >= 0


def test_progress_is_logged_on_every_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    answers = iter([Probe(False, "refused"), Probe(False, "refused"),
                    Probe(False, "HTTP 503"), Probe(True, "HTTP 200")])
    with caplog.at_level(logging.INFO, logger="cutover.waits"):
        wait_until(lambda left: next(answers), what="db", timeout=9, clock=clock,
                   sleep=clock.sleep)
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split(": ", 2)[-1] for m in messages] == ["refused", "HTTP 503", "HTTP 200"]
