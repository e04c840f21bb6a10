"""No secret reaches any artefact in any encoding: canaries with quotes, a backslash, <&>,
spaces, non-ASCII letters (and, in jwt_secret, a newline) planted, then a failing
preflight, a deploy, a deploy that is reverted and a rollback on one copy of the demo stack;
every file of every run directory and every output is searched for each canary raw, JSON-,
HTML- and URL-encoded, as a traceback shows it, and line by line.

The password is one line: initdb reads only the first line of its password file.
"""

from __future__ import annotations

import html
import json
import secrets
import sys
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.demo import DemoTarget
from tests.support.receiver import Receiver


def _plant_canaries(demo: DemoTarget) -> dict[str, str]:
    special = 'pä"ss\\word <&> x\'ß €'
    canaries = {"postgres_password": f"CANARYPG {special} {secrets.token_hex(8)}",
                "jwt_secret": f"CANARYJWT {special} {secrets.token_hex(8)}\n"
                              f"zweite Zeile {secrets.token_hex(8)} <&>"}
    for name, value in canaries.items():
        (demo.stack_dir / "secrets" / name).write_text(value + "\n", encoding="utf-8")
    return canaries


# Hooks that print the secrets raw, JSON-encoded, URL-encoded and as repr: their output
# goes into report rows, JUnit, run.log and the manifest, so each encoding is really sent.
_PRINT_SECRETS = ("import json, urllib.parse\n"
                  "for name in ('postgres_password', 'jwt_secret'):\n"
                  "    v = open('secrets/' + name, encoding='utf-8').read()\n"
                  "    print(v, json.dumps(v), urllib.parse.quote(v), repr(v))\n")


def _add_secret_printing_hooks(demo: DemoTarget) -> None:
    argv = json.dumps([sys.executable, "-c", _PRINT_SECRETS])
    demo.target_file.write_text(demo.target_file.read_text() + "\n[hooks]\n"
                                f"pre_deploy = {argv}\npre_rollback = {argv}\n")


def _forms(value: str) -> set[str]:
    """The value and every form a serialiser may give it; each line of it too."""
    lines = [line for line in value.splitlines() if len(line) >= 8]
    forms = set()
    for text in (value, *lines):
        forms |= {text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
                  html.escape(text), html.escape(text, quote=False),
                  html.escape(json.dumps(text)), urllib.parse.quote(text, safe=""),
                  urllib.parse.quote_plus(text), repr(text)[1:-1]}
    return forms


def _leaks(text: bytes, canaries: list[str]) -> list[str]:
    return sorted({form for value in canaries for form in _forms(value)
                   if form.encode() in text})


def test_no_canary_in_any_file_of_any_run_directory(demo_target: DemoTarget):
    canaries = _plant_canaries(demo_target)
    _add_secret_printing_hooks(demo_target)
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

    demo_target.set_env("APP_VERSION", "3.0.0-broken")  # a revert: its logs and messages too
    reverted = demo_target.run_cutover("-m", "deploy")
    outputs.append(reverted.stdout + reverted.stderr)
    assert reverted.returncode == pytest.ExitCode.TESTS_FAILED, outputs[-1][-4000:]
    assert "reverted: " in outputs[-1], outputs[-1][-4000:]

    with Receiver(200) as receiver:
        hook = receiver.url(hook_token)
        cutover = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        rolled = demo_target.run_cutover("-m", "rollback", "--yes", "--cutover-timestamp",
                                         cutover, env={"SLACK_WEBHOOK_URL": hook})
    outputs.append(rolled.stdout + rolled.stderr)
    assert rolled.returncode == pytest.ExitCode.OK, outputs[-1][-4000:]
    assert len(receiver.requests) == 1, "the notification went out (the URL was in use)"

    values = [*canaries.values(), hook_token, hook]
    run_dirs = [p for p in demo_target.reports_dir.iterdir()
                if p.is_dir() and not p.is_symlink()]
    assert sorted(p.name.split("-", 1)[1] for p in run_dirs) == [
        "deploy", "deploy", "preflight", "rollback"]
    files = [path for run in run_dirs for path in run.rglob("*") if path.is_file()]
    assert len(files) >= 15, [str(f) for f in files]
    found = {str(path): _leaks(path.read_bytes(), values) for path in files}
    assert {path: leak for path, leak in found.items() if leak} == {}
    for output in outputs:
        assert _leaks(output.encode(), values) == []
    # The values were really in play: the running stack uses the planted password.
    outcomes = sorted(json.loads((run / "manifest.json").read_text())["outcome"]
                      for run in run_dirs if run.name.endswith("-deploy"))
    assert outcomes == ["failed", "succeeded"]
    assert canaries["postgres_password"] in _leaks(
        (demo_target.stack_dir / "secrets" / "postgres_password").read_bytes(), values)


def test_the_search_above_would_find_a_leak(tmp_path: Path):
    """The search is not vacuous: a file holding a canary in any encoding is reported."""
    (tmp_path / "leaky.log").write_text("connecting with password CANARYX123\n")
    assert _leaks((tmp_path / "leaky.log").read_bytes(), ["CANARYX123"]) == ["CANARYX123"]
    canary = 'CANARY pä"ss\\word <&>\nsecond line'
    for encoded in (json.dumps(canary), html.escape(json.dumps(canary)),
                    urllib.parse.quote(canary), repr(canary), "E   second line"):
        assert _leaks(encoded.encode(), [canary]), encoded
