"""Faults of a deploy on the real engine, on the one-service plainweb stack: the engine
unreachable before the deploy, a build that fails half way, a new container that crash-loops.
In each the release that served before still serves, and no lock is left behind."""

from __future__ import annotations

import os
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
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CUTOVER_"))}
    full.update(CUTOVER_REPORTS_DIR=str(stack.parent / "reports"), COLUMNS="200", **(env or {}))
    return subprocess.run([sys.executable, "-m", "pytest", f"--target={stack / 'cutover.toml'}",
                           "-rA", *args], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=600, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def serving_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """plainweb deployed at v1, shared by the tests here (each leaves v1 serving)."""
    project = f"faults{os.getpid()}{int(time.time() * 1000) % 100000}"
    stack, port = plain_stack(tmp_path_factory.mktemp("faults"), project=project)
    target = stack / "cutover.toml"
    target.write_text(target.read_text() + "health_timeout_s = 15\n")
    try:
        first = _cutover(stack, "-m", "deploy", env={"VERSION": "v1"})
        assert first.returncode == 0, first.stdout[-4000:]
        yield stack, port
    finally:
        subprocess.run(["docker", "compose", "--project-name", project, "--project-directory",
                        str(stack), "down", "--volumes", "--rmi", "local", "--timeout", "2"],
                       capture_output=True, timeout=300, check=False)


def _assert_v1_serves_and_no_lock(stack: Path, port: int) -> None:
    __tracebackhide__ = True
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "OK v1"
    assert not (stack / ".cutover" / "deploy.lock").exists()


def test_the_engine_unreachable_before_a_deploy_blocks_every_step(serving_v1, tmp_path):
    stack, port = serving_v1
    address = f"unix://{tmp_path}/no-docker.sock"
    done = _cutover(stack, "-m", "deploy", env={"VERSION": "v2", "DOCKER_HOST": address})
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert "docker daemon unreachable" in output and address in output, output[-4000:]
    assert "blocked: preflight failed" in output
    assert "Traceback" not in output
    _assert_v1_serves_and_no_lock(stack, port)


def test_a_build_failing_half_way_stops_the_deploy_and_v1_keeps_serving(serving_v1):
    stack, port = serving_v1
    dockerfile = stack / "Dockerfile"
    original = dockerfile.read_text()
    dockerfile.write_text(original.replace(
        "CMD [", "RUN echo half way && exit 7\nCMD [", 1))
    try:
        done = _cutover(stack, "-m", "deploy", env={"VERSION": "v2"})
    finally:
        dockerfile.write_text(original)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert "step 'Build the images': build of web failed, nothing was changed" in output, \
        output[-4000:]
    assert "not run: " in output
    _assert_v1_serves_and_no_lock(stack, port)


def test_a_crash_looping_new_container_is_taken_out_and_v1_serves_again(serving_v1):
    stack, port = serving_v1
    dockerfile, compose = stack / "Dockerfile", stack / "compose.yaml"
    originals = dockerfile.read_text(), compose.read_text()
    dockerfile.write_text(originals[0].replace(
        'CMD ["busybox", "httpd", "-f", "-p", "80", "-h", "/srv"]',
        'CMD ["sh", "-c", "echo crashing; exit 3"]'))
    compose.write_text(originals[1].replace("    healthcheck:", "    restart: always\n"
                                            "    healthcheck:", 1))
    try:
        done = _cutover(stack, "-m", "deploy", env={"VERSION": "v2"})
    finally:
        dockerfile.write_text(originals[0])
        compose.write_text(originals[1])
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    assert "reverted: service 'web': new container never turned healthy" in output, \
        output[-4000:]
    assert "Traceback" not in output
    _assert_v1_serves_and_no_lock(stack, port)
