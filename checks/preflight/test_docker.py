"""The Docker daemon answers, and the Compose v2 plugin is installed."""

from __future__ import annotations

import pytest

from operations.preflight import rules as checks

pytestmark = pytest.mark.preflight


def test_docker_daemon(preflight, conclude):
    """docker daemon reachable"""
    conclude(checks.docker_daemon(preflight))


def test_compose_plugin(preflight, conclude):
    """compose v2 plugin installed"""
    conclude(checks.compose_plugin(preflight))
