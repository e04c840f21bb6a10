"""No secret reaches any artefact: canaries planted, then a failing preflight, a deploy and
a rollback on one copy of the demo stack; every file of every run directory is searched."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.demo import DemoTarget
from tests.support.receiver import Receiver


def _plant_canaries(demo: DemoTarget) -> dict[str, str]:
    canaries = {name: f"CANARY{name.upper()}{secrets.token_hex(8)}"
                for name in ("postgres_password", "jwt_secret")}
    for name, value in canaries.items():
        (demo.stack_dir / "secrets" / name).write_text(value + "\n")
    return canaries


def _leaks(text: bytes, canaries: list[str]) -> list[str]:
    return [value for value in canaries if value.encode() in text]


def test_no_canary_in_any_file_of_any_run_directory(demo_target: DemoTarget):
    canaries = _plant_canaries(demo_target)
    hook_token = f"CANARYHOOK{secrets.token_hex(8)}"
    jwt = demo_target.stack_dir / "secrets" / "jwt_secret"
    outputs: list[str] = []

    jwt.chmod(0o644)  # a failing preflight: the secret is readable by everyone
    failed = demo_target.run_cutover("-m", "preflight")
    outputs.append(failed.stdout + failed.stderr)
    assert failed.returncode == pytest.ExitCode.TESTS_FAILED, outputs[-1]
    jwt.chmod(0o600)

    deployed = demo_target.run_cutover("-m", "deploy", "--ticket", "CHG-7")
    outputs.append(deployed.stdout + deployed.stderr)
    assert deployed.returncode == pytest.ExitCode.OK, outputs[-1][-4000:]

    with Receiver(200) as receiver:
        hook = receiver.url(hook_token)
        cutover = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        rolled = demo_target.run_cutover("-m", "rollback", "--yes", "--cutover-timestamp",
                                         cutover, env={"SLACK_WEBHOOK_URL": hook})
    outputs.append(rolled.stdout + rolled.stderr)
    assert rolled.returncode == pytest.ExitCode.OK, outputs[-1][-4000:]
    assert len(receiver.requests) == 1, "the notification went out (the URL was in use)"

    values = [*canaries.values(), hook_token, hook]
    runs = {p.name.split("-", 1)[1]: p for p in demo_target.reports_dir.iterdir()
            if p.is_dir() and not p.is_symlink()}  # two runs may share a second: by phase
    assert sorted(runs) == ["deploy", "preflight", "rollback"]
    files = [path for run in runs.values() for path in run.rglob("*") if path.is_file()]
    assert len(files) >= 15, [str(f) for f in files]
    found = {str(path): _leaks(path.read_bytes(), values) for path in files}
    assert {path: leak for path, leak in found.items() if leak} == {}
    for output in outputs:
        assert _leaks(output.encode(), values) == []
    # The values were really in play: the running stack uses the planted password.
    manifest = json.loads((runs["deploy"] / "manifest.json").read_text())
    assert manifest["outcome"] == "succeeded"
    assert _leaks((demo_target.stack_dir / "secrets" / "postgres_password").read_bytes(),
                  values) == [canaries["postgres_password"]]


def test_the_search_above_would_find_a_leak(tmp_path: Path):
    """The search is not vacuous: a file holding a canary is reported."""
    (tmp_path / "leaky.log").write_text("connecting with password CANARYX123\n")
    assert _leaks((tmp_path / "leaky.log").read_bytes(), ["CANARYX123"]) == ["CANARYX123"]
