"""What is running: containers, the image id and digests per service, the compose config
hash.

Containers, images and health come from the Engine API over its socket (a millisecond a
question, where each `docker compose ps` or `docker inspect` process costs 0.1-0.3 s); each
step's evidence lists the API requests like commands. Where the engine cannot be asked
directly (DOCKER_HOST=ssh://...), the same questions go through the CLI.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from operations.core.commands import CommandLog, CommandResult, run
from operations.engine.compose import (
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    Compose,
    ComposeError,
    ServiceState,
)
from operations.engine.dockerapi import DockerAPI, EngineError

log = logging.getLogger("cutover.release")

INSPECT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServiceImage:
    service: str
    container: str
    state: str
    health: str
    image: str  # the name compose shows, e.g. <project>-backend
    image_id: str
    digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Release:
    config_sha256: str
    services: tuple[ServiceImage, ...] = field(default_factory=tuple)

    def rows(self) -> list[dict[str, str]]:
        """One row per service, as the manifest's table shows it."""
        return [{"service": s.service, "state": s.state, "health": s.health,
                 "image": s.image, "image_id": s.image_id,
                 "digests": ", ".join(s.digests) or "(local build, no digest)"}
                for s in self.services]

    def image_ids(self) -> dict[str, str]:
        return {s.service: s.image_id for s in self.services}



def config_hash(compose: Compose) -> str:
    """sha256 of the effective config (`config --format json`, keys sorted): it changes
    whenever the config does."""
    canonical = json.dumps(compose.config_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Engine:
    """Engine API requests, each added to a step's evidence as `GET <path>` with a summary."""

    def __init__(self, record: CommandLog | None) -> None:
        self.api = DockerAPI(timeout=INSPECT_TIMEOUT_S)
        self.record = record

    def get(self, path: str, summary: Any = None) -> Any:
        argv = ("docker-engine-api", "GET", unquote(path), "at", self.api.endpoint.url)
        if self.record is not None:  # polls (nothing recorded) would flood run.log
            log.info("engine: GET %s", argv[2])
        started = time.monotonic()
        try:
            found = self.api.get(path)
        except EngineError as exc:
            self._add(CommandResult(argv, 1, "", str(exc), time.monotonic() - started))
            raise
        text = summary(found) if summary else ""
        self._add(CommandResult(argv, 0, text, "", time.monotonic() - started))
        return found

    def _add(self, result: CommandResult) -> None:
        if self.record is not None:
            self.record.add(result)


def service_states(compose: Compose, *services: str, record: bool = True) -> list[ServiceState]:
    """The project's containers (stopped ones included, one-off `run` ones not), with
    state, health and the id of the image each runs; only those of `services` if given."""
    engine = _Engine(compose.record if record else None)
    project = compose.stack.project_name
    filters = json.dumps({"label": [f"{PROJECT_LABEL}={project}", f"{ONEOFF_LABEL}=False"]})
    try:
        listed = engine.get(f"/containers/json?all=1&filters={quote(filters)}",
                            lambda rows: f"{len(rows)} containers")
        wanted = [c for c in listed
                  if not services or c.get("Labels", {}).get(SERVICE_LABEL) in services]
        states = [_inspected_state(engine.get(f"/containers/{c['Id']}/json", _state_line))
                  for c in wanted]
    except EngineError:
        return _cli_states(compose, services, record)
    return sorted(states, key=lambda s: (s.service, s.container))


def _inspected_state(found: dict[str, Any]) -> ServiceState:
    state = found.get("State") or {}
    config = found.get("Config") or {}
    return ServiceState(
        service=str((config.get("Labels") or {}).get(SERVICE_LABEL, "")),
        container=str(found.get("Name", "")).lstrip("/"),
        state=str(state.get("Status", "")),
        health=str((state.get("Health") or {}).get("Status", "")),
        image=str(config.get("Image", "")),
        image_id=str(found.get("Image", "")),
        exit_code=int(state.get("ExitCode") or 0),
    )


def _state_line(found: dict[str, Any]) -> str:
    state = _inspected_state(found)
    return (f"{state.container} service={state.service} state={state.state} "
            f"health={state.health or '(none)'} image={state.image} {state.image_id}")


def _cli_states(compose: Compose, services: Iterable[str], record: bool) -> list[ServiceState]:
    states = compose.ps(*services)
    ids = container_image_ids([s.container for s in states], compose.record if record else None)
    return sorted((ServiceState(s.service, s.container, s.state, s.health, s.image,
                                ids.get(s.container, "")) for s in states),
                  key=lambda s: (s.service, s.container))


def container_image_ids(containers: list[str], record: CommandLog | None) -> dict[str, str]:
    """Container name -> the id of the image it runs."""
    if not containers:
        return {}
    result = run(["docker", "inspect", "--format", "{{.Name}} {{.Image}}", *containers],
                 timeout=INSPECT_TIMEOUT_S, record=record)
    if not result.ok:
        raise ComposeError(result)
    pairs = (line.split() for line in result.stdout.splitlines() if line.strip())
    return {name.lstrip("/"): image for name, image in pairs}


def image_digests(image_ids: list[str], record: CommandLog | None) -> dict[str, tuple[str, ...]]:
    if not image_ids:
        return {}
    engine = _Engine(record)
    try:
        return {image_id: tuple(engine.get(f"/images/{quote(image_id)}/json",
                                           _digests_line).get("RepoDigests") or ())
                for image_id in sorted(set(image_ids))}
    except EngineError:
        pass  # removed meanwhile, or no socket: the CLI says which
    result = run(["docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}",
                  *sorted(set(image_ids))], timeout=INSPECT_TIMEOUT_S, record=record)
    if not result.ok:
        return {}  # digests are informative; an image removed meanwhile has none
    found: dict[str, tuple[str, ...]] = {}
    for line in result.stdout.splitlines():
        image_id, _, digests = line.partition(" ")
        found[image_id] = tuple(json.loads(digests or "[]") or ())
    return found


def _digests_line(found: dict[str, Any]) -> str:
    return f"{found.get('Id', '')} {json.dumps(found.get('RepoDigests') or [])}"


def current_release(compose: Compose, states: list[ServiceState] | None = None,
                    ignore: Collection[str] = ()) -> Release:
    """The running (or stopped) containers of the project and the images they run.

    `states`: what `service_states` just returned, when the caller has it already.
    `ignore`: containers out of rotation (the previous release's, kept for a revert).
    """
    if states is None:
        states = service_states(compose)
    states = [s for s in states if s.container not in ignore]
    digests = image_digests([s.image_id for s in states if s.image_id], compose.record)
    services = tuple(
        ServiceImage(service=s.service, container=s.container, state=s.state,
                     health=s.health, image=s.image, image_id=s.image_id,
                     digests=digests.get(s.image_id, ()))
        for s in sorted(states, key=lambda s: s.service)
    )
    return Release(config_sha256=config_hash(compose), services=services)


def tagged_image_ids(compose: Compose, services: list[str]) -> dict[str, str]:
    """Service -> id of the image compose would start for it now (after a build)."""
    names = {name: compose.image_name(name) for name in services}
    engine = _Engine(compose.record)
    try:
        return {name: str(engine.get(f"/images/{quote(image, safe='/:@')}/json",
                                     lambda found: str(found.get("Id", "")))["Id"])
                for name, image in names.items()}
    except EngineError:
        pass  # missing, or no socket: the CLI's error names the image
    result = run(["docker", "image", "inspect", "--format", "{{.Id}}", *names.values()],
                 timeout=INSPECT_TIMEOUT_S, record=compose.record)
    if not result.ok:
        raise ComposeError(result)
    return dict(zip(names, result.stdout.split(), strict=True))


