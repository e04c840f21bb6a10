"""Free disk where the stack lives and where Docker keeps images and volumes."""

from __future__ import annotations

import pytest

from operations.preflight import rules as checks

pytestmark = pytest.mark.preflight


def test_free_disk(disk_place, preflight, target, conclude):
    """free disk at {disk_place}"""
    disk = preflight.stack_disk() if disk_place == "stack dir" else preflight.docker_root_disk()
    conclude(checks.free_disk(target, disk))
