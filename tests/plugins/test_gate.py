"""The phase gate, through real pytest runs (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.gate import PHASES

CHECKS = """
import pytest
pytestmark = pytest.mark.preflight

@pytest.mark.parametrize("name", ["disk", "docker"])
def test_check(name):
    assert name != "{broken}", f"{{name}} is broken"
"""

DEPLOY = """
import pathlib
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def touch(what):  # what a step did to the target, for the test to read back
    with open(pathlib.Path(__file__).parent / "touched.log", "a") as log:
        log.write(what + "\\n")

def test_acquire_lock():
    touch("lock")

def test_build():
    assert "{fail_step}" != "build", "build exploded"

def test_start_services():
    touch("start")

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


def _touched(pytester: pytest.Pytester) -> list[str]:
    log = pytester.path / "touched.log"
    return log.read_text().split() if log.exists() else []


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
    order = [line.split("::")[1].split(" ")[0] for line in result.outlines
             if " PASSED" in line and "::" in line]
    assert order == [
        "test_check[disk]", "test_check[docker]", "test_acquire_lock", "test_build",
        "test_start_services", "test_release_lock", "test_health",
    ]
    assert "deselected" not in result.stdout.str()
    assert _touched(cutover_project) == ["lock", "start"]


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
    assert _touched(cutover_project) == [], "a blocked step ran its body"


def test_failed_step_stops_later_steps_and_postdeploy(cutover_project):
    _project(cutover_project, fail_step="build")
    result = cutover_project.runpytest("-m", "deploy", "-rf")
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines([
        "FAILED test_deploy.py::test_build - AssertionError: build exploded",
        "FAILED test_deploy.py::test_start_services - *not run: build failed",
        "FAILED checks/test_postdeploy_demo.py::test_health - *not run: deploy step build failed",
    ])
    assert _touched(cutover_project) == ["lock"], "a step after the failed one ran its body"


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


CROSS_PHASE = (
    "import pytest\npytestmark = pytest.mark.rollback\n\n"
    "@pytest.mark.preflight\ndef test_backup_space():\n    pass\n"
)


@pytest.mark.parametrize(("markexpr", "passed", "collected"), [
    ("preflight", 2, False), ("preflight and rollback", 1, True),
])
def test_a_phase_folder_is_collected_only_when_the_expression_names_its_phase(
    cutover_project, markexpr, passed, collected
):
    """The rule is stated on phase names, not found by reading every module's markers."""
    _phase_folders(cutover_project, rollback=CROSS_PHASE)
    result = cutover_project.runpytest("-m", markexpr, "-v")
    result.assert_outcomes(passed=passed)
    assert ("test_backup_space PASSED" in result.stdout.str()) is collected


DEPLOY_PROBE_TARGET = 'database_service = "postgres"\n'


def _with_database_service(pytester: pytest.Pytester) -> None:
    path = pytester.path / "cutover.toml"
    path.write_text(path.read_text().replace("[deploy]\n", "[deploy]\n" + DEPLOY_PROBE_TARGET))


def _run_dir_and_properties(pytester: pytest.Pytester) -> tuple[str, dict[str, str | None]]:
    import xml.etree.ElementTree as ET

    folder = (pytester.path / "reports" / "latest").resolve()
    root = ET.parse(folder / "junit.xml").getroot()
    return folder.name, {p.get("name") or "": p.get("value") for p in root.iter("property")}


def test_preflight_and_not_deploy_is_a_preflight_run_without_a_database_probe(cutover_project):
    _with_database_service(cutover_project)
    _project(cutover_project)
    result = cutover_project.runpytest("-m", "preflight and not deploy")
    result.assert_outcomes(passed=2)
    name, properties = _run_dir_and_properties(cutover_project)
    assert name.endswith("-preflight"), name
    assert properties["phase"] == "preflight"
    assert "postgresql" not in properties, "a preflight run started a PostgreSQL probe"
    assert "postgresql" not in result.stdout.str()


def test_a_deploy_run_probes_the_database_version(cutover_project):
    """The probe the test above must not see, seen where it belongs."""
    _with_database_service(cutover_project)
    _project(cutover_project)
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=7)
    name, properties = _run_dir_and_properties(cutover_project)
    assert name.endswith("-deploy"), name
    assert "postgresql" in properties


def test_not_rollback_is_not_a_rollback_run(cutover_project):
    _phase_folders(cutover_project)  # its rollback module raises when imported
    result = cutover_project.runpytest("-m", "not rollback")
    result.assert_outcomes(passed=2)
    runs = [path.name for path in (cutover_project.path / "reports").iterdir()
            if path.name != "latest"]
    assert len(runs) == 1 and runs[0].endswith("-deploy"), runs
    assert "imported" not in result.stdout.str()


@pytest.mark.parametrize(("markexpr", "paths", "expected", "name"), [
    ("preflight", [], {"preflight"}, "preflight"),
    ("deploy", [], {"preflight", "deploy", "postdeploy"}, "deploy"),
    ("preflight and not deploy", [], {"preflight"}, "preflight"),
    ("not rollback", [], set(PHASES) - {"rollback"}, "deploy"),
    ("not (rollback or deploy)", [], None, None),  # `not (...)`: every phase
    ("rollback and not finalizer", [], {"rollback"}, "rollback"),
    ("(preflight or postdeploy) and slow", [], {"preflight", "postdeploy"}, "postdeploy"),
    ("slow", ["checks/preflight"], {"preflight"}, "preflight"),
    ("", ["operations/test_rollback.py"], {"rollback"}, "rollback"),
    ("slow", [], None, None),  # no phase named: every phase, not a phase run
    ("", [], None, None),
])
def test_run_phases_for(markexpr, paths, expected, name):
    from fixtures.gate import phase_layout, run_phases_for

    root = Path("/repo")
    path_phases = {found[0] for p in paths if (found := phase_layout(root / p, root))}
    found = run_phases_for(markexpr, path_phases)
    assert found.phases == frozenset(expected if expected is not None else PHASES)
    assert found.name == name


@pytest.mark.parametrize(("path", "expected"), [
    ("checks/rollback", "rollback"), ("checks/postdeploy/test_endpoints.py", "postdeploy"),
    ("operations/test_deploy.py", "deploy"), ("operations/test_export.py", None),
    ("checks", None), ("tests/unit/test_rollback_cutover.py", None),
])
def test_phase_layout(tmp_path, path, expected):
    from fixtures.gate import phase_layout

    found = phase_layout(tmp_path / path, tmp_path)
    assert (found[0] if found is not None else None) == expected
