"""SIGTERM and SIGHUP stop a run like Ctrl-C: the step is `interrupted`, the real deploy lock
fixture releases the lock, the manifest is written, exit status 2; a second signal during
the cleanup does not cut it short. A real `python -m pytest` process gets real signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEPLOY = """
import time
from pathlib import Path

import pytest

from operations.deploy import lock

OPERATION = "deploy"
pytestmark = pytest.mark.deploy


@pytest.fixture(scope="session")
def slow_cleanup():
    yield
    Path("cleanup-started").write_text("")  # the test sends its second signal now
    time.sleep({cleanup_s})
    Path("cleanup-finished").write_text("")


def test_acquire_lock(deploy_lock, slow_cleanup):
    \"\"\"Acquire the deploy lock.\"\"\"
    info = lock.new_lock("op", "", OPERATION, "2026-01-01T00:00:00+00:00")
    lock.acquire(deploy_lock.path, info)
    deploy_lock.held = info


def test_wait_healthy():
    \"\"\"Wait until healthy.\"\"\"
    time.sleep(120)


def test_verify():
    \"\"\"Verify.\"\"\"


@pytest.mark.finalizer
def test_release_lock(deploy_lock):
    \"\"\"Release the deploy lock.\"\"\"
    deploy_lock.release()
"""
LOCK = Path("stack/.cutover/deploy.lock")
WAIT_STEP = "Wait until healthy"


def _start(project: pytest.Pytester, cleanup_s: float, *args: str) -> subprocess.Popen[str]:
    project.makepyfile(test_deploy=DEPLOY.format(cleanup_s=cleanup_s))
    return subprocess.Popen([sys.executable, "-m", "pytest", "-m", "deploy", *args],
                            cwd=project.path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _manifest(project: pytest.Pytester) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        (project.path / "reports" / "latest" / "manifest.json").read_text())
    return loaded


def _wait_until(condition: object, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if callable(condition) and condition():
                return
        except (OSError, ValueError, KeyError):
            pass  # a manifest not written yet
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.communicate()[0]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"{what} never happened: {process.communicate()[0]}")


def _wait_for_the_wait_step(project: pytest.Pytester, process: subprocess.Popen[str]) -> None:
    def running() -> bool:
        steps = _manifest(project)["steps"]
        assert isinstance(steps, list)
        return any(s["name"] == WAIT_STEP and s["outcome"] == "running" for s in steps)

    _wait_until(running, process, "the wait step began")
    time.sleep(0.3)  # inside time.sleep, not between hooks
    assert (project.path / LOCK).is_file(), "the lock is held during the wait"


def _finish(process: subprocess.Popen[str], started: float) -> str:
    output, _ = process.communicate(timeout=30)
    assert time.monotonic() - started < 10, "stopped within 10 s of the signal"
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    return output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_interrupts_the_step_releases_the_lock_and_writes_the_manifest(
        cutover_project: pytest.Pytester, signum: signal.Signals) -> None:
    process = _start(cutover_project, 0)
    _wait_for_the_wait_step(cutover_project, process)
    started = time.monotonic()
    process.send_signal(signum)
    output = _finish(process, started)
    assert f"{signum.name} received" in output
    assert not (cutover_project.path / LOCK).exists(), "the deploy lock was released"
    manifest = _manifest(cutover_project)
    assert manifest["outcome"] == "interrupted"
    steps = manifest["steps"]
    assert isinstance(steps, list)
    assert [(s["name"], s["outcome"]) for s in steps] == [
        ("Acquire the deploy lock", "passed"), (WAIT_STEP, "interrupted")]
    assert manifest["data"] == {"signals": {"stopped_by": signum.name,
                                            "ignored_during_cleanup": []}}
    assert f"{signum.name} received: the run was stopped" in (
        cutover_project.path / "reports" / "latest" / "run.log").read_text()


def test_a_second_signal_during_the_cleanup_is_ignored_and_the_cleanup_completes(
        cutover_project: pytest.Pytester) -> None:
    process = _start(cutover_project, 1.5)
    _wait_for_the_wait_step(cutover_project, process)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _wait_until((cutover_project.path / "cleanup-started").exists, process,
                "the cleanup began")
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)  # Ctrl-C on top: the cleanup still completes
    output = _finish(process, started)
    assert (cutover_project.path / "cleanup-finished").exists(), output
    assert not (cutover_project.path / LOCK).exists(), "the lock was released after it"
    assert "SIGTERM ignored: the run is finishing" in output
    manifest = _manifest(cutover_project)
    assert manifest["outcome"] == "interrupted"
    signals = manifest["data"]["signals"]  # type: ignore[index]
    assert signals["stopped_by"] == "SIGTERM"
    # Pending signals are handled in signal-number order, not in the order they came.
    assert sorted(signals["ignored_during_cleanup"]) == ["SIGINT", "SIGTERM"]


def test_handlers_are_restored_after_an_inline_run(cutover_project: pytest.Pytester) -> None:
    """The outer process's handlers are back once a run inside it has finished."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    cutover_project.makepyfile(test_x="def test_x():\n    pass\n")
    cutover_project.runpytest().assert_outcomes(passed=1)
    assert {s: signal.getsignal(s) for s in before} == before
