"""Run commands as argument lists, time them, and keep a record for the report."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("cutover.commands")


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: killed at its timeout
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command_line(self) -> str:
        return " ".join(self.argv)

    def describe(self) -> str:
        """The command, its exit and its output, as the evidence in a message."""
        status = "timed out" if self.returncode is None else f"exit {self.returncode}"
        output = (self.stderr.strip() or self.stdout.strip())[-2000:]
        return f"`{self.command_line}` {status} after {self.duration_s:.1f}s" + (
            f":\n{output}" if output else ""
        )


@dataclass
class CommandLog:
    """The commands one step ran, in order; the report attaches them to the step's row."""

    results: list[CommandResult] = field(default_factory=list)

    def add(self, result: CommandResult) -> None:
        self.results.append(result)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    record: CommandLog | None = None,
    input_text: str | None = None,
) -> CommandResult:
    """Run argv without a shell; never raises for a non-zero exit or a timeout."""
    args = tuple(str(a) for a in argv)
    log.info("run: %s", " ".join(args))
    started = time.monotonic()
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        result = CommandResult(
            args, done.returncode, done.stdout, done.stderr, time.monotonic() - started
        )
    except subprocess.TimeoutExpired as exc:
        result = CommandResult(
            args, None, _text(exc.stdout), _text(exc.stderr), time.monotonic() - started
        )
    except FileNotFoundError as exc:
        result = CommandResult(args, 127, "", f"{exc}", time.monotonic() - started)
    log.info("exit %s after %.2fs: %s", result.returncode, result.duration_s, args[0])
    if record is not None:
        record.add(result)
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
