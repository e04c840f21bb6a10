"""Preflight with containers involved: the stack's own ports, another host, and redaction."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_preflight import (
    CONFIG,
    PORT,
    SECRET,
    VARIABLES,
    assert_only_failed,
    item,
    run_preflight,
)
from tests.support.demo import DemoTarget, make_demo_target

BASE_IMAGE = "debian:bookworm-slim"


def docker(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_ports_held_by_the_stack_itself_pass(demo_target: DemoTarget, tmp_path: Path) -> None:
    demo_target.compose("up", "--detach", "--build", "--wait", "--wait-timeout", "180")
    run = run_preflight(demo_target)
    assert run.result.returncode == 0, run.output
    log = (run.run_dir / "run.log").read_text()
    for port in demo_target.ports.values():
        assert f"port {port} is held by this stack: container {demo_target.project}-" in log

    # The same ports on another project's target: held by someone else's containers.
    other = make_demo_target(tmp_path / "other")
    text = other.target_file.read_text()
    ports = ", ".join(map(str, demo_target.ports.values()))
    other.target_file.write_text(re.sub(r"(?m)^ports = \[[^\]]*\]", f"ports = [{ports}]", text))
    other.ports = dict(demo_target.ports)  # what its checks now cover
    run = run_preflight(other)
    postgres = demo_target.ports["POSTGRES_PORT"]
    assert_only_failed(run, {
        PORT.format(port): [f"port {port} is published by another container",
                            f"{demo_target.project}-"]
        for port in demo_target.ports.values()
    }, other)
    assert f"{demo_target.project}-postgres-1" in run.failed[item(PORT.format(postgres))]


@pytest.fixture
def container(demo_target: DemoTarget) -> Iterator[str]:
    """A throwaway host: a container holding its own copy of the target at the same path."""
    name = f"ctpf{uuid.uuid4().hex[:10]}"
    docker("run", "--detach", "--name", name, "--network", "none", BASE_IMAGE,
           "sleep", "600")
    try:
        parent = str(demo_target.stack_dir.parent)
        docker("exec", name, "mkdir", "-p", parent)
        docker("cp", str(demo_target.stack_dir), f"{name}:{parent}/")
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=60,
                       check=False)


def test_hosts_option_runs_the_host_checks_inside_a_container(
    demo_target: DemoTarget, container: str
) -> None:
    # Inside the container only: the secret is gone, and Docker's data root exists (the
    # engine's data root is a host path; the container stands in for the engine's host).
    secret = demo_target.stack_dir / "secrets" / "jwt_secret"
    docker("exec", container, "rm", str(secret))
    root = docker("info", "--format", "{{.DockerRootDir}}").strip()
    docker("exec", container, "mkdir", "-p", root)
    assert secret.is_file()  # still here on this machine

    run = run_preflight(demo_target, f"--hosts=docker://{container}")
    assert_only_failed(run, {SECRET.format("jwt_secret"): ["'jwt_secret' is missing",
                                                          str(secret)]}, demo_target)
    report = (run.run_dir / "report.html").read_text()
    assert f"$ [docker://{container}] stat" in report  # the evidence names where it ran


def test_no_secret_value_reaches_any_artifact_or_the_terminal(demo_target: DemoTarget) -> None:
    # Values that are also valid variable names, so failures can carry them naturally.
    canaries = {"jwt_secret": f"CanaryJwt{uuid.uuid4().hex[:16]}",
                "postgres_password": f"CanaryPg{uuid.uuid4().hex[:16]}"}
    secrets = demo_target.stack_dir / "secrets"
    for name, value in canaries.items():
        (secrets / name).write_text(value + "\n")
    (secrets / "jwt_secret").chmod(0o644)
    # compose rejects an unknown key and quotes it: its error carries one canary ...
    production = demo_target.stack_dir / "compose.production.yaml"
    production.write_text(production.read_text().replace(
        "  backend:\n", f"  backend:\n    {canaries['postgres_password']}: true\n", 1))
    # ... and an undefined variable named like the other one is named in a failure.
    base = demo_target.stack_dir / "docker-compose.yml"
    base.write_text(base.read_text().replace(
        "      REDIS_URL:", f"      PROBE: ${{{canaries['jwt_secret']}}}\n      REDIS_URL:"))

    run = run_preflight(demo_target, "-v")
    assert run.result.returncode == 1, run.output
    assert {item(CONFIG), item(VARIABLES), item(SECRET.format("jwt_secret"))} <= set(
        run.failed), run.output
    assert "[REDACTED]" in run.output  # the failures did carry the values
    files = [p for p in run.run_dir.rglob("*") if p.is_file()]
    assert {"report.html", "junit.xml", "run.log"} <= {p.name for p in files}
    for value in canaries.values():
        assert value not in run.output
        for path in files:
            assert value not in path.read_text(errors="replace"), path
