"""What the README promises about reports, each shown on a run: sensitive_env redaction,
the --skip-checks waiver in JUnit and the manifest, the stack's git revision."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

FROM_FILE = "canary-envfile-Tq42-token"
FROM_ENV = "canary-environ-Wv73-token"

LEAKY_DEPLOY = f"""
import os
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_acquire_lock(operation, evidence):
    operation.data["seen"] = "file {FROM_FILE}, environ " + os.environ["WEBHOOK_KEY"]
    evidence.add_text("tokens", "{FROM_FILE} " + os.environ["WEBHOOK_KEY"])
    print("stdout {FROM_FILE}")

def test_migrate():
    assert False, "the token was {FROM_FILE}; the key " + os.environ["WEBHOOK_KEY"]
"""

PLAIN_DEPLOY = """
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_acquire_lock():
    pass
"""


def _stack_keys(pytester: pytest.Pytester, keys: str) -> None:
    target = pytester.path / "cutover.toml"
    target.write_text(target.read_text().replace(
        'compose_files = ["compose.yaml"]\n', f'compose_files = ["compose.yaml"]\n{keys}\n', 1))


def _latest(pytester: pytest.Pytester) -> Path:
    return (pytester.path / "reports" / "latest").resolve()


def test_sensitive_env_values_from_the_env_file_and_the_environment_are_redacted(
        cutover_project, monkeypatch):
    _stack_keys(cutover_project, 'env_file = ".env.production"\n'
                                 'sensitive_env = ["API_TOKEN", "WEBHOOK_KEY"]')
    (cutover_project.path / "stack" / ".env.production").write_text(
        f"APP_VERSION=1.0.0\nAPI_TOKEN={FROM_FILE}\n")
    monkeypatch.setenv("WEBHOOK_KEY", FROM_ENV)
    cutover_project.makepyfile(test_deploy=LEAKY_DEPLOY)
    result = cutover_project.runpytest("-m", "deploy", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert FROM_FILE not in output and FROM_ENV not in output
    assert "the token was [REDACTED]; the key [REDACTED]" in output
    run_dir = _latest(cutover_project)
    names = {path.name for path in run_dir.iterdir()}
    assert {"report.html", "junit.xml", "run.log", "manifest.json"} <= names
    for path in run_dir.iterdir():
        if path.is_file():
            text = path.read_text()
            assert FROM_FILE not in text and FROM_ENV not in text, path.name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["data"]["seen"] == "file [REDACTED], environ [REDACTED]"


def test_skip_checks_waiver_is_in_the_junit_properties_and_the_manifest(cutover_project):
    cutover_project.makepyfile(test_deploy=PLAIN_DEPLOY)
    cutover_project.runpytest("-m", "deploy", "--skip-checks").assert_outcomes(passed=1)
    run_dir = _latest(cutover_project)
    properties = {p.get("name"): p.get("value")
                  for p in ET.parse(run_dir / "junit.xml").iter("property")}
    assert (properties.get("waiver") or "").startswith("--skip-checks by "), properties
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["waiver"].startswith("--skip-checks by "), manifest
    markdown = (run_dir / "DEPLOY_MANIFEST.md").read_text()
    assert "- **Preflight waiver:** --skip-checks by " in markdown


def test_a_run_without_skip_checks_names_no_waiver(cutover_project):
    cutover_project.makepyfile(test_deploy=PLAIN_DEPLOY)
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=1)
    run_dir = _latest(cutover_project)
    names = {p.get("name") for p in ET.parse(run_dir / "junit.xml").iter("property")}
    assert "waiver" not in names
    assert json.loads((run_dir / "manifest.json").read_text())["waiver"] == ""


def _git(stack: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=stack, check=True,
                          capture_output=True, text=True, timeout=30).stdout.strip()


def test_the_header_names_the_stacks_git_revision_and_uncommitted_changes(cutover_project):
    stack = cutover_project.path / "stack"
    (stack / "compose.yaml").write_text("services:\n  app:\n    image: plugintest-app:1\n")
    _git(stack, "init", "--quiet")
    _git(stack, "add", "compose.yaml")
    _git(stack, "commit", "--quiet", "-m", "stack")
    sha = _git(stack, "rev-parse", "--short", "HEAD")
    cutover_project.makepyfile(test_deploy=PLAIN_DEPLOY)

    clean = cutover_project.runpytest("-m", "deploy")
    clean.stdout.fnmatch_lines([f"cutover: versions: *stack revision {sha}"])
    assert "uncommitted changes" not in clean.stdout.str()

    (stack / "compose.yaml").write_text("services:\n  app:\n    image: plugintest-app:2\n")
    dirty = cutover_project.runpytest("-m", "deploy")
    dirty.stdout.fnmatch_lines([f"cutover: versions: *stack revision {sha} + uncommitted "
                                "changes"])
    properties = {p.get("name"): p.get("value")
                  for p in ET.parse(_latest(cutover_project) / "junit.xml").iter("property")}
    assert properties.get("stack_revision") == f"{sha} + uncommitted changes"
