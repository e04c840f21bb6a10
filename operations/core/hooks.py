"""Operator hooks (`[hooks]` in cutover.toml): a command run at a fixed point of an operation.

A hook gets the release facts in `CUTOVER_*` variables and a minimal environment (PATH,
HOME, LANG): nothing else of the caller's environment, so no secret reaches it unasked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from operations.core.commands import CommandLog, CommandResult, run

HOOK_POINTS = ("pre_deploy", "post_deploy", "post_revert", "pre_rollback", "post_rollback")
# Taken from the caller's environment when set; everything else is left behind.
PASSED_THROUGH = ("PATH", "HOME", "LANG")
# A hook's output in a failure message: the end, where the reason usually is.
MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class HookFacts:
    """What a hook is told about the operation it runs in."""

    target_file: str
    target_name: str
    phase: str
    release: str = ""
    previous_release: str = ""
    ticket: str = ""
    operator: str = ""
    run_dir: str = ""

    def variables(self, point: str) -> dict[str, str]:
        return {
            "CUTOVER_TARGET": self.target_file,  # as cutover itself reads it
            "CUTOVER_TARGET_NAME": self.target_name,
            "CUTOVER_PHASE": self.phase,
            "CUTOVER_HOOK": point,
            "CUTOVER_RELEASE": self.release,
            "CUTOVER_PREVIOUS_RELEASE": self.previous_release,
            "CUTOVER_TICKET": self.ticket,
            "CUTOVER_OPERATOR": self.operator,
            "CUTOVER_RUN_DIR": self.run_dir,
        }


def hook_environment(point: str, facts: HookFacts,
                     caller: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a hook: PATH, HOME, LANG from `caller`, plus the facts."""
    source = os.environ if caller is None else caller
    base = {name: source[name] for name in PASSED_THROUGH if name in source}
    return {**base, **facts.variables(point)}


def run_hook(point: str, argv: Sequence[str], *, facts: HookFacts, cwd: Path,
             timeout: float, record: CommandLog | None = None,
             caller_env: Mapping[str, str] | None = None) -> CommandResult:
    """Run one hook from `cwd`; never raises for a non-zero exit, a timeout or no such file."""
    if point not in HOOK_POINTS:
        raise ValueError(f"unknown hook point {point!r} (one of {', '.join(HOOK_POINTS)})")
    return run(argv, timeout=timeout, cwd=cwd, env=hook_environment(point, facts, caller_env),
               record=record)


def hook_failure(point: str, result: CommandResult) -> str | None:
    """None when the hook succeeded, else what the operator reads: the hook and its output."""
    if result.ok:
        return None
    status = ("timed out" if result.returncode is None
              else f"exited {result.returncode}")
    output = (result.stdout + result.stderr).strip()[-MESSAGE_CHARS:]
    return (f"hook {point} ({result.command_line}) {status} after {result.duration_s:.1f}s"
            + (f":\n{output}" if output else " with no output"))
