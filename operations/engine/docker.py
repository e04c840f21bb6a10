"""Single containers and images, by name: what the switch needs beyond compose.

Facts come from the Engine API (a few milliseconds each); actions (start, stop, remove,
tag, exec) run the docker CLI so they appear in a step's evidence like any command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from operations.core.commands import CommandLog, CommandResult, run
from operations.engine.compose import (
    CONFIG_HASH_LABEL,
    NUMBER_LABEL,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
)
from operations.engine.dockerapi import DockerAPI, EngineError

ACTION_TIMEOUT_S = 120.0
IMAGE_LABEL = "com.docker.compose.image"


@dataclass(frozen=True)
class Container:
    name: str
    service: str
    number: int
    state: str  # running, exited, restarting, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    exit_code: int
    restarts: int
    image_id: str
    config_hash: str
    # container port ("3000/tcp") -> host port it is published on
    host_ports: Mapping[str, int]
    id: str = ""
    started_at: str = ""  # changes on every (re)start

    @property
    def is_up(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")

    def describe(self) -> str:
        health = f" ({self.health})" if self.health else ""
        exited = f", exit code {self.exit_code}" if self.state == "exited" else ""
        restarts = f", restarted {self.restarts}x" if self.restarts else ""
        return f"{self.name}: {self.state}{health}{exited}{restarts}"


def inspect(name: str, api: DockerAPI | None = None) -> Container | None:
    """The container's facts, or None when there is no such container (any more)."""
    try:
        found = (api or DockerAPI()).get(f"/containers/{quote(name)}/json")
    except EngineError:
        return None
    return _container(found)


def _container(found: dict[str, Any]) -> Container:
    state = found.get("State") or {}
    labels = (found.get("Config") or {}).get("Labels") or {}
    ports: dict[str, int] = {}
    for port, bindings in ((found.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for binding in bindings or []:
            if str(binding.get("HostPort", "")).isdigit():
                ports.setdefault(port, int(binding["HostPort"]))
    return Container(
        name=str(found.get("Name", "")).lstrip("/"),
        service=str(labels.get(SERVICE_LABEL, "")),
        number=int(labels.get(NUMBER_LABEL, "0") or 0),
        state=str(state.get("Status", "")),
        health=str((state.get("Health") or {}).get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        restarts=int(found.get("RestartCount") or 0),
        image_id=str(found.get("Image", "")),
        config_hash=str(labels.get(CONFIG_HASH_LABEL, "")),
        host_ports=ports,
        id=str(found.get("Id", "")),
        started_at=str(state.get("StartedAt", "")),
    )


def service_containers(project: str, service: str,
                       api: DockerAPI | None = None) -> list[Container]:
    """The service's containers (stopped ones too, one-off `run` ones not), by number."""
    api = api or DockerAPI()
    filters = {"label": [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}",
                         f"{ONEOFF_LABEL}=False"]}
    listed = api.get("/containers/json?all=1&filters=" + quote(json.dumps(filters)))
    found = [inspect(str(row["Id"]), api) for row in listed]
    return sorted((c for c in found if c is not None), key=lambda c: c.number)


def image_exists(reference: str, api: DockerAPI | None = None) -> bool:
    try:
        (api or DockerAPI()).get(f"/images/{quote(reference, safe='/:@')}/json")
    except EngineError:
        return False
    return True


def _docker(record: CommandLog | None, *args: str,
            timeout: float = ACTION_TIMEOUT_S) -> CommandResult:
    return run(["docker", *args], timeout=timeout, record=record)


def start(names: Sequence[str], record: CommandLog | None) -> CommandResult:
    return _docker(record, "start", *names)


def stop(names: Sequence[str], record: CommandLog | None, grace_s: int = 10) -> CommandResult:
    return _docker(record, "stop", "--time", str(grace_s), *names)


def remove(names: Sequence[str], record: CommandLog | None) -> CommandResult:
    """Force-remove: the containers are out of rotation already."""
    return _docker(record, "rm", "--force", *names)


def tag(image: str, reference: str, record: CommandLog | None) -> CommandResult:
    return _docker(record, "tag", image, reference)


def logs(name: str, lines: int) -> CommandResult:
    return _docker(None, "logs", "--timestamps", "--tail", str(lines), name)


def exec_in(name: str, argv: Sequence[str], env: Mapping[str, str],
            record: CommandLog | None, timeout: float = 30.0) -> CommandResult:
    flags = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    return _docker(record, "exec", *flags, name, *argv, timeout=timeout)
