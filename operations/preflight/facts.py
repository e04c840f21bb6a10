"""Every fact the preflight checks ask for, gathered concurrently and each only once.

`start()` submits all questions at once (the host commands, the engine requests and the one
`docker compose config`), so they overlap pytest's collection; each check then waits only
for its own answer. Errors become answers too: a check fails with them, the session goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from operations.config import Target
from operations.core.commands import CommandResult
from operations.engine.dockerapi import DockerAPI, EngineError
from operations.preflight import compose, host
from operations.preflight.derived import Derived, derive

T = TypeVar("T")
DEFAULT_DOCKER_ROOT = "/var/lib/docker"
WAIT_S = 120.0
# Few threads: starting one costs the main thread a GIL hand-over (~5 ms on a busy host),
# and the quick questions finish long before the checks ask; compose config takes one.
WORKERS = 4


@dataclass(frozen=True)
class EngineAnswer:
    value: Any = None
    error: str = ""  # set when the engine could not be asked


@dataclass(frozen=True)
class HostFiles:
    found: dict[str, host.FileFacts]
    nonblank: dict[str, bool]
    commands: tuple[CommandResult, ...]


@dataclass(frozen=True)
class Disk:
    path: str
    facts: host.DiskFacts | None
    command: CommandResult
    note: str = ""


@dataclass(frozen=True)
class Listeners:
    found: list[host.Listener]
    command: CommandResult


class PreflightFacts:
    def __init__(
        self,
        target: Target,
        run: host.HostRunner,
        engine: DockerAPI | None = None,
        register: Callable[[str], None] = lambda value: None,
        compose_version: Future[CommandResult] | None = None,
    ) -> None:
        self.target = target
        self.stack = target.stack
        self.run = run
        self.engine = engine or DockerAPI()
        self.register = register  # sensitive values read from the host, before anyone sees them
        self.plugin = compose.find_compose_plugin()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="preflight")
        self._futures: dict[str, Future[Any]] = {}
        if compose_version is not None and self.plugin is not None:
            # Already asked (operations.record.versions, for the header): one process, not two.
            self._futures["compose_version"] = compose_version
        self._lock = threading.Lock()

    def start(self) -> PreflightFacts:
        """Ask everything now; the checks collect the answers."""
        # Slowest first: compose config is the one process that takes a while.
        for key, work in (
            ("compose_config", self._compose_config), ("version", self._version),
            ("info", self._info), ("containers", self._containers), ("files", self._files),
            ("listeners", self._listeners), ("env_text", self._env_text),
            ("compose_version", self._compose_version), ("stack_disk", self._stack_disk),
            ("docker_root_disk", self._docker_root_disk),
        ):
            self._future(key, work)
        return self

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _future(self, key: str, work: Callable[[], T]) -> Future[T]:
        with self._lock:
            future = self._futures.get(key)
            if future is None:
                future = self._futures[key] = self._pool.submit(work)
            return future

    def _get(self, key: str, work: Callable[[], T]) -> T:
        return self._future(key, work).result(timeout=WAIT_S)

    # The answers, as the checks ask for them.
    def compose_config(self) -> CommandResult:
        """`docker compose config`, its JSON left out (the evidence names the services)."""
        result = self._get("compose_config", self._compose_config)
        parsed = self.compose_json()
        shown = (f"{len(parsed.get('services') or {})} services: "
                 + ", ".join(parsed.get("services") or {})) if parsed else ""
        return CommandResult(result.argv, result.returncode, shown, result.stderr,
                             result.duration_s)

    def compose_json(self) -> dict[str, Any] | None:
        """The parsed config; None when compose failed (the config check says why)."""
        result = self._get("compose_config", self._compose_config)
        if not result.ok:
            return None
        try:
            parsed = json.loads(result.stdout)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    def derived(self) -> Derived | None:
        parsed = self.compose_json()
        return derive(parsed) if parsed is not None else None

    def ports(self) -> tuple[int, ...]:
        """[preflight] ports, else the host ports the compose files publish."""
        if self.target.preflight.ports is not None:
            return self.target.preflight.ports
        derived = self.derived()
        return derived.ports if derived else ()

    def secret_files(self) -> dict[str, str]:
        """Secret name -> file: [stack] required_secrets in the secrets dir, else the files
        of compose's file-based `secrets:`."""
        if self.stack.required_secrets is not None:
            return {name: str(self.stack.secrets_path / name)
                    for name in self.stack.required_secrets}
        derived = self.derived()
        return dict(derived.secrets) if derived else {}

    def compose_version(self) -> CommandResult | None:
        return self._get("compose_version", self._compose_version)

    def version(self) -> EngineAnswer:
        return self._get("version", self._version)

    def info(self) -> EngineAnswer:
        return self._get("info", self._info)

    def containers(self) -> EngineAnswer:
        return self._get("containers", self._containers)

    def files(self) -> HostFiles:
        return self._get("files", self._files)

    def listeners(self) -> Listeners:
        return self._get("listeners", self._listeners)

    def env_text(self) -> CommandResult:
        return self._get("env_text", self._env_text)

    def stack_disk(self) -> Disk:
        return self._get("stack_disk", self._stack_disk)

    def docker_root_disk(self) -> Disk:
        return self._get("docker_root_disk", self._docker_root_disk)

    def docker_cli(self) -> str | None:
        return shutil.which("docker")

    def socket_owners(self, inodes: list[int]) -> tuple[dict[int, host.Process], str]:
        return host.socket_owners(self.run, inodes)

    # The work, run in the pool.
    def _compose_config(self) -> CommandResult:
        return compose.compose_config(self.stack, self.plugin)

    def _compose_version(self) -> CommandResult | None:
        return compose.compose_version(self.plugin) if self.plugin else None

    def _ask(self, question: Callable[[], Any]) -> EngineAnswer:
        try:
            return EngineAnswer(question())
        except EngineError as exc:
            return EngineAnswer(error=str(exc))

    def _version(self) -> EngineAnswer:
        return self._ask(self.engine.version)

    def _info(self) -> EngineAnswer:
        return self._ask(self.engine.info)

    def _containers(self) -> EngineAnswer:
        return self._ask(self.engine.containers)

    def secret_paths(self) -> list[str]:
        return list(self.secret_files().values())

    def _files(self) -> HostFiles:
        paths = [*map(str, self.stack.compose_paths), str(self.stack.env_path),
                 *([str(self.stack.secrets_path)] if self.stack.secrets_dir else []),
                 *self.secret_paths()]
        found, stat = host.stat_files(self.run, paths)
        present = [p for p in self.secret_paths() if p in found and found[p].is_file]
        if not present:
            return HostFiles(found, {}, (stat,))
        nonblank, grep = host.nonblank_files(self.run, present)
        return HostFiles(found, nonblank, (stat, grep))

    def _listeners(self) -> Listeners:
        found, result = host.tcp_listeners(self.run)
        return Listeners(found, result)

    def _env_text(self) -> CommandResult:
        result = host.read_text(self.run, str(self.stack.env_path))
        values = compose.parse_env_text(result.stdout)
        for name in self.stack.sensitive_env:
            if values.get(name):
                self.register(values[name])
        return result

    def _stack_disk(self) -> Disk:
        path = str(self.stack.dir)
        facts, result = host.disk_free(self.run, path)
        return Disk(path, facts, result)

    def _docker_root_disk(self) -> Disk:
        info = self.info()
        root = str(info.value.get("DockerRootDir", "")) if info.value else ""
        note = "" if root else (
            f"the engine did not say where its data root is ({info.error or 'no answer'}); "
            f"checked the default {DEFAULT_DOCKER_ROOT}"
        )
        path = root or DEFAULT_DOCKER_ROOT
        facts, result = host.disk_free(self.run, path)
        return Disk(path, facts, result, note)

    def defined_variables(self) -> set[str]:
        """What compose can interpolate: this environment and the env file it is given."""
        env_file = self.stack.env_path
        if not env_file.is_file():
            env_file = self.stack.dir / ".env"  # compose's fallback without --env-file
        try:
            text = env_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        return set(os.environ) | set(compose.parse_env_text(text))

    def compose_texts(self) -> tuple[list[tuple[str, str]], list[str]]:
        """The compose files that can be read, and notes on those that cannot."""
        texts: list[tuple[str, str]] = []
        notes: list[str] = []
        for path in self.stack.compose_paths:
            try:
                texts.append((path.name, Path(path).read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                notes.append(f"{path}: not read ({exc.__class__.__name__})")
        return texts, notes
