"""`docker compose` for one target: every call names all compose files and the env file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from operations.config import Stack
from operations.core.commands import CommandLog, CommandResult, run

DEFAULT_TIMEOUT_S = 120.0
# The labels compose puts on every container (and image) it makes.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
NUMBER_LABEL = "com.docker.compose.container-number"


def compose_argv(stack: Stack, plugin: Path | None = None) -> list[str]:
    """The target's compose command line: every file, the env file when it exists.

    `plugin`: the compose binary to run directly (saves the docker CLI's start-up).
    """
    argv = [str(plugin)] if plugin else ["docker", "compose"]
    argv += ["--project-name", stack.project_name, "--project-directory", str(stack.dir)]
    for path in stack.compose_paths:
        argv += ["--file", str(path)]
    if stack.env_path.is_file():
        argv += ["--env-file", str(stack.env_path)]
    return argv
BUILD_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class ServiceState:
    service: str
    container: str
    state: str  # running, exited, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    image: str
    image_id: str = ""  # the id of the image it runs, where the source says (the engine)
    exit_code: int = 0

    @property
    def is_up(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")

    @property
    def completed(self) -> bool:
        """A one-shot service's container that ran to success."""
        return self.state == "exited" and self.exit_code == 0


def one_shot_services(services: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Services another one waits for with `condition: service_completed_successfully`:
    they run to completion (exit 0) instead of staying up."""
    found: set[str] = set()
    for spec in services.values():
        depends = spec.get("depends_on") or {}
        if isinstance(depends, Mapping):
            found.update(name for name, how in depends.items() if isinstance(how, Mapping)
                         and how.get("condition") == "service_completed_successfully")
    return found


@dataclass
class ConfigCache:
    """`config --format json`, kept while the compose files and the env file are unchanged.

    Shared by the `Compose` objects of one run: each step asks once at most, not each time.
    """

    key: tuple[tuple[str, int, int], ...] = ()
    parsed: dict[str, Any] = field(default_factory=dict)


class Compose:
    def __init__(self, stack: Stack, record: CommandLog | None = None,
                 cache: ConfigCache | None = None) -> None:
        self.stack = stack
        self.record = record
        self.cache = cache

    @property
    def base_argv(self) -> list[str]:
        return compose_argv(self.stack)

    def __call__(
        self, *args: str, timeout: float = DEFAULT_TIMEOUT_S, record: bool = True
    ) -> CommandResult:
        return run(
            [*self.base_argv, *args],
            cwd=self.stack.dir,
            timeout=timeout,
            record=self.record if record else None,
        )

    def config(self, *extra: str) -> CommandResult:
        return self("config", "--quiet", *extra)

    def config_json(self) -> dict[str, Any]:
        key = self._config_key() if self.cache is not None else ()
        if self.cache is not None and self.cache.parsed and self.cache.key == key:
            return self.cache.parsed
        result = self("config", "--format", "json", record=False)
        if not result.ok:
            raise ComposeError(result)
        parsed: dict[str, Any] = json.loads(result.stdout)
        if self.cache is not None:
            self.cache.key, self.cache.parsed = key, parsed
        return parsed

    def services(self) -> list[str]:
        if self.cache is not None:  # the cached config has them: no process to start
            return list(self.config_json().get("services") or {})
        result = self("config", "--services", record=False)
        if not result.ok:
            raise ComposeError(result)
        return result.stdout.split()

    def image_name(self, service: str) -> str:
        """The image compose runs the service as: its `image:`, else <project>-<service>."""
        spec = (self.config_json().get("services") or {}).get(service) or {}
        return str(spec.get("image") or f"{self.stack.project_name}-{service}")

    def config_hashes(self) -> dict[str, str]:
        """Service -> the config hash compose labels its containers with
        (`com.docker.compose.config-hash`): a container whose label differs is outdated."""
        result = self("config", "--hash", "*", record=False)
        if not result.ok:
            raise ComposeError(result)
        pairs = (line.split() for line in result.stdout.splitlines() if line.strip())
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}

    def _config_key(self) -> tuple[tuple[str, int, int], ...]:
        """Path, mtime and size of every file the config is read from."""
        key = []
        for path in (*self.stack.compose_paths, self.stack.env_path):
            try:
                stat = path.stat()
            except OSError:
                key.append((str(path), -1, -1))
            else:
                key.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(key)

    def ps(self, *services: str) -> list[ServiceState]:
        """State of this project's containers, stopped ones included."""
        result = self("ps", "--all", "--format", "json", *services, record=False)
        if not result.ok:
            raise ComposeError(result)
        return [_service_state(row) for row in _json_rows(result.stdout)]

    def logs(self, service: str, tail: int) -> CommandResult:
        return self("logs", "--no-color", "--timestamps", "--tail", str(tail), service,
                    record=False)

    def build(self, services: Sequence[str]) -> CommandResult:
        return self("build", *services, timeout=BUILD_TIMEOUT_S)


class ComposeError(Exception):
    def __init__(self, result: CommandResult) -> None:
        super().__init__(result.describe())
        self.result = result


def _json_rows(stdout: str) -> list[dict[str, Any]]:
    """Compose prints a JSON array (older) or one JSON object per line (newer)."""
    text = stdout.strip()
    if not text:
        return []
    if text.startswith("["):
        rows: list[dict[str, Any]] = json.loads(text)
        return rows
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _service_state(row: dict[str, Any]) -> ServiceState:
    return ServiceState(
        service=str(row.get("Service", "")),
        container=str(row.get("Name", "")),
        state=str(row.get("State", "")),
        health=str(row.get("Health", "")),
        image=str(row.get("Image", "")),
    )
