"""Each configured port is free, or held by this stack's own containers."""

from __future__ import annotations

import pytest

from operations.preflight import rules as checks

pytestmark = pytest.mark.preflight


def test_port(port_number, preflight, conclude):
    """port {port_number} free or held by this stack"""
    conclude(checks.port(preflight, port_number))
