"""Facts for the report header: tool versions and the stack's git revision.

The probes run in threads, started early, so they cost the run almost nothing. Docker's
version comes from the Engine API (no CLI process); Compose's from the plugin binary, in one
process whose answer a preflight run's `compose plugin` check reuses.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from operations.config import Engine
from operations.core.commands import CommandResult, run
from operations.engine.compose import Compose
from operations.engine.dockerapi import DockerAPI, EngineError
from operations.preflight.compose import compose_version, find_compose_plugin

_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class VersionProbes:
    versions: dict[str, Future[str]]  # name -> version text, for the header
    # `docker-compose version --short` run on the plugin binary; None without the plugin.
    compose_version: Future[CommandResult] | None


def cutover_version() -> str:
    try:
        project = tomllib.loads(_PYPROJECT.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "(unknown)"
    return str(project.get("version", "(unknown)"))


def first_line(result: CommandResult) -> str:
    lines = result.stdout.strip().splitlines()
    return lines[0] if result.ok and lines else "(unavailable)"


def _first_line(argv: list[str], cwd: Path | None = None) -> str:
    return first_line(run(argv, timeout=10, cwd=cwd))


def engine_version(engine: DockerAPI) -> str:
    """The server's version, as `docker version --format {{.Server.Version}}` prints it."""
    try:
        version = engine.version().get("Version")
    except EngineError:
        return "(unavailable)"
    return str(version) if version else "(unavailable)"


def git_revision(path: Path) -> str:
    """`<short sha>`, `<short sha> + uncommitted changes`, or why there is none."""
    sha = run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"], timeout=10)
    if not sha.ok:
        return "(not a git checkout)"
    status = run(["git", "-C", str(path), "status", "--porcelain", "--", "."], timeout=10)
    dirty = " + uncommitted changes" if status.stdout.strip() else ""
    return sha.stdout.strip() + dirty


def then(future: Future[T], convert: Callable[[T], R]) -> Future[R]:
    """A future for `convert(future's result)`, without a thread waiting on it."""
    converted: Future[R] = Future()

    def done(finished: Future[T]) -> None:
        try:
            converted.set_result(convert(finished.result()))
        except BaseException as exc:  # handed to whoever reads the future
            converted.set_exception(exc)

    future.add_done_callback(done)
    return converted


# The database's probe answers "<engine> <version>"; collect files it under the engine.
DATABASE_PROBE = "database"


def _postgresql() -> Engine:
    return "postgresql"


def database_version(compose: Compose, service: str, engine: Callable[[], Engine]) -> str:
    """`<engine> <first line of its server's --version>`, in the database's container;
    `engine` is asked here, in the probe's thread (it may read `docker compose config`)."""
    from operations.db.engines import version_argv

    name = engine()
    argv = [*compose.base_argv, "exec", "-T", service, *version_argv(name)]
    return f"{name} {_first_line(argv, compose.stack.dir)}"


def start_probes(
    compose: Compose, database_service: str | None, engine: DockerAPI | None = None,
    database_engine: Callable[[], Engine] | None = None,
) -> VersionProbes:
    """Start every probe now; read the futures when the header is written."""
    # Two threads: the compose plugin in one, the quick engine and git questions (and a
    # deploy's postgres) in the other; each thread started costs the main thread a GIL turn.
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="versions")
    plugin = find_compose_plugin()
    compose_result = pool.submit(compose_version, plugin) if plugin else None
    probes = {
        "docker": pool.submit(engine_version, engine or DockerAPI()),
        "compose": then(compose_result, first_line) if compose_result else pool.submit(
            _first_line, ["docker", "compose", "version", "--short"]),
        "stack_revision": pool.submit(git_revision, compose.stack.dir),
    }
    if database_service:
        probes[DATABASE_PROBE] = pool.submit(database_version, compose, database_service,
                                             database_engine or _postgresql)
    pool.shutdown(wait=False)
    return VersionProbes(probes, compose_result)


def collect(probes: dict[str, Future[str]], timeout: float = 15.0) -> dict[str, str]:
    facts = {}
    for name, future in probes.items():
        try:
            value = future.result(timeout=timeout)
        except Exception as exc:  # a missing version must never fail the run
            value = f"(unavailable: {exc})"
            if name == DATABASE_PROBE:  # the engine is unknown: the header's old label
                value = f"postgresql {value}"
        if name == DATABASE_PROBE:
            name, _, value = value.partition(" ")
        facts[name] = value
    return facts
