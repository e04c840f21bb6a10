"""The watch window's judgement, with a fake clock and a fake access log."""

from __future__ import annotations

from operations.deploy import watch
from operations.deploy.watch import AccessCounts


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _FakeLog:
    """Answers grow by `per_tick` each look; every `error_every`-th is a 5xx."""

    def __init__(self, per_tick: int, error_every: int | None) -> None:
        self.per_tick, self.error_every, self.looks = per_tick, error_every, 0

    def snapshot(self) -> AccessCounts:
        self.looks += 1
        total = self.looks * self.per_tick
        errors = total // self.error_every if self.error_every else 0
        return AccessCounts(total, errors)


def test_only_json_lines_with_a_numeric_status_count() -> None:
    assert watch._status('{"status": 502, "msg": "handled request"}\n') == 502
    assert watch._status('{"msg": "admin"}\n') is None
    assert watch._status("plain text 500\n") is None
    assert watch._status('{"status": true}') is None
    assert watch._status("{broken") is None


def test_an_error_rate_over_the_limit_breaches_once_enough_requests_were_seen() -> None:
    clock = _Clock()
    result = watch.watch(10, None, [], _FakeLog(5, error_every=10), 0.01,  # type: ignore[arg-type]
                         clock=clock, sleep=clock.sleep)
    assert not result.ok and "error rate 10.0%" in result.reason
    assert result.access is not None and result.access.total >= watch.MIN_REQUESTS
    assert clock.now < 1.0  # judged as soon as there were enough answers


def test_a_clean_window_holds_for_its_whole_length() -> None:
    clock = _Clock()
    result = watch.watch(3, None, [], _FakeLog(5, error_every=None), 0.01,  # type: ignore[arg-type]
                         clock=clock, sleep=clock.sleep)
    assert result.ok and clock.now >= 3
    assert "0 of" in result.describe()
