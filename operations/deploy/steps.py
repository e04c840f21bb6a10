"""The deploy's steps as plain functions over `Compose`; test_deploy.py calls them in order.

Each returns what it found; the caller turns a problem into an operator-facing failure.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from operations.core import http_checks
from operations.core.commands import CommandResult, run
from operations.core.waits import Probe, WaitResult, wait_until
from operations.engine import docker
from operations.engine.compose import (
    PROJECT_LABEL,
    Compose,
    ServiceState,
    one_shot_services,
)
from operations.engine.containers import service_states
from operations.engine.dockerapi import DockerAPI, EngineError

PULL_TIMEOUT_S = 600.0
UP_TIMEOUT_S = 300.0
MIGRATE_TIMEOUT_S = 600.0
PRUNE_TIMEOUT_S = 120.0
# Short pauses: the wait ends within ~0.1 s of the service turning healthy. A look at the
# containers is an Engine API request of a few milliseconds, so it can be as frequent.
HTTP_PAUSE_S = 0.1
STATE_PAUSE_S = 0.1
_APPLIED = re.compile(r"^applied (\S+)", re.M)

Clock = Callable[[], float]


def images_to_pull(compose: Compose) -> dict[str, str]:
    """Service -> image, for the services without a `build:` section: what `pull
    --ignore-buildable` would pull (it skips every service that can be built)."""
    services: dict[str, dict[str, object]] = compose.config_json().get("services") or {}
    return {name: str(spec.get("image") or "") for name, spec in services.items()
            if not spec.get("build")}


def pull(compose: Compose) -> CommandResult:
    """Pull the images that are not built here, each by the tag its `image:` names."""
    return compose("pull", "--ignore-buildable", timeout=PULL_TIMEOUT_S)


@dataclass(frozen=True)
class PullFailure:
    service: str
    image: str
    error: str  # the daemon's (the registry's) last word on it
    cached: bool  # the tag is on the engine already: the deploy can go on with it

    def describe(self) -> str:
        cached = "cached, the engine's copy is used" if self.cached else "not cached"
        return f"{self.service}: {self.image} ({cached}): {self.error}"


def pull_failures(compose: Compose, images: Mapping[str, str]) -> list[PullFailure]:
    """After a failed `pull`: each service pulled alone, since compose stops at the first
    error, so each failure names its image and error, and whether its tag is cached."""
    api = DockerAPI()
    failures = []
    for service, image in sorted(images.items()):
        result = compose("pull", "--ignore-buildable", service, timeout=PULL_TIMEOUT_S)
        if not result.ok:
            failures.append(PullFailure(service, image, pull_error(result),
                                        docker.image_exists(image, api)))
    return failures


def pull_error(result: CommandResult) -> str:
    """The line that says why (compose prints progress lines before it)."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines()
             if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [result.describe()])[-1]


def build(compose: Compose, services: Sequence[str]) -> CommandResult:
    return compose.build(services)


def start_database(compose: Compose, service: str) -> CommandResult:
    # --no-build: building is the build step's job; a missing image is an error here.
    return compose("up", "--detach", "--no-build", "--no-deps", service, timeout=UP_TIMEOUT_S)


def wait_database(compose: Compose, service: str, timeout: float,
                  clock: Clock = time.monotonic,
                  readiness: Sequence[str] = ("pg_isready",)) -> WaitResult:
    """Until the database container is healthy (its healthcheck), else the engine's
    `readiness` command (pg_isready, mariadb-admin ping: operations/db/engines.py) passes."""
    states = service_states(compose, service, record=False)
    if states and states[0].is_up and states[0].health == "healthy":
        what = f"service {service!r} to report healthy (its Docker healthcheck)"
        return WaitResult(True, 1, 0.0, _state_text(states[0]), what)
    has_healthcheck = any(s.health for s in states)
    if has_healthcheck:
        what = f"service {service!r} to report healthy (its Docker healthcheck)"
        return wait_until(lambda _left: _service_probe(compose, service), what=what,
                          timeout=timeout, pause=STATE_PAUSE_S, clock=clock)
    what = f"{' '.join(readiness)} in service {service!r}"
    return wait_until(lambda left: _ready(compose, service, readiness, left), what=what,
                      timeout=timeout, pause=STATE_PAUSE_S, clock=clock)


def _service_probe(compose: Compose, service: str) -> Probe:
    states = service_states(compose, service, record=False)
    if not states:
        return Probe(False, f"no container for {service}")
    state = states[0]
    return Probe(state.is_up and state.health == "healthy", _state_text(state))


def _ready(compose: Compose, service: str, readiness: Sequence[str], left: float) -> Probe:
    result = compose("exec", "-T", service, *readiness, timeout=max(min(left, 10.0), 1.0),
                     record=False)
    return Probe(result.ok, (result.stdout + result.stderr).strip() or result.describe())


def migrate(compose: Compose, service: str, command: Sequence[str]) -> CommandResult:
    # --no-deps: the database is up already; nothing else may start before the migration.
    return compose("run", "--rm", "--no-deps", "-T", service, *command,
                   timeout=MIGRATE_TIMEOUT_S)


def applied_migrations(output: str) -> list[str]:
    """The `applied <file>` lines the migration command printed."""
    return _APPLIED.findall(output)


def tag_release(compose: Compose, services: Sequence[str], tag: str) -> dict[str, str]:
    """Tag each built service's image `<image>:<tag>` as well: a later deploy can put this
    release back without a build. Service -> the reference tagged (failures are left out)."""
    tagged = {}
    for service in services:
        image = compose.image_name(service)
        repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        reference = f"{repository}:{tag}"
        if docker.tag(image, reference, compose.record).ok:
            tagged[service] = reference
    return tagged


def remove_unkept_images(compose: Compose,
                         protected: set[str]) -> tuple[list[str], list[str]]:
    """Remove this project's images that no kept release needs and no container uses.

    Only images carrying this project's compose label are candidates: the engine may be
    shared with other stacks. Returns (removed, problems).
    """
    api = DockerAPI()
    project = compose.stack.project_name
    filters = json.dumps({"label": [f"{PROJECT_LABEL}={project}"]})
    try:
        images = api.get("/images/json?filters=" + quote(filters))
        in_use = {str(c.get("ImageID", "")) for c in api.get("/containers/json?all=1")}
    except EngineError as exc:
        return [], [f"cannot list images: {exc}"]
    removed, problems = [], []
    for image in images:
        image_id = str(image.get("Id", ""))
        if image_id in protected or image_id in in_use:
            continue
        result = run(["docker", "image", "rm", "--force", image_id], timeout=PRUNE_TIMEOUT_S,
                     record=compose.record)
        names = ", ".join(image.get("RepoTags") or []) or "(untagged)"
        if result.ok:
            removed.append(f"{image_id[:19]} {names}")
        else:
            problems.append(f"{image_id[:19]} {names}: {result.describe()}")
    return removed, problems


def wait_healthy(url: str, expect: Mapping[str, str], timeout: float,
                 clock: Clock = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 polls: list[dict[str, object]] | None = None) -> tuple[WaitResult,
                                                                        http_checks.HttpAnswer]:
    """Poll `url` until it answers 200 with the expected JSON fields; the last answer too.

    Each poll's time and result is appended to `polls` when given (for the timeline).
    """
    last: list[http_checks.HttpAnswer] = []

    def probe(left: float) -> Probe:
        answer = http_checks.get(url, timeout=max(min(left, http_checks.PROBE_TIMEOUT_S), 0.2))
        last[:] = [answer]
        healthy = not http_checks.mismatches(answer, expect)
        if polls is not None:
            polls.append({"at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                          "ok": healthy, "result": answer.describe()[:80]})
        return Probe(healthy, answer.describe())

    result = wait_until(probe, what=url, timeout=timeout, pause=HTTP_PAUSE_S, clock=clock,
                        sleep=sleep)
    return result, last[0]


@dataclass(frozen=True)
class ServiceProblem:
    service: str
    problem: str


def service_problems(compose: Compose,
                     ignore: Collection[str] = ()) -> list[ServiceProblem]:
    """Services of the config that are not running, or not healthy where they can say so.

    `ignore`: containers out of rotation (the previous release's, kept for a revert).
    """
    states = {s.service: s for s in service_states(compose, record=False)
              if s.container not in ignore}
    one_shot = one_shot_services(compose.config_json().get("services") or {})
    problems = []
    for name in compose.services():
        state = states.get(name)
        if state is None:
            problems.append(ServiceProblem(name, "no container"))
        elif name in one_shot:
            if not state.completed:
                problems.append(ServiceProblem(name, f"one-shot: {_state_text(state)}, "
                                                     f"exit code {state.exit_code}"))
        elif not state.is_up or state.health not in ("", "healthy"):
            problems.append(ServiceProblem(name, _state_text(state)))
    return problems


def wait_services_up(compose: Compose, timeout: float, clock: Clock = time.monotonic,
                     ignore: Collection[str] = ()) -> tuple[WaitResult, list[ServiceProblem]]:
    """Healthchecks run every few seconds: give a just-started service that long."""
    found: list[list[ServiceProblem]] = [[]]

    def probe(_left: float) -> Probe:
        found[0] = service_problems(compose, ignore)
        text = "; ".join(f"{p.service}: {p.problem}" for p in found[0]) or "all up"
        return Probe(not found[0], text)

    return wait_until(probe, what="every service running and healthy", timeout=timeout,
                      pause=STATE_PAUSE_S, clock=clock), found[0]


def image_mismatches(running: Mapping[str, str], built: Mapping[str, str]) -> list[str]:
    """Services whose container does not run the image compose has for them now."""
    return [f"{service}: container runs {running.get(service, '(none)')[:19]}, "
            f"expected {image[:19]}"
            for service, image in sorted(built.items()) if running.get(service) != image]


def service_logs(compose: Compose, services: Sequence[str], lines: int) -> dict[str, str]:
    return {name: (r.stdout + r.stderr) for name in services
            for r in [compose.logs(name, lines)]}


def prune_dangling(compose: Compose) -> CommandResult:
    """Dangling images of this project only: the engine may be shared with other stacks."""
    label = f"label={PROJECT_LABEL}={compose.stack.project_name}"
    return run(["docker", "image", "prune", "--force", "--filter", label],
               timeout=PRUNE_TIMEOUT_S, record=compose.record)


def _state_text(state: ServiceState) -> str:
    return f"{state.state}" + (f" ({state.health})" if state.health else "")
