"""A broken target file stops the run before any test: exit 4, naming the file and key."""

from __future__ import annotations

import pytest

CHECK = """
import pytest
pytestmark = pytest.mark.preflight

def test_never_runs():
    raise AssertionError("a check ran although the target file is broken")
"""


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    project.makepyfile(test_check=CHECK)
    return project.runpytest("-m", "preflight", *args)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("[deploy]", "[deploy]\nhealth_urll = 'x'"),
         "cutover.toml: deploy.health_urll: unknown key"),
        (lambda t: t.replace('name = "db"', "name = 5"),
         "cutover.toml: rollback.database.name: Expected `str`, got `int`"),
        (lambda t: t.replace('project_name = "plugintest"\n', ""),
         "cutover.toml: stack.project_name: required key is missing"),
        (lambda t: t.replace('project_dir = "stack"', 'project_dir = "nowhere"'),
         "cutover.toml: stack.project_dir: directory not found: */nowhere*"),
        (lambda t: t + "\n[preflight\n", "cutover.toml: not valid TOML: *"),
    ],
    ids=["unknown key", "wrong type", "missing key", "missing project dir", "bad toml"],
)
def test_broken_target_is_a_usage_error_naming_the_key(cutover_project, edit, expected):
    path = cutover_project.path / "cutover.toml"
    path.write_text(edit(path.read_text()))
    result = _run(cutover_project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{expected}"])
    assert "a check ran" not in result.stdout.str()
    assert not (cutover_project.path / "reports").exists(), "no run directory on a usage error"


def test_missing_target_file_names_the_path_and_the_fix(cutover_project):
    result = _run(cutover_project, "--target", "missing.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: target file not found: *missing.toml (pass --target*"])


def test_target_comes_from_the_environment(cutover_project, monkeypatch):
    monkeypatch.setenv("CUTOVER_TARGET", "elsewhere.toml")
    result = _run(cutover_project)
    result.stderr.fnmatch_lines(["ERROR: target file not found: *elsewhere.toml*"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cutover-timestamp", "2026-01-23' OR '1'='1"], "*is not a timestamp; use ISO 8601*"),
        (["--cutover-timestamp", "2026-01-23T12:00:00"], "*has no zone; use ISO 8601*"),
        (["--ticket", "CHG 1; rm -rf"], "*is not a ticket id*"),
    ],
    ids=["injection", "no zone", "bad ticket"],
)
def test_bad_option_values_are_usage_errors(cutover_project, args, expected):
    result = _run(cutover_project, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
