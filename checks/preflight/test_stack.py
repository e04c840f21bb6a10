"""The stack definition: compose files exist, `docker compose config` accepts them, every
variable is set. Runs last: `docker compose config` is the slowest probe, started at start-up."""

from __future__ import annotations

import pytest

from operations.preflight import rules as checks

pytestmark = pytest.mark.preflight


def test_compose_file(compose_file, preflight, conclude):
    """compose file {compose_file} present"""
    conclude(checks.compose_file(preflight, compose_file))


def test_compose_config(preflight, conclude):
    """docker compose config passes"""
    conclude(checks.compose_config(preflight))


def test_compose_variables(preflight, conclude):
    """every compose variable without a default defined"""
    conclude(checks.compose_variables(preflight))
