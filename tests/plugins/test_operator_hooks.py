"""[hooks] in cutover.toml, run by the real deploy and rollback modules of the repo.

A failing pre-hook must stop the operation before anything that touches the target; the
steps after it fail as `not run`, so no Docker engine is needed to show it.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import REPO

SECRET = "canary-hook-Zq81-secret"


def _hooks(pytester: pytest.Pytester, **commands: list[str]) -> None:
    lines = [f"{point} = {json.dumps(argv)}" for point, argv in commands.items()]
    target = pytester.path / "cutover.toml"
    target.write_text(target.read_text() + "\n[hooks]\ntimeout_s = 30\n" + "\n".join(lines)
                      + "\n")


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _operation(pytester: pytest.Pytester, name: str) -> None:
    pytester.makepyfile(**{f"test_{name}": (REPO / "operations" / f"test_{name}.py").read_text()})
    # Reading the running release asks compose for the config; nothing is started.
    (pytester.path / "stack" / "compose.yaml").write_text(
        "services:\n  app:\n    image: plugintest-app:never-built\n")


def _steps(pytester: pytest.Pytester) -> dict[str, tuple[str, str]]:
    """Step name -> (outcome, message), in the order the steps ran."""
    manifest = json.loads((pytester.path / "reports/latest/manifest.json").read_text())
    return {s["name"]: (s["outcome"], s["message"]) for s in manifest["steps"]}


def _after(steps: dict[str, tuple[str, str]], step: str, finalizers: set[str]) -> list[str]:
    names = list(steps)
    return [name for name in names[names.index(step) + 1:] if name not in finalizers]


def test_failing_pre_deploy_hook_stops_the_deploy_naming_the_hook_and_its_output(
        cutover_project):
    _hooks(cutover_project, pre_deploy=_python(
        "import sys; print('maintenance page refused: 503'); sys.exit(2)"))
    _operation(cutover_project, "deploy")
    result = cutover_project.runpytest("-m", "deploy")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    steps = _steps(cutover_project)
    outcome, message = steps["Run the pre-deploy hook"]
    assert outcome == "failed"
    assert "hook pre_deploy (" in message and "exited 2" in message
    assert "maintenance page refused: 503" in message
    assert "before anything on the target is changed" in message
    assert steps["Acquire the deploy lock"][0] == "passed"
    assert steps["Release the deploy lock"][0] == "passed"
    # Finalizers run after a failure too; nothing was switched, so nothing was reverted.
    assert steps["Run the post-revert hook"] == ("skipped", "nothing was reverted")
    after = _after(steps, "Run the pre-deploy hook",
                   {"Release the deploy lock", "Run the post-revert hook"})
    assert after and all(steps[name][0] == "not run" for name in after), steps


def test_failing_pre_rollback_hook_stops_before_any_service_is_stopped(cutover_project):
    _hooks(cutover_project, pre_rollback=_python("import sys; sys.exit('pager busy')"))
    _operation(cutover_project, "rollback")
    result = cutover_project.runpytest("-m", "rollback", "--yes",
                                       "--cutover-timestamp", "2026-01-23T12:00:00Z")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    steps = _steps(cutover_project)
    assert steps["Confirm the rollback with the operator"][0] == "passed"
    outcome, message = steps["Run the pre-rollback hook"]
    assert outcome == "failed" and "pager busy" in message and "exited 1" in message
    assert list(steps).index("Run the pre-rollback hook") < list(steps).index("Stop the services")
    after = _after(steps, "Run the pre-rollback hook",
                   {"Release the target's lock", "Write the rollback manifest"})
    assert all(steps[name] == ("not run", "not run: Run the pre-rollback hook failed")
               for name in after), steps
    assert steps["Release the target's lock"][0] == "passed"
    assert steps["Write the rollback manifest"][0] == "passed"


def test_hook_gets_the_facts_runs_in_the_project_dir_and_its_output_is_redacted(
        cutover_project, monkeypatch):
    target = cutover_project.path / "cutover.toml"
    target.write_text(target.read_text().replace(
        'compose_files = ["compose.yaml"]\n', 'compose_files = ["compose.yaml"]\n'
        'secrets_dir = "secrets"\n', 1))
    secrets = cutover_project.path / "stack" / "secrets"
    secrets.mkdir()
    (secrets / "postgres_password").write_text(SECRET + "\n")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/services/hook-test-token")
    dump = ("import os, json, sys; print('password is', open('secrets/postgres_password')"
            ".read().strip()); json.dump(dict(os.environ), open('hook-env.json', 'w')); "
            "sys.exit(1)")
    _hooks(cutover_project, pre_deploy=_python(dump))
    _operation(cutover_project, "deploy")
    result = cutover_project.runpytest("-m", "deploy", "--ticket", "CHG-5")
    env = json.loads((cutover_project.path / "stack" / "hook-env.json").read_text())
    assert env["CUTOVER_PHASE"] == "deploy" and env["CUTOVER_HOOK"] == "pre_deploy"
    assert env["CUTOVER_TICKET"] == "CHG-5"
    assert env["CUTOVER_TARGET"] == str(cutover_project.path / "cutover.toml")
    assert env["CUTOVER_TARGET_NAME"] == "plugin-test"
    assert env["CUTOVER_RUN_DIR"] == str((cutover_project.path / "reports/latest").resolve())
    assert {"CUTOVER_RELEASE", "CUTOVER_PREVIOUS_RELEASE", "CUTOVER_OPERATOR"} <= set(env)
    assert "SLACK_WEBHOOK_URL" not in env
    assert "hook-test-token" not in json.dumps(env)
    assert SECRET not in result.stdout.str()
    run_dir = (cutover_project.path / "reports" / "latest").resolve()
    for path in run_dir.iterdir():
        assert SECRET not in path.read_text(), path.name
    assert "password is [REDACTED]" in _steps(cutover_project)["Run the pre-deploy hook"][1]
    assert "password is [REDACTED]" in (run_dir / "report.html").read_text()


def test_unconfigured_hooks_are_skipped_with_the_reason(cutover_project):
    _operation(cutover_project, "rollback")
    result = cutover_project.runpytest("-m", "rollback", "--yes", "-rs",
                                       "-k", "hook", "--cutover-timestamp",
                                       "2026-01-23T12:00:00Z")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no [[]hooks[]] pre_rollback in *cutover.toml*",
                                 "*no [[]hooks[]] post_rollback in *cutover.toml*"])
