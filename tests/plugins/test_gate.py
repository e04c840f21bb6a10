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


HEAVY_ROLLBACK = """
import pytest
raise RuntimeError("imported: a rollback module was collected")
pytestmark = pytest.mark.rollback
"""


def _phase_folders(pytester: pytest.Pytester, rollback: str = HEAVY_ROLLBACK) -> None:
    for folder in ("checks", "checks/preflight", "checks/rollback"):
        pytester.mkpydir(folder)
    pytester.makepyfile(**{
        "checks/preflight/test_disk": CHECKS.format(broken=""),
        "checks/rollback/test_database": rollback,
    })


def test_a_preflight_run_does_not_import_other_phases_modules(cutover_project):
    _phase_folders(cutover_project)
    result = cutover_project.runpytest("-m", "preflight")
    result.assert_outcomes(passed=2)
    assert "imported" not in result.stdout.str()


@pytest.mark.parametrize("args", [
    ["-m", "rollback"], ["-m", "not preflight"], ["-m", "preflight", "checks/rollback"], [],
])
def test_modules_the_expression_or_the_paths_can_select_are_collected(cutover_project, args):
    _phase_folders(cutover_project)
    result = cutover_project.runpytest(*args)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # the rollback module's import error
    result.stdout.fnmatch_lines(["*RuntimeError: imported: a rollback module was collected*"])


@pytest.mark.parametrize(("markexpr", "passed"), [
    ("preflight", 3), ("preflight and rollback", 1),
])
def test_a_module_naming_a_selected_marker_is_collected_wherever_it_lives(
    cutover_project, markexpr, passed
):
    _phase_folders(cutover_project, rollback=(
        "import pytest\npytestmark = pytest.mark.rollback\n\n"
        "@pytest.mark.preflight\ndef test_backup_space():\n    pass\n"
    ))
    result = cutover_project.runpytest("-m", markexpr, "-v")
    result.assert_outcomes(passed=passed)
    result.stdout.fnmatch_lines(["*test_backup_space PASSED*"])


@pytest.mark.parametrize(("markexpr", "expected"), [
    ("preflight", {"preflight"}),
    ("deploy", {"preflight", "deploy", "postdeploy"}),
    ("rollback and not finalizer", {"rollback"}),
    ("(preflight or postdeploy) and slow", {"preflight", "postdeploy"}),
    ("not rollback", None),  # an item without a phase marker matches
    ("slow", None),
    ("", None),
])
def test_selectable_phases(markexpr, expected):
    from fixtures.gate import selectable_phases

    found = selectable_phases(markexpr)
    assert (set(found) if found is not None else None) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("checks/rollback", "rollback"), ("checks/postdeploy/test_endpoints.py", "postdeploy"),
    ("operations/test_deploy.py", "deploy"), ("operations/test_export.py", None),
    ("checks", None), ("tests/unit/test_rollback_cutover.py", None),
])
def test_phase_layout(tmp_path, path, expected):
    from fixtures.gate import phase_layout

    found = phase_layout(tmp_path / path, tmp_path)
    assert (found[0] if found is not None else None) == expected
