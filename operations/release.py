"""What is running (image id and digests per service, compose config hash), and the
record of the last deploy in the target's state dir, which a rollback reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from operations.commands import CommandLog, run
from operations.compose import Compose, ComposeError

LAST_DEPLOY_NAME = "last-deploy.json"
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
    """sha256 of `docker compose config`: changes whenever the effective config does."""
    result = compose("config", timeout=INSPECT_TIMEOUT_S)
    if not result.ok:
        raise ComposeError(result)
    return hashlib.sha256(result.stdout.encode()).hexdigest()


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
    result = run(["docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}",
                  *sorted(set(image_ids))], timeout=INSPECT_TIMEOUT_S, record=record)
    if not result.ok:
        return {}  # digests are informative; an image removed meanwhile has none
    found: dict[str, tuple[str, ...]] = {}
    for line in result.stdout.splitlines():
        image_id, _, digests = line.partition(" ")
        found[image_id] = tuple(json.loads(digests or "[]") or ())
    return found


def current_release(compose: Compose) -> Release:
    """The running (or stopped) containers of the project and the images they run."""
    states = compose.ps()
    by_container = container_image_ids([s.container for s in states], compose.record)
    digests = image_digests(list(by_container.values()), compose.record)
    services = tuple(
        ServiceImage(service=s.service, container=s.container, state=s.state,
                     health=s.health, image=s.image,
                     image_id=by_container.get(s.container, ""),
                     digests=digests.get(by_container.get(s.container, ""), ()))
        for s in sorted(states, key=lambda s: s.service)
    )
    return Release(config_sha256=config_hash(compose), services=services)


def tagged_image_ids(compose: Compose, services: list[str]) -> dict[str, str]:
    """Service -> id of the image compose would start for it now (after a build)."""
    config = compose.config_json()
    project = compose.stack.project_name
    names = {name: str(config["services"][name].get("image") or f"{project}-{name}")
             for name in services}
    result = run(["docker", "image", "inspect", "--format", "{{.Id}}", *names.values()],
                 timeout=INSPECT_TIMEOUT_S, record=compose.record)
    if not result.ok:
        raise ComposeError(result)
    return dict(zip(names, result.stdout.split(), strict=True))


def write_last_deploy(state_dir: Path, record: dict[str, Any]) -> Path:
    """Write `last-deploy.json` atomically; a rollback takes `cutover_at` from it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LAST_DEPLOY_NAME
    temporary = state_dir / f".{LAST_DEPLOY_NAME}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_last_deploy(state_dir: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((state_dir / LAST_DEPLOY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def release_dict(release: Release) -> dict[str, Any]:
    return asdict(release)
