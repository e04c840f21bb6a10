"""Preflight checks: one item per resource, ids naming it; verdicts reported with evidence.

Ports and secret files not listed in the target are derived from `docker compose config`
(the one the preflight facts ask at start-up). Waivers: fixtures/waivers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fixtures.evidence import Evidence
from fixtures.host import FACTS_KEY
from fixtures.target import TARGET_KEY, config_cache
from operations.config import Target
from operations.engine.compose import Compose, ComposeError
from operations.preflight.derived import Derived, derive
from operations.preflight.rules import Verdict

DISK_PLACES = ("stack dir", "docker data root")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    stack = config.stash[TARGET_KEY].stack
    if "disk_place" in metafunc.fixturenames:
        metafunc.parametrize("disk_place", DISK_PLACES, ids=DISK_PLACES)
    if "compose_file" in metafunc.fixturenames:
        metafunc.parametrize("compose_file", stack.compose_files, ids=stack.compose_files)
    if "secret_name" in metafunc.fixturenames:
        names = list(_secret_files(config))
        metafunc.parametrize("secret_name", names or [_none(
            "no secrets: [stack] required_secrets is not set and the compose files name no "
            "file-based secrets")], ids=names or None)
    if "port_number" in metafunc.fixturenames:
        ports = _ports(config)
        metafunc.parametrize("port_number", ports or [_none(
            "no host ports: [preflight] ports is not set and the compose files publish none")],
            ids=[f"port {n}" for n in ports] or None)


def _none(reason: str) -> Any:
    return pytest.param(None, marks=pytest.mark.skip(reason=reason), id="none")


def _ports(config: pytest.Config) -> tuple[int, ...]:
    target = config.stash[TARGET_KEY]
    if target.preflight.ports is not None:
        return target.preflight.ports
    facts = config.stash.get(FACTS_KEY, None)
    if facts is not None:
        return facts.ports()
    derived = _derived(config, target)
    return derived.ports if derived else ()


def _secret_files(config: pytest.Config) -> dict[str, str]:
    target = config.stash[TARGET_KEY]
    facts = config.stash.get(FACTS_KEY, None)
    if facts is not None:
        return facts.secret_files()
    if target.stack.required_secrets is not None:
        return {n: str(target.stack.secrets_path / n) for n in target.stack.required_secrets}
    derived = _derived(config, target)
    return dict(derived.secrets) if derived else {}


def _derived(config: pytest.Config, target: Target) -> Derived | None:
    """Outside a preflight run (no facts asked at start-up): the run's cached config."""
    try:
        return derive(Compose(target.stack, cache=config_cache(config)).config_json())
    except ComposeError:
        return None  # the compose config check fails with compose's message


@pytest.fixture
def conclude(evidence: Evidence) -> Callable[[Verdict], None]:
    """Attach a verdict's evidence to the item's report row, then fail with its problems."""

    def conclude(verdict: Verdict) -> None:
        __tracebackhide__ = True
        for result in verdict.commands:
            evidence.commands.add(result)
        if verdict.notes:
            evidence.add_text("seen", "\n".join(verdict.notes))
        if verdict.skipped:
            pytest.skip(verdict.skipped)
        if verdict.problems:
            pytest.fail("\n".join(verdict.problems), pytrace=False)

    return conclude
