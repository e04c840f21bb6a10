"""The suite's own tests: unit, pytester tests of the plugins, integration on a real engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo import DemoTarget, make_demo_target

pytest_plugins = ("pytester",)


@pytest.fixture
def demo_target(tmp_path: Path) -> Iterator[DemoTarget]:
    """A private copy of the demo target (own project, ports, secrets); torn down after."""
    demo = make_demo_target(tmp_path)
    try:
        yield demo
    finally:
        demo.down()
