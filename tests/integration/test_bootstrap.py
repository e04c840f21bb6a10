"""The engine bootstrap on the real machine: v2 Compose, a daemon that answers, idempotence."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "scripts" / "bootstrap-engine"
PLUGIN = Path("/usr/local/lib/docker/cli-plugins/docker-compose")


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          env=env, stdin=subprocess.DEVNULL)


def _engine_state() -> dict[str, str]:
    info = _run("docker", "info", "--format", "{{.ID}} {{.ServerVersion}} {{.Driver}}")
    image = _run("docker", "image", "inspect", "--format", "{{.Id}}", "debian:bookworm-slim")
    plugin = shutil.which("docker-compose", path=str(PLUGIN.parent)) or ""
    return {
        "daemon": info.stdout.strip(),
        "base image": image.stdout.strip(),
        "plugin mtime": str(Path(plugin).stat().st_mtime_ns) if plugin else "",
    }


def test_after_bootstrap_the_engine_answers_with_compose_v2():
    done = _run(str(BOOTSTRAP))
    assert done.returncode == 0, done.stderr
    version = _run("docker", "compose", "version", "--short")
    assert version.stdout.strip().lstrip("v").startswith("2."), version
    info = _run("docker", "info", "--format", "{{.ServerVersion}}")
    assert info.returncode == 0 and info.stdout.strip(), info.stderr


def test_second_run_changes_nothing_and_is_fast():
    assert _run(str(BOOTSTRAP)).returncode == 0
    before = _engine_state()
    started = time.monotonic()
    again = _run(str(BOOTSTRAP))
    elapsed = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert again.stdout == "" and again.stderr == "", "an idempotent run has nothing to say"
    assert _engine_state() == before
    assert elapsed < 2.0, f"second bootstrap took {elapsed:.2f}s"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_without_an_engine_and_without_root_it_says_what_to_install(tmp_path):
    # An unprivileged user who cannot reach any daemon: nothing can be installed or started.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    done = _run("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                str(BOOTSTRAP), env=env)
    assert done.returncode != 0
    assert "cannot be installed here" in done.stderr
    assert "Install Docker Engine" in done.stderr and "Compose v2" in done.stderr
