"""The suite's own tests: unit, pytester tests of the plugins, integration on a real engine."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo import DemoTarget, make_demo_target

pytest_plugins = ("pytester",)


@pytest.fixture(params=[0o022, 0o000], ids=["umask 022", "umask 000"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """A umask that lets group and others read (022) or everything (000): owner-only files
    must come out owner-only all the same."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.fixture
def demo_target(tmp_path: Path) -> Iterator[DemoTarget]:
    """A private copy of the demo target (own project, ports, secrets); torn down after."""
    demo = make_demo_target(tmp_path)
    try:
        yield demo
    finally:
        demo.down()



REPO = Path(__file__).resolve().parents[1]

MINIMAL_TARGET = """
[target]
name = "plugin-test"

[stack]
project_dir = "stack"
project_name = "plugintest"
compose_files = ["compose.yaml"]

[deploy]
health_url = "http://127.0.0.1:9/health"
ready_url = "http://127.0.0.1:9/ready"

[rollback]
[rollback.database]
name = "db"
user = "postgres"
password_secret = "postgres_password"
"""


@pytest.fixture
def cutover_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester set up like the repo: same plugins, markers and options; reports in tmp."""
    ini = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = "\n".join(f"    {m!r}," for m in ini["markers"])
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        f"markers = [\n{markers}\n]\n"
        'addopts = ["--strict-markers", "-p", "no:randomly", "-p", "no:cacheprovider"]\n'
    )
    pytester.makeconftest(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        f"pytest_plugins = {tuple(_root_plugins())!r}\n"
    )
    (pytester.path / "stack").mkdir()
    (pytester.path / "cutover.toml").write_text(MINIMAL_TARGET)
    monkeypatch.setenv("CUTOVER_REPORTS_DIR", str(pytester.path / "reports"))
    monkeypatch.setenv("COLUMNS", "200")  # failure lines are matched whole
    monkeypatch.delenv("CUTOVER_TARGET", raising=False)
    monkeypatch.delenv("CUTOVER_TIMESTAMP", raising=False)
    return pytester


def _root_plugins() -> list[str]:
    namespace: dict[str, object] = {}
    exec((REPO / "conftest.py").read_text(), namespace)
    plugins = namespace["pytest_plugins"]
    assert isinstance(plugins, tuple)
    return list(plugins)
