"""Health probes ([deploy] health_url, ready_url, [[deploy.probes]]): one GET, one verdict.

A probe passes on any 2xx (or exactly `expect_status`), a body containing `expect_text`,
and JSON fields equal to `expect_json`, compared with their TOML types: `ok = true` wants
the JSON `true`, not `"true"` or `1`. A dotted key (`checks.db`) reaches a nested field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from operations.config import JsonValue, Probe
from operations.core import http_checks
from operations.core.http_checks import HttpAnswer

_SHOWN = 200
_MISSING = object()


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    answer: HttpAnswer
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """One line for a report or a failure: which probe, and what was wrong."""
        verdict = "ok" if self.ok else "; ".join(self.problems)
        return f"probe {self.probe.name!r} GET {self.probe.url}: {verdict}"


def run(probe: Probe, timeout: float = http_checks.PROBE_TIMEOUT_S) -> ProbeResult:
    """GET the probe's URL once and judge the answer (never raises for a network error)."""
    answer = http_checks.get(probe.url, timeout=timeout)
    return ProbeResult(probe, answer, mismatches(answer, probe))


def mismatches(answer: HttpAnswer, probe: Probe) -> list[str]:
    """What in the answer differs from what the probe expects; [] when it passes."""
    if answer.status is None:
        return [f"no answer: {answer.error}"]
    wanted = probe.expect_status
    if wanted and answer.status != wanted:
        return [f"expected HTTP {wanted}, got {answer.describe()}"]
    if not wanted and not 200 <= answer.status < 300:
        return [f"expected HTTP 2xx, got {answer.describe()}"]
    problems = []
    if probe.expect_text and probe.expect_text not in answer.body:
        problems.append(f"body does not contain {probe.expect_text!r}: "
                        f"{answer.body.strip()[:_SHOWN]!r}")
    if probe.expect_json:
        body = answer.json
        if not isinstance(body, dict):
            return [*problems, f"expected a JSON object, got {answer.body.strip()[:_SHOWN]!r}"]
        problems += json_mismatches(body, probe.expect_json)
    return problems


def json_mismatches(body: Mapping[str, Any], expect: Mapping[str, JsonValue]) -> list[str]:
    """Each expected field (a dotted path) that is missing or has another value or type."""
    problems = []
    for path, wanted in expect.items():
        found = field_at(body, path)
        if found is _MISSING:
            problems.append(f"field {path!r} missing (expected {wanted!r})")
        elif not same_value(found, wanted):
            problems.append(f"field {path!r} is {found!r}, expected {wanted!r}")
    return problems


def field_at(body: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`checks.db.ok`); a key holding the dot itself wins."""
    if path in body:
        return body[path]
    head, dot, rest = path.partition(".")
    if not dot or not isinstance(body.get(head), Mapping):
        return _MISSING
    return field_at(body[head], rest)


def same_value(found: Any, wanted: JsonValue) -> bool:
    """Equal and of the same JSON kind: a bool is not a number, a number not a string."""
    if isinstance(wanted, bool) or isinstance(found, bool):
        return isinstance(found, bool) and isinstance(wanted, bool) and found == wanted
    if isinstance(wanted, int | float):
        return isinstance(found, int | float) and found == wanted
    return isinstance(found, str) and found == wanted
