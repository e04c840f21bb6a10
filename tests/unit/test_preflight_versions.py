"""Header versions: Docker's from the Engine API, Compose's asked once for header and check."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from operations.config import load_target
from operations.core.commands import CommandResult
from operations.engine.dockerapi import EngineError
from operations.preflight import compose as preflight_compose
from operations.preflight.facts import PreflightFacts
from operations.record.versions import engine_version, first_line, then

REPO = Path(__file__).resolve().parents[2]


class FakeEngine:
    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer

    def version(self) -> dict[str, Any]:
        if self.answer is None:
            raise EngineError("docker engine at unix:///nowhere: refused")
        return self.answer


def test_docker_version_is_the_servers() -> None:
    assert engine_version(FakeEngine({"Version": "27.3.1"})) == "27.3.1"
    assert engine_version(FakeEngine(None)) == "(unavailable)"


def test_then_hands_on_results_and_errors() -> None:
    source: Future[CommandResult] = Future()
    converted = then(source, first_line)
    source.set_result(CommandResult(("docker-compose",), 0, "2.40.3\n", "", 0.1))
    assert converted.result(timeout=1) == "2.40.3"
    failing: Future[CommandResult] = Future()
    converted = then(failing, first_line)
    failing.set_exception(OSError("gone"))
    with pytest.raises(OSError, match="gone"):
        converted.result(timeout=1)


def test_the_check_reuses_the_headers_compose_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight_compose, "find_compose_plugin",
                        lambda env=None: Path("/usr/lib/docker/cli-plugins/docker-compose"))
    asked: Future[CommandResult] = Future()
    asked.set_result(CommandResult(("docker-compose", "version", "--short"), 0, "2.40.3\n", "",
                                   0.05))

    def no_commands(argv: Any) -> CommandResult:
        raise AssertionError(f"ran {argv}")

    facts = PreflightFacts(load_target(REPO / "cutover.toml"), no_commands,
                           compose_version=asked)
    try:
        assert facts.compose_version() is asked.result()
    finally:
        facts.close()
