"""The stack answers: /health and /ready with the fields the target expects."""

from __future__ import annotations

import pytest

from fixtures.evidence import Evidence
from operations.config import Target
from operations.core import http_checks

pytestmark = pytest.mark.postdeploy


def _check(url: str, expect: dict[str, str], evidence: Evidence) -> None:
    __tracebackhide__ = True
    answer = http_checks.get(url)
    evidence.add_text(f"GET {url}", answer.evidence())
    problems = http_checks.mismatches(answer, expect)
    if problems:
        pytest.fail(f"{url}: {'; '.join(problems)} (see the container logs: "
                    "docker compose logs)", pytrace=False)


def test_health(target: Target, evidence: Evidence) -> None:
    """The health URL answers healthy."""
    _check(target.deploy.health_url, target.deploy.health_expect, evidence)


def test_ready(target: Target, evidence: Evidence) -> None:
    """The readiness URL answers with every dependency connected."""
    _check(target.deploy.ready_url, target.deploy.ready_expect, evidence)
