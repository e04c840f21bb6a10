"""Facts for the report header: tool versions and the stack's git revision.

The probes run in threads, started early, so they cost the run almost nothing.
"""

from __future__ import annotations

import tomllib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from operations.commands import run
from operations.compose import Compose

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def cutover_version() -> str:
    try:
        project = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "(unknown)"
    return str(project.get("version", "(unknown)"))


def _first_line(argv: list[str], cwd: Path | None = None) -> str:
    result = run(argv, timeout=10, cwd=cwd)
    lines = result.stdout.strip().splitlines()
    return lines[0] if result.ok and lines else "(unavailable)"


def git_revision(path: Path) -> str:
    """`<short sha>`, `<short sha> + uncommitted changes`, or why there is none."""
    sha = run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], timeout=10)
    if not sha.ok:
        return "(not a git checkout)"
    status = run(["git", "-C", str(path), "status", "--porcelain", "--", "."], timeout=10)
    dirty = " + uncommitted changes" if status.stdout.strip() else ""
    return sha.stdout.strip() + dirty


def start_probes(compose: Compose, database_service: str | None) -> dict[str, Future[str]]:
    """Start every probe now; read the futures when the header is written."""
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="versions")
    probes = {
        "docker": pool.submit(_first_line, ["docker", "version", "--format",
                                            "{{.Server.Version}}"]),
        "compose": pool.submit(_first_line, ["docker", "compose", "version", "--short"]),
        "stack_revision": pool.submit(git_revision, compose.stack.dir),
    }
    if database_service:
        argv = [*compose.base_argv, "exec", "-T", database_service, "postgres", "--version"]
        probes["postgresql"] = pool.submit(_first_line, argv, compose.stack.dir)
    pool.shutdown(wait=False)
    return probes


def collect(probes: dict[str, Future[str]], timeout: float = 15.0) -> dict[str, str]:
    facts = {}
    for name, future in probes.items():
        try:
            facts[name] = future.result(timeout=timeout)
        except Exception as exc:  # a missing version must never fail the run
            facts[name] = f"(unavailable: {exc})"
    return facts
