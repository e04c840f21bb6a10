"""The stack answers: each probe (health_url, ready_url, [[deploy.probes]]) as expected."""

from __future__ import annotations

import pytest

from fixtures.evidence import Evidence
from fixtures.target import TARGET_KEY
from operations.config import Target
from operations.core import probes

pytestmark = pytest.mark.postdeploy


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "probe_name" in metafunc.fixturenames:
        names = [p.name for p in metafunc.config.stash[TARGET_KEY].deploy.all_probes()]
        metafunc.parametrize("probe_name", names or [pytest.param("none", marks=(
            pytest.mark.skip(reason="no probes: no [deploy] health_url, ready_url or "
                                    "[[deploy.probes]]; the container checks cover health")))])


def test_probe(probe_name: str, target: Target, evidence: Evidence) -> None:
    """probe {probe_name} answers as expected"""
    probe = next(p for p in target.deploy.all_probes() if p.name == probe_name)
    result = probes.run(probe)
    evidence.add_text(f"GET {probe.url}", result.answer.evidence())
    if not result.ok:
        pytest.fail(f"{result.describe()} (see the container logs: docker compose logs)",
                    pytrace=False)
