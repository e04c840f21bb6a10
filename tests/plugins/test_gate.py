"""The phase gate, through real pytest runs (pytester)."""

from __future__ import annotations

import pytest

CHECKS = """
import pytest
pytestmark = pytest.mark.preflight

@pytest.mark.parametrize("name", ["disk", "docker"])
def test_check(name):
    assert name != "{broken}", f"{{name}} is broken"
"""

DEPLOY = """
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy
TOUCHED = []

def test_acquire_lock():
    TOUCHED.append("lock")

def test_build():
    assert "{fail_step}" != "build", "build exploded"

def test_start_services():
    TOUCHED.append("start")

@pytest.mark.finalizer
def test_release_lock():
    \"\"\"Release the deploy lock.\"\"\"
"""

POSTDEPLOY = """
import pytest
pytestmark = pytest.mark.postdeploy

def test_health():
    pass
"""


def _project(pytester: pytest.Pytester, broken: str = "", fail_step: str = "") -> None:
    pytester.mkpydir("checks")
    pytester.makepyfile(
        **{
            "checks/test_preflight_demo": CHECKS.format(broken=broken),
            "checks/test_postdeploy_demo": POSTDEPLOY,
            "test_deploy": DEPLOY.format(fail_step=fail_step),
        }
    )


def test_deploy_brings_in_preflight_and_postdeploy_in_phase_order(cutover_project):
    _project(cutover_project)
    result = cutover_project.runpytest("-m", "deploy", "-v")
    result.assert_outcomes(passed=7)
    order = [line.split("::")[1].split(" ")[0] for line in result.outlines if " PASSED" in line]
    assert order == [
        "test_check[disk]", "test_check[docker]", "test_acquire_lock", "test_build",
        "test_start_services", "test_release_lock", "test_health",
    ]
    assert "deselected" not in result.stdout.str()


def test_failed_preflight_blocks_every_step_but_finalizers(cutover_project):
    _project(cutover_project, broken="docker")
    result = cutover_project.runpytest("-m", "deploy", "-v")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2, failed=5)  # disk, release lock; 3 steps + health blocked
    result.stdout.fnmatch_lines([
        "*_ test_acquire_lock _*",
        "blocked: preflight failed: checks/test_preflight_demo.py::test_check?docker?",
        "*_ test_health _*",
        "not run: deploy blocked: preflight failed",
    ])
    assert "skipped" not in result.stdout.str()


def test_failed_step_stops_later_steps_and_postdeploy(cutover_project):
    _project(cutover_project, fail_step="build")
    result = cutover_project.runpytest("-m", "deploy", "-rf")
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines([
        "FAILED test_deploy.py::test_build - AssertionError: build exploded",
        "FAILED test_deploy.py::test_start_services - *not run: build failed",
        "FAILED checks/test_postdeploy_demo.py::test_health - *not run: deploy step build failed",
    ])


def test_skip_checks_waives_preflight_and_says_who(cutover_project):
    _project(cutover_project, broken="docker")
    result = cutover_project.runpytest("-m", "deploy", "--skip-checks")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["cutover: PREFLIGHT WAIVED: --skip-checks by * at *"])


def test_checks_all_run_even_when_some_fail(cutover_project):
    _project(cutover_project, broken="disk")
    result = cutover_project.runpytest("-m", "preflight")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["preflight: 1 passed, 1 failed"])
