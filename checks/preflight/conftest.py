"""Preflight checks: one item per resource, ids naming it; verdicts reported with evidence."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.evidence import Evidence
from fixtures.target import TARGET_KEY
from operations.preflight.rules import Verdict

DISK_PLACES = ("stack dir", "docker data root")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    stack = metafunc.config.stash[TARGET_KEY].stack
    ports = metafunc.config.stash[TARGET_KEY].preflight.ports
    params: dict[str, tuple[list[object], list[str]]] = {
        "disk_place": (list(DISK_PLACES), list(DISK_PLACES)),
        "compose_file": (list(stack.compose_files), list(stack.compose_files)),
        "secret_name": (list(stack.required_secrets), list(stack.required_secrets)),
        "port_number": (list(ports), [f"port {n}" for n in ports]),
    }
    for name, (values, ids) in params.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=ids)


@pytest.fixture
def conclude(evidence: Evidence) -> Callable[[Verdict], None]:
    """Attach a verdict's evidence to the item's report row, then fail with its problems."""

    def conclude(verdict: Verdict) -> None:
        __tracebackhide__ = True
        for result in verdict.commands:
            evidence.commands.add(result)
        if verdict.notes:
            evidence.add_text("seen", "\n".join(verdict.notes))
        if verdict.problems:
            pytest.fail("\n".join(verdict.problems), pytrace=False)

    return conclude
