"""`pytest -m preflight` against private copies of the demo target, on the real engine.

Each fault test breaks exactly one thing in a fresh copy and asserts that exactly the
items for that resource fail (from junit.xml), that the message names the resource, and
that the exit status is 1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.demo import DemoTarget

# The JUnit titles of the checks (their docstrings), one item per resource.
DISK = "free disk at {}"
DAEMON = "docker daemon reachable"
PLUGIN = "compose v2 plugin installed"
COMPOSE_FILE = "compose file {} present"
CONFIG = "docker compose config passes"
VARIABLES = "every compose variable without a default defined"
SECRETS_DIR = "secrets dir present"
SECRET = "secret {} present, not blank, owner-only"
PORT = "port {} free or held by this stack"
ENV_FILE = "env file sets every required variable"
RESTORABLE = "running release restorable"
SWITCH = "service {} can be switched without downtime"


def demo_checks(demo: DemoTarget) -> set[str]:
    """Every check item of a demo copy: 21 in all."""
    return {item(title) for title in (
        DISK.format("stack dir"), DISK.format("docker data root"), DAEMON, PLUGIN,
        COMPOSE_FILE.format("docker-compose.yml"), COMPOSE_FILE.format("compose.production.yaml"),
        CONFIG, VARIABLES, SECRETS_DIR, SECRET.format("postgres_password"),
        SECRET.format("jwt_secret"), *(PORT.format(port) for port in demo.ports.values()),
        ENV_FILE, RESTORABLE,
        *(SWITCH.format(service) for service in ("backend", "caddy", "postgres", "redis")),
    )}


@dataclass
class Run:
    result: subprocess.CompletedProcess[str]
    run_dir: Path
    cases: dict[str, str | None]  # normalised item name -> failure message (None: passed)

    @property
    def failed(self) -> dict[str, str]:
        return {name: message for name, message in self.cases.items() if message is not None}

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def item(title: str) -> str:
    """A JUnit row's name (`preflight: secret jwt_secret present, ...`) without the phase."""
    return " ".join(title.lower().removeprefix("preflight:").split())


def junit_cases(path: Path) -> dict[str, str | None]:
    cases: dict[str, str | None] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        if not case.get("classname", "").startswith("checks.preflight."):
            continue
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        text = None if problem is None else (problem.get("message", "") + (problem.text or ""))
        cases[item(case.get("name", ""))] = text
    return cases


def run_preflight(demo: DemoTarget, *args: str, env: dict[str, str] | None = None,
                  timeout: float = 300) -> Run:
    """`pytest -m preflight` from the repo against the copy; reports under the copy."""
    result = demo.run_cutover("-m", "preflight", *args, env=env, timeout=timeout)
    run_dir = demo.latest_run()
    junit = run_dir / "junit.xml"
    cases = junit_cases(junit) if junit.is_file() else {}
    return Run(result, run_dir, cases)


def assert_only_failed(run: Run, expected: dict[str, list[str]], demo: DemoTarget) -> None:
    """Exactly the `expected` items failed, each message naming all its fragments."""
    __tracebackhide__ = True
    assert run.result.returncode == 1, run.output
    assert set(run.failed) == {item(name) for name in expected}, run.output
    for name, fragments in expected.items():
        message = run.failed[item(name)]
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} not in the message of {name}:\n{message}"
    wanted = demo_checks(demo)
    no_services = item(SWITCH.format("(no services)"))
    if no_services in run.cases:  # compose config failed: one row says nothing is judged
        wanted = {c for c in wanted if "can be switched" not in c} | {no_services}
    assert set(run.cases) == wanted, sorted(run.cases)
    skipped = int(no_services in run.cases)
    passed = len(run.cases) - len(expected) - skipped
    assert f"preflight: {passed} passed, {len(expected)} failed" in run.result.stdout, \
        run.result.stdout[-2000:]


def test_good_target_passes_and_writes_the_run_directory(demo_target: DemoTarget) -> None:
    run = run_preflight(demo_target, "-v")
    assert run.result.returncode == 0, run.output
    assert set(run.cases) == demo_checks(demo_target) and not run.failed, run.cases
    # Item ids name the resource.
    for node in ("test_secrets.py::test_secret[jwt_secret] PASSED",
                 *(f"test_ports.py::test_port[port {port}] PASSED"
                   for port in demo_target.ports.values())):
        assert node in run.result.stdout
    assert run.run_dir.name.endswith("-preflight")
    assert run.run_dir.parent == demo_target.reports_dir
    for artifact in ("report.html", "junit.xml", "run.log"):
        assert (run.run_dir / artifact).stat().st_size > 0, artifact
    html = (run.run_dir / "report.html").read_text()
    assert "test_secret[jwt_secret]" in html and "<script" in html  # self-contained
    assert f"preflight: {len(run.cases)} passed, 0 failed" in run.result.stdout


def _secrets(demo: DemoTarget) -> Path:
    return demo.stack_dir / "secrets"


def _remove_line(path: Path, prefix: str) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith(prefix)) + "\n")


def _set_in_target(demo: DemoTarget, old: str, new: str) -> None:
    text = demo.target_file.read_text()
    assert old in text
    demo.target_file.write_text(text.replace(old, new))


Breaker = Callable[[DemoTarget], None]
FAULTS: dict[str, tuple[Breaker, Callable[[DemoTarget], dict[str, list[str]]]]] = {
    "low disk": (
        lambda d: _set_in_target(d, "min_free_disk_gb = 5", "min_free_disk_gb = 1000000000"),
        lambda d: {DISK.format("stack dir"): ["low disk", str(d.stack_dir), "min_free_disk_gb"],
                   DISK.format("docker data root"): ["low disk", "min_free_disk_gb"]},
    ),
    "missing compose file": (
        lambda d: (d.stack_dir / "compose.production.yaml").unlink(),
        lambda d: {COMPOSE_FILE.format("compose.production.yaml"):
                   ["compose file missing", str(d.stack_dir / "compose.production.yaml")],
                   CONFIG: ["compose.production.yaml"]},
    ),
    "invalid compose file": (
        lambda d: (d.stack_dir / "compose.production.yaml").write_text(
            "services:\n  backend:\n    ports: [\n"),
        lambda d: {CONFIG: ["docker compose config", "compose.production.yaml"]},
    ),
    "missing secrets dir": (
        lambda d: shutil.rmtree(_secrets(d)),
        lambda d: {SECRETS_DIR: ["secrets dir missing", str(_secrets(d))],
                   SECRET.format("postgres_password"): ["'postgres_password' is missing"],
                   SECRET.format("jwt_secret"): ["'jwt_secret' is missing"]},
    ),
    "missing secret": (
        lambda d: (_secrets(d) / "jwt_secret").unlink(),
        lambda d: {SECRET.format("jwt_secret"): ["'jwt_secret' is missing",
                                                 str(_secrets(d) / "jwt_secret")]},
    ),
    "empty secret": (
        lambda d: (_secrets(d) / "jwt_secret").write_text(""),
        lambda d: {SECRET.format("jwt_secret"): ["'jwt_secret' is empty",
                                                 str(_secrets(d) / "jwt_secret")]},
    ),
    "whitespace-only secret": (
        lambda d: (_secrets(d) / "jwt_secret").write_text("  \n\t \n"),
        lambda d: {SECRET.format("jwt_secret"): ["'jwt_secret' is blank"]},
    ),
    "secret readable by others": (
        lambda d: (_secrets(d) / "jwt_secret").chmod(0o644),
        lambda d: {SECRET.format("jwt_secret"): [
            "'jwt_secret' is readable by others", "0644",
            f"chmod 600 {_secrets(d) / 'jwt_secret'}"]},
    ),
    "missing env file": (
        lambda d: d.env_file.unlink(),
        lambda d: {ENV_FILE: ["env file missing", str(d.env_file)]},
    ),
    "missing variable": (
        lambda d: _remove_line(d.env_file, "POSTGRES_DB="),
        lambda d: {ENV_FILE: ["POSTGRES_DB is missing", str(d.env_file)]},
    ),
    "empty variable": (
        lambda d: d.set_env("APP_VERSION", ""),
        lambda d: {ENV_FILE: ["APP_VERSION is empty"]},
    ),
    "undefined compose variable": (
        lambda d: (d.stack_dir / "docker-compose.yml").write_text(
            (d.stack_dir / "docker-compose.yml").read_text().replace(
                "      REDIS_URL:", "      PREFLIGHT_PROBE: ${CUTOVER_TEST_UNDEFINED}\n"
                "      REDIS_URL:")),
        lambda d: {VARIABLES: ["CUTOVER_TEST_UNDEFINED", "docker-compose.yml"]},
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_fails_exactly_its_item(demo_target: DemoTarget, fault: str) -> None:
    breaker, expected = FAULTS[fault]
    breaker(demo_target)
    run = run_preflight(demo_target)
    assert_only_failed(run, expected(demo_target), demo_target)


def test_daemon_unreachable(demo_target: DemoTarget, tmp_path: Path) -> None:
    address = f"unix://{tmp_path}/no-docker.sock"
    run = run_preflight(demo_target, env={"DOCKER_HOST": address})
    assert_only_failed(run, {DAEMON: ["docker daemon unreachable", address]}, demo_target)


def test_port_held_by_a_foreign_listener(demo_target: DemoTarget) -> None:
    port = demo_target.ports["POSTGRES_PORT"]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        run = run_preflight(demo_target)
    name = Path(sys.executable).name[:15]  # the kernel keeps 15 characters of a name
    assert_only_failed(run, {PORT.format(port): [
        f"port {port} is in use by", f"pid {os.getpid()}", "127.0.0.1"]}, demo_target)
    message = run.failed[item(PORT.format(port))]
    assert name in message or "python" in message, message


def test_broken_target_file_is_a_usage_error(demo_target: DemoTarget) -> None:
    _set_in_target(demo_target, "min_free_disk_gb = 5", "min_free_disk_gb = 'lots'")
    run = run_preflight(demo_target)
    assert run.result.returncode == 4, run.output
    assert str(demo_target.target_file) in run.output
    assert "preflight.min_free_disk_gb" in run.output


def test_more_than_one_host_is_a_usage_error(demo_target: DemoTarget) -> None:
    run = run_preflight(demo_target, "--hosts=local://,docker://elsewhere")
    assert run.result.returncode == 4, run.output
    assert "names 2 hosts; a cutover run checks one host" in run.output
