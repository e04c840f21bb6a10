"""Health probes: status, text and typed JSON fields, judged on given answers."""

from __future__ import annotations

import pytest

from operations.config import Probe
from operations.core import http_checks, probes
from operations.core.http_checks import HttpAnswer


def probe(**expect: object) -> Probe:
    return Probe(name="health", url="http://127.0.0.1:9/h", **expect)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "body", "expect", "problems"), [
    (200, "OK v1", {}, []),
    (204, "", {}, []),
    (503, "down", {}, ["expected HTTP 2xx, got HTTP 503 down"]),
    (301, "", {"expect_status": 301}, []),
    (200, "", {"expect_status": 204}, ["expected HTTP 204, got HTTP 200 "]),
    (200, "OK v2", {"expect_text": "OK v1"}, ["body does not contain 'OK v1': 'OK v2'"]),
    (200, "plain", {"expect_json": {"ok": True}}, ["expected a JSON object, got 'plain'"]),
], ids=["2xx", "204", "503", "own status", "wrong status", "text", "not json"])
def test_status_and_text(status: int, body: str, expect: dict[str, object],
                         problems: list[str]) -> None:
    assert probes.mismatches(HttpAnswer("u", status, body), probe(**expect)) == problems


def test_no_answer_names_the_error() -> None:
    answer = HttpAnswer("u", None, "", "ConnectionRefusedError: refused")
    assert probes.mismatches(answer, probe()) == ["no answer: ConnectionRefusedError: refused"]


BODY = ('{"ok": true, "count": 3, "ratio": 0.5, "status": "up", "one": 1,'
        ' "checks": {"db": {"ok": false}}, "a.b": "dotted key"}')


@pytest.mark.parametrize(("expect", "problems"), [
    ({"ok": True, "count": 3, "ratio": 0.5, "status": "up"}, []),
    ({"checks.db.ok": False, "a.b": "dotted key"}, []),
    ({"count": 3.0}, []),
    ({"ok": "true"}, ["field 'ok' is True, expected 'true'"]),
    ({"one": True}, ["field 'one' is 1, expected True"]),
    ({"ok": 1}, ["field 'ok' is True, expected 1"]),
    ({"count": "3"}, ["field 'count' is 3, expected '3'"]),
    ({"checks.db.ok": True}, ["field 'checks.db.ok' is False, expected True"]),
    ({"checks.cache.ok": True}, ["field 'checks.cache.ok' missing (expected True)"]),
], ids=["typed", "nested", "int as float", "bool vs string", "number vs bool",
        "bool vs number", "number vs string", "nested wrong", "nested missing"])
def test_json_fields_are_typed(expect: dict[str, object], problems: list[str]) -> None:
    answer = HttpAnswer("u", 200, BODY)
    assert probes.mismatches(answer, probe(expect_json=expect)) == problems


def test_the_legacy_check_takes_typed_values_too() -> None:
    answer = HttpAnswer("u", 200, '{"ok": true, "status": "healthy"}')
    assert http_checks.mismatches(answer, {"ok": True, "status": "healthy"}) == []
    assert http_checks.mismatches(answer, {"ok": False}) == [
        "field 'ok' is True, expected False"]


def test_a_run_probes_a_real_port_and_says_which_probe() -> None:
    result = probes.run(probe(), timeout=1)
    assert not result.ok and result.answer.status is None
    assert result.describe().startswith("probe 'health' GET http://127.0.0.1:9/h: no answer")
