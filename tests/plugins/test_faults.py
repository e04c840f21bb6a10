"""Faults of the files around a run: an unwritable reports dir, a corrupt release history,
a secret symlinked from outside the secrets dir. Each is refused in one line, before
anything on the target is touched, or judged by what it points at."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = """
import pytest
pytestmark = pytest.mark.preflight

def test_never_runs():
    raise AssertionError("a check ran")
"""


def test_an_unwritable_reports_dir_is_a_usage_error_before_any_check(cutover_project,
                                                                     monkeypatch):
    blocker = cutover_project.path / "a-file"
    blocker.write_text("not a directory\n")  # below a file: not creatable, even by root
    monkeypatch.setenv("CUTOVER_REPORTS_DIR", str(blocker / "reports"))
    cutover_project.makepyfile(test_check=CHECK)
    result = cutover_project.runpytest("-m", "preflight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"ERROR: cannot create a run directory under {blocker / 'reports'}: Not a directory "
        "(make it a writable directory, or set CUTOVER_REPORTS_DIR to one)"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "a check ran" not in result.stdout.str()


CORRUPT = {"not json": b'{"releases": [', "not a list": b'{"releases": 5}',
           "binary": b"\xff\xfe\x00", "images not a table": b'{"releases": [{"images": []}]}'}


def _history(project: pytest.Pytester, content: bytes) -> Path:
    state = project.path / "stack" / ".cutover"
    state.mkdir(mode=0o700)
    (state / "releases.json").write_bytes(content)
    return state / "releases.json"


@pytest.mark.parametrize("content", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_release_history_fails_the_running_release_check(cutover_project, content):
    history = _history(cutover_project, content)
    check = REPO / "checks" / "preflight" / "test_release.py"
    cutover_project.makepyfile(test_release=check.read_text())
    result = cutover_project.runpytest("-m", "preflight")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*release history {history} is*; a deploy would lose the kept "
                                 "releases (restore the file from a backup, or move it aside*"])
    assert history.read_bytes() == content, "the history is left as it was"


def test_release_with_a_corrupt_history_is_a_usage_error(cutover_project):
    history = _history(cutover_project, CORRUPT["not json"])
    cutover_project.makepyfile(test_check=CHECK)
    result = cutover_project.runpytest("-m", "deploy", "--release", "previous")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --release previous: release history {history} is "
                                 "unreadable: * (restore it from a backup)"])


SYMLINK_TARGET = """
[target]
name = "symlinked"
[stack]
project_dir = "stack"
project_name = "symlinked"
compose_files = ["compose.yaml"]
"""


def test_a_secret_symlinked_from_outside_the_secrets_dir_is_judged_by_its_target(tmp_path):
    stack = tmp_path / "stack"
    (stack / "secrets").mkdir(parents=True)
    (stack / "compose.yaml").write_text(
        "services:\n  web:\n    image: debian:bookworm-slim\n    secrets: [open, private]\n"
        "secrets:\n  open:\n    file: ./secrets/open\n  private:\n    file: ./secrets/private\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for name, mode in (("open", 0o644), ("private", 0o600)):
        (outside / name).write_text(f"value-of-{name}-outside\n")
        (outside / name).chmod(mode)
        (stack / "secrets" / name).symlink_to(outside / name)
    (tmp_path / "cutover.toml").write_text(SYMLINK_TARGET)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CUTOVER_"))}
    env.update(CUTOVER_REPORTS_DIR=str(tmp_path / "reports"), COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "preflight", f"--target={tmp_path / 'cutover.toml'}",
         "-k", "secret"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    # The link is followed: the file it points at is the one checked (and mounted).
    assert "secret 'open' is readable by others than its owner" in output, output[-3000:]
    assert f"mode 0644 on {stack / 'secrets' / 'open'}" in output
    assert "secret 'private'" not in output.split("short test summary")[-1]
    run = (tmp_path / "reports" / "latest").resolve()
    for path in run.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "value-of-private-outside" not in text and "value-of-open-outside" not in text
