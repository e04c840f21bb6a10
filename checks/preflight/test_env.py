"""The env file exists and sets every required variable."""

from __future__ import annotations

import pytest

from operations.preflight import rules as checks

pytestmark = pytest.mark.preflight


def test_env_file(preflight, conclude):
    """env file sets every required variable"""
    conclude(checks.env_file(preflight))
