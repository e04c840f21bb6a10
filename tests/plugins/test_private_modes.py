"""A run's directory and everything in it is owner-only whatever the umask; the rollback
checks flag an export directory that other users can read or write, with the fix."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = """
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_acquire_lock(evidence):
    print("captured output")
    evidence.add_text("note", "a row extra")
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)



def test_every_artefact_of_a_run_is_owner_only(cutover_project, permissive_umask):
    cutover_project.makepyfile(test_deploy=DEPLOY)
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=1)
    run = (cutover_project.path / "reports" / "latest").resolve()
    modes = {str(p.relative_to(run)): mode(p) for p in run.rglob("*")}
    assert {"manifest.json", "DEPLOY_MANIFEST.md", "report.html", "junit.xml", "run.log",
            "summary.md"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)
    assert mode(run) == 0o700


def _rollback_checks(project: pytest.Pytester, export_dir: Path) -> pytest.RunResult:
    (project.path / "checks" / "rollback").mkdir(parents=True)
    source = REPO / "checks" / "rollback" / "test_rollback_export_dir.py"
    (project.path / "checks" / "rollback" / "test_export_dir.py").write_text(source.read_text())
    target = project.path / "cutover.toml"
    target.write_text(target.read_text().replace(
        "[rollback]\n", f'[rollback]\nexport_dir = "{export_dir}"\n', 1))
    return project.runpytest("-m", "rollback", "-k", "writable or private")


def test_an_export_dir_others_can_read_fails_the_checks_with_the_fix(cutover_project,
                                                                     permissive_umask):
    shared = cutover_project.path / "exports"
    shared.mkdir()
    shared.chmod(0o755)
    result = _rollback_checks(cutover_project, shared)
    result.assert_outcomes(passed=1, failed=1)
    assert (f"export directory {shared} is mode 0755 (group rx, others rx): other users could "
            f"read or replace the exported rows and the database dump (chmod 700 {shared}, or "
            "set [rollback] export_dir to a directory only you can use)") in result.stdout.str()


def test_an_export_dir_cutover_creates_is_private_and_passes(cutover_project,
                                                           permissive_umask):
    fresh = cutover_project.path / "new" / "exports"
    _rollback_checks(cutover_project, fresh).assert_outcomes(passed=2)
    run_exports = [p for p in fresh.iterdir() if p.is_dir()]
    assert [mode(p) for p in (cutover_project.path / "new", fresh, *run_exports)] == [0o700] * 3
