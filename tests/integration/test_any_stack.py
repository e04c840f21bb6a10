"""A stack of another shape: one built service on a fixed host port, plain-text health, no
database, no secrets, no env file; deployed with the smallest target file there is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.demo import REPO
from tests.support.plainweb import plain_stack


def _cutover(stack: Path, *args: str, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CUTOVER_REPORTS_DIR": str(stack.parent / "reports"),
            "COLUMNS": "200", **(env or {})}
    full.pop("CUTOVER_TARGET", None)
    full.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", f"--target={stack / 'cutover.toml'}",
                           "-rA", *args], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=900, check=False, stdin=subprocess.DEVNULL)


def _down(stack: Path, project: str) -> None:
    subprocess.run(["docker", "compose", "--project-name", project, "--project-directory",
                    str(stack), "down", "--volumes", "--rmi", "local", "--timeout", "2"],
                   capture_output=True, timeout=300, check=False)


@pytest.fixture
def plainweb(tmp_path: Path) -> Iterator[tuple[Path, int, str]]:
    project = f"plain{os.getpid()}{int(time.time() * 1000) % 100000}"
    stack, port = plain_stack(tmp_path, project=project, container_name=f"{project}-web")
    try:
        yield stack, port, project
    finally:
        _down(stack, project)


def test_the_smallest_target_deploys_v1_then_v2_stop_first(
        plainweb: tuple[Path, int, str]) -> None:
    stack, port, _project = plainweb
    first = _cutover(stack, "-m", "deploy", env={"VERSION": "v1"})
    assert first.returncode == 0, first.stdout[-4000:]
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "OK v1"
    # Preflight names the service that cannot run twice, and why.
    assert re.search(r"SwitchWarning: service 'web' cannot run twice \(container_name "
                     r"'\S+-web' is fixed", first.stdout)

    second = _cutover(stack, "-m", "deploy", env={"VERSION": "v2"})
    assert second.returncode == 0, second.stdout[-4000:]
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "OK v2"
    assert "DeployWarning: web is switched stop-first: it is interrupted while it restarts" \
        in second.stdout
    manifest = json.loads((stack.parent / "reports/latest/manifest.json").read_text())
    plan = manifest["data"]["plan"]
    assert any(line.startswith("web: stop-first (new image") for line in plan), plan
    skipped = {s["name"]: s["message"] for s in manifest["steps"] if s["outcome"] == "skipped"}
    assert "Migrate the database" in skipped
    history = json.loads((stack / ".cutover/releases.json").read_text())["releases"]
    assert [r["outcome"] for r in history] == ["replaced", "serving"]
