"""The operator-hook runner: facts in the environment, no secret, a timeout, the exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from operations.core.commands import CommandLog
from operations.core.hooks import HookFacts, hook_environment, hook_failure, run_hook

FACTS = HookFacts(target_file="/etc/cutover/prod.toml", target_name="freshtrack", phase="deploy",
                  release="v2", previous_release="v1", ticket="CHG-9", operator="alice",
                  run_dir="/r/20260101T000000Z-deploy")
PRINT_ENV = [sys.executable, "-c",
             "import os, json; print(json.dumps(dict(os.environ), sort_keys=True))"]


def _env_of_hook(tmp_path: Path, caller: dict[str, str]) -> dict[str, str]:
    import json

    result = run_hook("pre_deploy", PRINT_ENV, facts=FACTS, cwd=tmp_path, timeout=30,
                      caller_env=caller)
    assert result.ok, result.describe()
    loaded: dict[str, str] = json.loads(result.stdout)
    return loaded


def test_hook_gets_the_facts_and_nothing_else_of_the_callers_environment(tmp_path):
    caller = {"PATH": "/usr/bin:/bin", "HOME": "/home/alice", "LANG": "C.UTF-8",
              "SLACK_WEBHOOK_URL": "https://hooks.example/SECRET", "PGPASSWORD": "hunter22"}
    env = _env_of_hook(tmp_path, caller)
    env.pop("LC_CTYPE", None)  # the interpreter may add it for a C locale
    assert env == {
        "PATH": "/usr/bin:/bin", "HOME": "/home/alice", "LANG": "C.UTF-8",
        "CUTOVER_TARGET": "/etc/cutover/prod.toml", "CUTOVER_TARGET_NAME": "freshtrack",
        "CUTOVER_PHASE": "deploy", "CUTOVER_HOOK": "pre_deploy", "CUTOVER_RELEASE": "v2",
        "CUTOVER_PREVIOUS_RELEASE": "v1", "CUTOVER_TICKET": "CHG-9",
        "CUTOVER_OPERATOR": "alice", "CUTOVER_RUN_DIR": "/r/20260101T000000Z-deploy",
    }


def test_unset_base_variables_stay_unset():
    env = hook_environment("post_rollback", FACTS, {"PATH": "/bin", "SECRET": "x"})
    assert "HOME" not in env and "LANG" not in env and "SECRET" not in env
    assert env["CUTOVER_HOOK"] == "post_rollback"


def test_hook_runs_in_the_given_directory_and_lands_in_the_record(tmp_path):
    record = CommandLog()
    result = run_hook("post_deploy", ["pwd"], facts=FACTS, cwd=tmp_path, timeout=30,
                      record=record)
    assert result.stdout.strip() == str(tmp_path)
    assert record.results == [result]
    assert hook_failure("post_deploy", result) is None


def test_non_zero_exit_names_the_hook_the_code_and_the_output(tmp_path):
    argv = [sys.executable, "-c", "import sys; print('maintenance page not up'); sys.exit(3)"]
    result = run_hook("pre_deploy", argv, facts=FACTS, cwd=tmp_path, timeout=30)
    assert result.returncode == 3
    message = hook_failure("pre_deploy", result)
    assert message is not None
    assert message.startswith("hook pre_deploy (")
    assert "exited 3" in message and "maintenance page not up" in message


def test_a_hook_past_its_timeout_is_killed_and_says_so(tmp_path):
    argv = [sys.executable, "-c", "import time; print('waiting', flush=True); time.sleep(30)"]
    result = run_hook("pre_rollback", argv, facts=FACTS, cwd=tmp_path, timeout=0.5)
    assert result.returncode is None and result.duration_s < 10
    message = hook_failure("pre_rollback", result)
    assert message is not None and "timed out" in message


def test_a_missing_program_is_a_failure_not_an_exception(tmp_path):
    result = run_hook("post_revert", ["no-such-hook-program"], facts=FACTS, cwd=tmp_path,
                      timeout=5)
    assert result.returncode == 127
    assert "hook post_revert (no-such-hook-program) exited 127" in (
        hook_failure("post_revert", result) or "")


def test_unknown_hook_point_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown hook point 'pre_build'"):
        run_hook("pre_build", ["true"], facts=FACTS, cwd=tmp_path, timeout=5)


def test_hooks_section_is_read_as_argument_lists_with_a_default_timeout(tmp_path):
    from operations.config import ConfigError, load_target
    from tests.conftest import MINIMAL_TARGET

    (tmp_path / "stack").mkdir()
    path = tmp_path / "cutover.toml"
    path.write_text(MINIMAL_TARGET + '\n[hooks]\npre_deploy = ["./notify-ops", "--start"]\n')
    hooks = load_target(path).hooks
    assert hooks.pre_deploy == ("./notify-ops", "--start")
    assert hooks.post_rollback == () and hooks.timeout_s == 300.0
    path.write_text(MINIMAL_TARGET + '\n[hooks]\npre_deploy = "./notify-ops --start"\n')
    with pytest.raises(ConfigError, match=r"hooks\.pre_deploy"):
        load_target(path)
