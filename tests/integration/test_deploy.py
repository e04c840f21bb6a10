"""`pytest -m deploy` on a private copy of the demo stack, on the real Docker engine.

Each test runs the suite in a subprocess against its own copy (project name, ports,
secrets) and reads the outcome from junit.xml, manifest.json and the stack itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.demo import REPO, DemoTarget

SWITCH_STEP = "Switch to the new release"
HEALTH_TIMEOUT_S = 20
NEW_MIGRATION = "0004_reading_unit.sql"


@dataclass
class Run:
    returncode: int
    stdout: str
    wall_s: float
    run_dir: Path

    @property
    def manifest(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.run_dir / "manifest.json").read_text())
        return loaded

    def steps(self) -> dict[str, str]:
        return {s["name"]: s["outcome"] for s in self.manifest["steps"]}

    def message(self, step: str) -> str:
        """A step's failure message, as the manifest keeps it."""
        return str(next(s for s in self.manifest["steps"] if s["name"] == step)["message"])

    def junit(self) -> dict[str, tuple[str, str]]:
        """Report row name ("<phase>: <title>") -> (outcome, failure message)."""
        cases: dict[str, tuple[str, str]] = {}
        for case in ET.parse(self.run_dir / "junit.xml").iter("testcase"):
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None:
                text = problem.get("message", "").removeprefix("Failed: ")
                cases[str(case.get("name"))] = ("failed", text)
            elif case.find("skipped") is not None:
                cases[str(case.get("name"))] = ("skipped", "")
            else:
                cases[str(case.get("name"))] = ("passed", "")
        return cases

    def phase(self, phase: str) -> dict[str, tuple[str, str]]:
        return {k: v for k, v in self.junit().items() if k.startswith(f"{phase}: ")}


def _argv(demo: DemoTarget, *args: str) -> list[str]:
    # `--target=PATH` as one word: pytest's early rootdir detection would take a separate
    # PATH for a test path and miss the repo's conftest and pyproject.
    return [sys.executable, "-m", "pytest", f"--target={demo.target_file}", *args]


def _env(demo: DemoTarget) -> dict[str, str]:
    env = {**os.environ, "CUTOVER_REPORTS_DIR": str(demo.reports_dir), "COLUMNS": "200"}
    for name in ("CUTOVER_TARGET", "CUTOVER_TIMESTAMP", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return env


def _run_dir(stdout: str) -> Path:
    found = re.search(r"cutover: run directory (\S+)", stdout)
    assert found, f"no run directory in the output:\n{stdout[-3000:]}"
    return Path(found[1])


def deploy(demo: DemoTarget, *args: str, timeout: float = 600) -> Run:
    started = time.monotonic()
    done = subprocess.run(_argv(demo, "-m", "deploy", *args), cwd=REPO, env=_env(demo),
                          capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    return Run(done.returncode, output, time.monotonic() - started, _run_dir(output))


def _start(demo: DemoTarget, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(_argv(demo, "-m", "deploy", *args), cwd=REPO, env=_env(demo),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)


def _finish(process: subprocess.Popen[str], started: float, timeout: float = 600) -> Run:
    output, _ = process.communicate(timeout=timeout)
    return Run(process.returncode, output, time.monotonic() - started, _run_dir(output))


def _set_health_timeout(demo: DemoTarget, seconds: int) -> None:
    text = demo.target_file.read_text()
    text, count = re.subn(r"(?m)^health_timeout_s = .*$", f"health_timeout_s = {seconds}", text)
    assert count == 1
    demo.target_file.write_text(text)


def _health(demo: DemoTarget) -> dict[str, Any]:
    answer = requests.get(f"{demo.backend_url}/health", timeout=5)
    body: dict[str, Any] = answer.json()
    return body


def _containers(demo: DemoTarget) -> dict[str, str]:
    """Container name -> id and start time: any recreate or restart changes it."""
    listed = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter",
         f"label=com.docker.compose.project={demo.project}"],
        capture_output=True, text=True, timeout=30, check=True).stdout.split()
    if not listed:
        return {}
    shown = subprocess.run(["docker", "inspect", "--format",
                            "{{.Name}} {{.Id}} {{.State.StartedAt}}", *listed],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    return {line.split()[0]: " ".join(line.split()[1:]) for line in shown.splitlines()}


def _images(demo: DemoTarget) -> list[str]:
    return subprocess.run(
        ["docker", "images", "--quiet", "--filter",
         f"label=com.docker.compose.project={demo.project}"],
        capture_output=True, text=True, timeout=30, check=True).stdout.split()


# Steps the demo target does not configure ([hooks]): skipped with the reason.
# Skipped in a good deploy of the demo: hooks it does not configure, and the post-revert hook
# (a finalizer: nothing was reverted).
UNCONFIGURED = ("Run the pre-deploy hook", "Run the post-deploy hook", "Run the post-revert hook")


def _assert_all_passed(run: Run, also_skipped: tuple[str, ...] = ()) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0, run.stdout[-5000:]
    skipped = (*UNCONFIGURED, *also_skipped)
    steps = run.steps()
    assert [steps.pop(name) for name in skipped] == ["skipped"] * len(skipped)
    assert set(steps.values()) == {"passed"}, run.steps()
    assert run.manifest["outcome"] == "succeeded"
    rows = run.junit()
    assert [rows.pop(f"deploy: {name}")[0] for name in skipped] == ["skipped"] * len(skipped)
    assert all(outcome == "passed" for outcome, _ in rows.values()), run.junit()


def test_fresh_deploy_of_v1_then_an_unchanged_redeploy(demo_target: DemoTarget) -> None:
    first = deploy(demo_target)
    _assert_all_passed(first)
    for name in ("report.html", "junit.xml", "manifest.json", "DEPLOY_MANIFEST.md"):
        assert (first.run_dir / name).is_file(), name
    assert len(first.steps()) == 15
    assert len(first.phase("postdeploy")) >= 6, "post-deploy checks ran after the steps"
    assert _health(demo_target)["version"] == "1.0.0"
    data = first.manifest["data"]
    assert data["migrations_applied"] == ["0001_sensor_readings.sql", "0002_alerts.sql",
                                          "0003_user_profiles.sql"]
    assert {row["service"] for row in data["images_after"]} == {"backend", "caddy",
                                                                "postgres", "redis"}
    log = (first.run_dir / "run.log").read_text()
    assert "every service has a build: section, so nothing is pulled" in log, \
        "the pull step records why it pulled nothing"
    state = demo_target.stack_dir / ".cutover"
    assert not (state / "deploy.lock").exists(), "the lock is released"
    last = json.loads((state / "last-deploy.json").read_text())
    assert last["version"] == "1.0.0" and last["cutover_at"].endswith("+00:00")

    containers = _containers(demo_target)
    again = deploy(demo_target)
    _assert_all_passed(again, also_skipped=(SWITCH_STEP, "Watch the new release"))
    assert "nothing to switch" in again.message(SWITCH_STEP)
    assert len(again.phase("preflight")) >= 5, "the redeploy ran its preflight"
    assert again.manifest["data"]["migrations_applied"] == []
    assert _containers(demo_target) == containers, "an unchanged redeploy recreates nothing"


def test_upgrade_v1_to_v2_applies_the_new_migration(demo_target: DemoTarget) -> None:
    _assert_all_passed(deploy(demo_target))
    (demo_target.stack_dir / "backend/migrations" / NEW_MIGRATION).write_text(
        "ALTER TABLE sensor_readings ADD COLUMN unit text;\n")
    demo_target.set_env("APP_VERSION", "2.0.0")
    upgrade = deploy(demo_target, "--ticket", "CHG-2")
    _assert_all_passed(upgrade)
    assert _health(demo_target)["version"] == "2.0.0"
    manifest = upgrade.manifest
    assert manifest["ticket"] == "CHG-2"
    assert manifest["data"]["migrations_applied"] == [NEW_MIGRATION]
    assert manifest["data"]["release_before"]["version"] == "1.0.0"
    assert manifest["data"]["release_after"]["version"] == "2.0.0"
    before = {r["service"]: r["image_id"] for r in manifest["data"]["images_before"]}
    after = {r["service"]: r["image_id"] for r in manifest["data"]["images_after"]}
    assert before["backend"] != after["backend"] and before["redis"] == after["redis"]
    markdown = (upgrade.run_dir / "DEPLOY_MANIFEST.md").read_text()
    assert "## Images before" in markdown and "## Images after" in markdown
    last = json.loads((demo_target.stack_dir / ".cutover/last-deploy.json").read_text())
    assert last["version"] == "2.0.0" and last["previous"]["version"] == "1.0.0"


def test_a_release_that_never_turns_healthy_fails_within_the_timeout(
        demo_target: DemoTarget) -> None:
    _set_health_timeout(demo_target, HEALTH_TIMEOUT_S)
    demo_target.set_env("APP_VERSION", "3.0.0-broken")
    started = time.monotonic()
    run = deploy(demo_target)
    assert run.returncode == 1, run.stdout[-5000:]
    wait = next(s for s in run.manifest["steps"] if s["name"] == SWITCH_STEP)
    assert wait["outcome"] == "failed"
    # Docker's own verdict (unhealthy) may end the wait before the timeout does.
    assert wait["duration_s"] <= HEALTH_TIMEOUT_S + 5
    before_wait = sum(s["duration_s"] for s in run.manifest["steps"][:6])
    assert time.monotonic() - started - before_wait <= HEALTH_TIMEOUT_S + 15 + 10, \
        "the run ends soon after the wait gives up (+10 s: preflight and pytest start-up)"
    message = run.message(SWITCH_STEP)
    assert re.search(r"GET http://127\.0\.0\.1:\d+/health", message), message
    assert 'HTTP 503 {"status": "unhealthy", "version": "3.0.0-broken"}' in message
    assert "a first deploy: nothing served before it" in message
    steps = run.steps()
    assert steps["Verify health, readiness, containers and images"] == "not run"
    assert steps["Release the deploy lock"] == "passed"
    log = (run.run_dir / "run.log").read_text()
    attached = re.split(r"logs \S+-backend-\d+ \(last 200 lines\):", log, maxsplit=1)
    assert len(attached) == 2 and "GET /health 503" in attached[1], "backend logs attached"
    assert not (demo_target.stack_dir / ".cutover/deploy.lock").exists()


def test_a_failing_migration_stops_the_deploy_and_v1_keeps_serving(
        demo_target: DemoTarget) -> None:
    _assert_all_passed(deploy(demo_target))
    containers = _containers(demo_target)
    (demo_target.stack_dir / "backend/migrations" / NEW_MIGRATION).write_text(
        "ALTER TABLE no_such_table ADD COLUMN unit text;\n")
    demo_target.set_env("APP_VERSION", "2.0.0")
    run = deploy(demo_target)
    assert run.returncode == 1
    steps = run.steps()
    assert steps["Migrate the database"] == "failed"
    assert steps[SWITCH_STEP] == "not run"
    message = run.message("Migrate the database")
    assert "migration failed" in message and "no_such_table" in message
    assert _health(demo_target)["version"] == "1.0.0"
    assert _containers(demo_target) == containers, "no container was recreated or restarted"


def test_a_failed_preflight_blocks_every_step_and_changes_nothing(
        demo_target: DemoTarget) -> None:
    (demo_target.stack_dir / "secrets/jwt_secret").write_text("")
    run = deploy(demo_target)
    assert run.returncode == 1
    failed_checks = [k for k, (o, _) in run.phase("preflight").items() if o == "failed"]
    assert len(failed_checks) == 1 and "jwt_secret" in failed_checks[0], failed_checks
    steps = run.phase("deploy")
    finalizers = {"deploy: Release the deploy lock", "deploy: Run the post-revert hook"}
    blocked = {k: m for k, (_, m) in steps.items() if k not in finalizers}
    assert len(blocked) == 13 and all(
        m.startswith("blocked: preflight failed: ") and "jwt_secret" in m
        for m in blocked.values()), blocked
    # The finalizers ran: the lock step passed, the post-revert hook had nothing to follow.
    assert set(run.steps().values()) == {"blocked", "passed", "skipped"}
    assert _containers(demo_target) == {} and _images(demo_target) == []


def test_two_deploys_at_once_one_proceeds_the_other_names_the_holder(
        demo_target: DemoTarget) -> None:
    started = time.monotonic()
    first, second = _start(demo_target), _start(demo_target)
    runs = [_finish(first, started), _finish(second, started)]
    assert sorted(r.returncode for r in runs) == [0, 1], [r.stdout[-3000:] for r in runs]
    winner, loser = sorted(runs, key=lambda r: r.returncode)
    _assert_all_passed(winner)
    message = loser.message("Acquire the deploy lock")
    holder_pid = re.search(r"pid (\d+)", winner.manifest["data"]["lock"]["holder"])
    assert holder_pid and f"is held by deploy by {winner.manifest['operator']} " \
        f"(pid {holder_pid[1]} on" in message, message
    assert set(loser.steps().values()) == {"failed", "not run", "passed", "skipped"}
    assert loser.steps()["Release the deploy lock"] == "passed"
    assert loser.steps()["Run the post-revert hook"] == "skipped"  # nothing was reverted
    assert not (demo_target.stack_dir / ".cutover/deploy.lock").exists()


def _wait_for_step(run_dir_of: list[Path], reports: Path, name: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for manifest in reports.glob("*-deploy*/manifest.json"):
            try:
                steps = json.loads(manifest.read_text())["steps"]
            except (OSError, ValueError):
                continue
            if any(s["name"] == name and s["outcome"] == "running" for s in steps):
                run_dir_of.append(manifest.parent)
                return True
        time.sleep(0.1)
    return False


def test_sigint_during_the_health_wait_releases_the_lock(demo_target: DemoTarget) -> None:
    _set_health_timeout(demo_target, 120)
    demo_target.set_env("APP_VERSION", "3.0.0-broken")
    lock = demo_target.stack_dir / ".cutover/deploy.lock"
    started = time.monotonic()
    process = _start(demo_target)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.append(process.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    found: list[Path] = []
    assert _wait_for_step(found, demo_target.reports_dir, SWITCH_STEP, 300), "wait never began"
    time.sleep(1.0)
    assert lock.exists(), "the lock is held during the wait"
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    reader.join(timeout=10)
    assert time.monotonic() - started < 300
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert not lock.exists(), "the session fixture released the lock on interrupt"
    manifest = json.loads((found[0] / "manifest.json").read_text())
    assert manifest["outcome"] == "interrupted"
    steps = {s["name"]: s["outcome"] for s in manifest["steps"]}
    assert steps[SWITCH_STEP] == "interrupted"


def test_a_stale_lock_stops_the_deploy_until_broken_on_purpose(demo_target: DemoTarget) -> None:
    """A lock left by a process that is gone: named as stale with the fix, left in place;
    --break-stale-lock removes it, says so, and the deploy proceeds."""
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()  # its pid is free once it has exited and been reaped
    lock_file = demo_target.stack_dir / ".cutover/deploy.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    stale = {"holder": "earlier-operator", "pid": dead_pid.pid, "host": socket.gethostname(),
             "acquired_at": "2026-11-01T02:00:00+00:00", "ticket": "CHG-1", "operation":
             "deploy", "token": "0" * 32}
    lock_file.write_text(json.dumps(stale))

    refused = deploy(demo_target)
    assert refused.returncode == 1, refused.stdout[-3000:]
    message = refused.message("Acquire the deploy lock")
    assert f"stale deploy lock {lock_file}: held by deploy by earlier-operator " \
        f"(pid {dead_pid.pid} on" in message and "--break-stale-lock" in message, message
    assert {name for name, outcome in refused.steps().items() if outcome == "not run"} \
        == set(refused.steps()) - {"Acquire the deploy lock", "Release the deploy lock",
                                   "Run the post-revert hook"}
    assert json.loads(lock_file.read_text()) == stale, "a refused deploy leaves the lock"
    assert _containers(demo_target) == {}

    broken = deploy(demo_target, "--break-stale-lock")
    _assert_all_passed(broken)
    assert "earlier-operator" in broken.manifest["data"]["lock"]["broke_stale_lock"]
    assert "--break-stale-lock: removed a stale lock held by deploy by earlier-operator" \
        in broken.stdout
    assert not lock_file.exists()


def test_a_failed_pull_is_a_warning_and_the_cached_image_is_used(
        demo_target: DemoTarget) -> None:
    """A service that is pulled, not built, from a registry that refuses connections: the
    pull step warns with compose's message, the deploy goes on with the cached image."""
    # No registry answers at 127.0.0.1:1; the image exists only as a local tag.
    image = f"127.0.0.1:1/cutover-pull-probe/{demo_target.project}:1"
    subprocess.run(["docker", "tag", "debian:bookworm-slim", image], check=True, timeout=60)
    try:
        (demo_target.stack_dir / "compose.pullprobe.yaml").write_text(
            f'services:\n  pullprobe:\n    image: {image}\n'
            '    command: ["sleep", "infinity"]\n    init: true\n')
        text = demo_target.target_file.read_text()
        demo_target.target_file.write_text(text.replace(
            '"compose.production.yaml"]', '"compose.production.yaml", "compose.pullprobe.yaml"]',
            1))
        run = deploy(demo_target)
    finally:
        demo_target.down()
        subprocess.run(["docker", "image", "rm", image], capture_output=True, timeout=60,
                       check=False)
    _assert_all_passed(run)
    assert "DeployWarning: pull failed, the cached images are used: `docker compose" \
        in run.stdout, run.stdout[-3000:]
    assert "pullprobe Error" in run.stdout and "connection refused" in run.stdout
    assert [name for name in run.junit() if "pullprobe" in name], "the probe ran and was checked"


def _dangling_image(project: str, tmp: Path, marker: str) -> str:
    """An untagged image carrying `project`'s compose label, as an old build leaves one: its
    tag moved on to a newer build (removed again here)."""
    ids = []
    for build in ("old", "new"):
        folder = tmp / marker / build
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(
            f"FROM debian:bookworm-slim\nLABEL marker={marker} build={build}\n")
        tag = f"cutover-test-{marker}:dangling"
        subprocess.run(["docker", "build", "--quiet", "--label",
                        f"com.docker.compose.project={project}", "--tag", tag, str(folder)],
                       check=True, capture_output=True, timeout=300)
        ids.append(subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                                  check=True, capture_output=True, text=True,
                                  timeout=30).stdout.strip())
    subprocess.run(["docker", "rmi", ids[1]], check=True, capture_output=True, timeout=60)
    assert _image_exists(ids[0]), "the old build should be left dangling"
    return ids[0]


def _image_exists(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                          timeout=30, check=False).returncode == 0


def test_build_target_no_build_and_pruning_of_this_project_only(demo_target: DemoTarget,
                                                                 tmp_path: Path) -> None:
    """Three README promises on one copy: the build-target check, --no-build, and a cleanup
    that removes this project's dangling images and leaves another project's alone."""
    _assert_all_passed(deploy(demo_target))
    text = demo_target.target_file.read_text()
    demo_target.target_file.write_text(
        re.sub(r'(?m)^build_target = .*$', 'build_target = "staging"', text))
    wrong = deploy(demo_target)
    demo_target.target_file.write_text(text)
    assert wrong.returncode == 1
    assert "build target is not 'staging': backend builds 'production'" in \
        wrong.message("Build the images")
    assert _health(demo_target)["version"] == "1.0.0"

    demo_target.set_env("APP_VERSION", "2.0.0")
    kept = deploy(demo_target, "--no-build")
    assert kept.steps()["Build the images"] == "skipped"
    assert "--no-build" in kept.message("Build the images")
    assert _health(demo_target)["version"] == "1.0.0", "--no-build deployed a new image"

    ours = _dangling_image(demo_target.project, tmp_path, "ours")
    theirs = _dangling_image(f"{demo_target.project}-other", tmp_path, "theirs")
    try:
        cleaned = deploy(demo_target, "--no-build")
        assert cleaned.returncode == 0, cleaned.stdout[-3000:]
        assert not _image_exists(ours), "this project's dangling image was left"
        assert _image_exists(theirs), "another project's image was removed"
    finally:
        subprocess.run(["docker", "rmi", "--force", ours, theirs], capture_output=True,
                       timeout=60, check=False)
