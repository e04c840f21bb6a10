"""Private copies of the bundled notes example (examples/notes/) for integration tests.

Each copy has its own compose project name and a free host port; its web image is pulled
from the registry the test names (tests/support/registry.py), as the README does it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.support.demo import REPO, free_ports

NOTES_DIR = REPO / "examples" / "notes"
DEFAULT_PORT = 8090
_NOT_COPIED = shutil.ignore_patterns(".cutover", "__pycache__")


@dataclass
class NotesCopy:
    stack: Path
    project: str
    port: int
    registry: str  # host:port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def reports(self) -> Path:
        return self.stack.parent / "reports"

    def env(self, version: str) -> dict[str, str]:
        return {"NOTES_REGISTRY": self.registry, "NOTES_PORT": str(self.port),
                "NOTES_VERSION": version}

    def push_web(self, version: str) -> None:
        """The README's way: scripts/push-web builds notes-web at `version` and pushes it."""
        done = subprocess.run([str(self.stack / "scripts" / "push-web"), version],
                              env={**os.environ, "NOTES_REGISTRY": self.registry},
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"push-web {version}: {done.stderr or done.stdout}"

    def cutover(self, version: str, *args: str, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "CUTOVER_REPORTS_DIR": str(self.reports), "COLUMNS": "200",
                **self.env(version), **(env or {})}
        for name in ("CUTOVER_TARGET", "CUTOVER_TIMESTAMP", "PYTEST_ADDOPTS"):
            full.pop(name, None)
        return subprocess.run(
            [sys.executable, "-m", "pytest", f"--target={self.stack / 'cutover.toml'}", "-rA",
             *args], cwd=REPO, env=full, capture_output=True, text=True, timeout=600,
            check=False, stdin=subprocess.DEVNULL)

    def compose(self, *args: str, version: str = "v1") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "--project-name", self.project, "--project-directory",
             str(self.stack), "--file", str(self.stack / "compose.yaml"), *args],
            env={**os.environ, **self.env(version)}, capture_output=True, text=True,
            timeout=300, check=False, stdin=subprocess.DEVNULL)

    def down(self) -> None:
        """Containers, volumes, and every image built for this project (release tags too)."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")
        label = f"label=com.docker.compose.project={self.project}"
        listed = subprocess.run(["docker", "images", "--quiet", "--filter", label],
                                capture_output=True, text=True, timeout=60, check=False)
        ids = sorted(set(listed.stdout.split()))
        if ids:
            subprocess.run(["docker", "image", "rm", "--force", *ids], capture_output=True,
                           timeout=120, check=False)


def make_notes_copy(root: Path, registry: str) -> NotesCopy:
    """Copy examples/notes into `root/notes`, its target file on a private project and port."""
    copy = NotesCopy(stack=root / "notes", project=f"notes{uuid.uuid4().hex[:10]}",
                     port=free_ports(1)[0], registry=registry)
    shutil.copytree(NOTES_DIR, copy.stack, ignore=_NOT_COPIED)
    target = copy.stack / "cutover.toml"
    text, renamed = re.subn(r'(?m)^project_name = "notes"$',
                            f'project_name = "{copy.project}"', target.read_text())
    text, ported = re.subn(rf"127\.0\.0\.1:{DEFAULT_PORT}/", f"127.0.0.1:{copy.port}/", text)
    assert renamed == 1 and ported >= 2, \
        "examples/notes/cutover.toml changed shape; update tests/support/notes.py"
    target.write_text(text)
    return copy
