"""The manifest follows the steps live: outcomes, blocks, interrupts, redaction."""

from __future__ import annotations

import json

import pytest

DEPLOY = """
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_acquire_lock(operation, evidence):
    from operations.core.commands import run
    run(["echo", "hello"], timeout=5, record=evidence.commands)
    operation.data["images_before"] = [{{"service": "backend", "image": "sha256:1"}}]

def test_wait_healthy():
    \"\"\"Wait until healthy.\"\"\"
    {wait_body}

def test_verify():
    pass

@pytest.mark.finalizer
def test_release_lock():
    pass
"""


def _manifest(pytester: pytest.Pytester) -> dict[str, object]:
    run_dir = pytester.path / "reports" / "latest"
    assert (run_dir / "DEPLOY_MANIFEST.md").is_file()
    loaded: dict[str, object] = json.loads((run_dir / "manifest.json").read_text())
    return loaded


def _outcomes(manifest: dict[str, object]) -> list[tuple[str, str]]:
    steps = manifest["steps"]
    assert isinstance(steps, list)
    return [(s["name"], s["outcome"]) for s in steps]


def test_manifest_lists_every_step_with_outcome_and_commands(cutover_project):
    cutover_project.makepyfile(test_deploy=DEPLOY.format(wait_body="pass"))
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=4)
    manifest = _manifest(cutover_project)
    assert manifest["outcome"] == "succeeded"
    assert _outcomes(manifest) == [("acquire lock", "passed"), ("Wait until healthy", "passed"),
                                   ("verify", "passed"), ("release lock", "passed")]
    first = manifest["steps"][0]  # type: ignore[index]
    assert first["commands"][0]["argv"] == ["echo", "hello"]
    assert manifest["data"] == {"images_before": [{"service": "backend", "image": "sha256:1"}]}


def test_failed_step_is_recorded_with_its_message_and_later_steps_not_run(cutover_project):
    body = 'assert False, "health never turned healthy: http://x/health"'
    cutover_project.makepyfile(test_deploy=DEPLOY.format(wait_body=body))
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=2, failed=2)
    manifest = _manifest(cutover_project)
    assert manifest["outcome"] == "failed"
    assert _outcomes(manifest)[1:] == [("Wait until healthy", "failed"),
                                       ("verify", "not run"), ("release lock", "passed")]
    assert "health never turned healthy" in manifest["steps"][1]["message"]  # type: ignore[index]
    markdown = (cutover_project.path / "reports/latest/DEPLOY_MANIFEST.md").read_text()
    assert "| 3 | verify | not run |" in markdown


def test_interrupt_leaves_a_manifest_naming_the_interrupted_step(cutover_project):
    cutover_project.makepyfile(test_deploy=DEPLOY.format(wait_body="raise KeyboardInterrupt"))
    # A real KeyboardInterrupt must not reach the outer pytest: run in a subprocess.
    result = cutover_project.runpytest_subprocess("-m", "deploy")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    manifest = _manifest(cutover_project)
    assert manifest["outcome"] == "interrupted"
    assert ("Wait until healthy", "interrupted") in _outcomes(manifest)
    summary = (cutover_project.path / "reports/latest/summary.md").read_text()
    assert summary.startswith("# cutover deploy: INTERRUPTED (plugin-test)")
    assert summary.split("## Next steps\n\n")[1].startswith(
        "- The run was interrupted; the manifest names the step it stopped in.\n- Watch it: ")


def test_manifest_masks_secret_values(cutover_project):
    secrets = cutover_project.path / "stack" / "secrets"
    secrets.mkdir()
    (secrets / "postgres_password").write_text("canary-Zq81-secret\n")
    body = 'assert False, "password was canary-Zq81-secret"'
    cutover_project.makepyfile(test_deploy=DEPLOY.format(wait_body=body))
    result = cutover_project.runpytest("-m", "deploy")
    assert "canary-Zq81-secret" not in result.stdout.str()
    run_dir = (cutover_project.path / "reports" / "latest").resolve()
    for path in run_dir.iterdir():
        assert "canary-Zq81-secret" not in path.read_text(), path.name
    assert "[REDACTED]" in (run_dir / "manifest.json").read_text()


def test_a_step_whose_own_message_reads_like_the_gates_is_still_failed(cutover_project):
    """Outcomes come from what the gate held, not from the words of a failure."""
    body = 'pytest.fail("not run: the health endpoint said so", pytrace=False)'
    cutover_project.makepyfile(test_deploy=DEPLOY.format(wait_body=body))
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=2, failed=2)
    assert _outcomes(_manifest(cutover_project))[1:3] == [("Wait until healthy", "failed"),
                                                          ("verify", "not run")]
