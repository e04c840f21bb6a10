"""The switch: a new release's containers start beside the old ones, turn healthy on their
own, and only then take the traffic; until the release is committed, a revert puts the old
containers back, as one unit for the whole stack.

For a proxied service (`[deploy.proxy] upstreams`) the proxy is first pinned to the old
containers, so a new container gets no request before it is ready; then it is probed on
its own loopback port; then the proxy moves to it and the old containers stay idle until
commit (after the watch window), when they are drained and removed. A service that cannot
run twice is recreated stop-first. A service without a proxy runs its new containers
beside the old ones, which are stopped (kept) once the new ones are ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from operations.config import Probe as HttpProbe
from operations.config import Target
from operations.core import http_checks, probes
from operations.core.commands import CommandLog, CommandResult
from operations.core.waits import Probe, WaitResult, wait_until
from operations.deploy import proxy as proxy_ops
from operations.deploy.plan import NEW, ONE_SHOT, STOP_FIRST, ZERO_DOWNTIME, ServicePlan
from operations.engine import docker
from operations.engine.compose import Compose

log = logging.getLogger("cutover.switch")

UP_TIMEOUT_S = 300.0
READY_PAUSE_S = 0.2
Clock = Callable[[], float]


class SwitchError(Exception):
    """The switch could not go on; the message says which service and why."""


class NeverReady(Exception):
    """A new container can no longer turn healthy (it exited, restarted, is unhealthy)."""


@dataclass
class Switchover:
    """One release being switched in, and everything needed to take it out again."""

    compose: Compose
    target: Target
    plans: list[ServicePlan]
    record: CommandLog | None = None
    clock: Clock = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # proxied service -> the containers the proxy sends its traffic to
    serving: dict[str, list[str]] = field(default_factory=dict)
    old: dict[str, list[str]] = field(default_factory=dict)  # kept for a revert
    new: dict[str, list[str]] = field(default_factory=dict)
    stopped_old: set[str] = field(default_factory=set)
    restore_image: dict[str, str] = field(default_factory=dict)  # stop-first: image before
    moved_at: float | None = None
    state: str = "planned"  # switching, switched, reverted, committed
    journal: list[str] = field(default_factory=list)

    # -- the switch -------------------------------------------------------------------

    def switch(self, release_ready: Callable[[], str | None]) -> None:
        """Start every changed service's new containers, check them, then move traffic.

        `release_ready` is asked once every new container is ready: a message vetoes.
        Raises SwitchError; the caller reverts.
        """
        self.state = "switching"
        self._pin_proxy()
        for plan in self.plans:
            if plan.action == ZERO_DOWNTIME:
                self._start_beside(plan)
            elif plan.action == STOP_FIRST:
                self._recreate(plan)
            elif plan.action == NEW:
                self._start_new(plan)
            elif plan.action == ONE_SHOT:
                self._run_one_shot(plan)
        veto = release_ready()
        if veto:
            raise SwitchError(veto)
        self._move_traffic()
        self.state = "switched"

    def _pin_proxy(self) -> None:
        """Pin the proxy to the containers serving now: new ones get no early request.

        Skipped when the proxy is pinned to them already (since this proxy container
        started): every reload closes the proxy's idle client connections, and a client
        that sends on one at that moment has to send again.
        """
        settings = self.target.deploy.proxy
        container = self._proxy()
        if settings is None or container is None:
            return
        for plan in self.plans:
            if plan.service in settings.upstreams and plan.old:
                self.serving[plan.service] = list(plan.old)
        if proxy_ops.read_pin(self._state_dir()) == proxy_ops.Pin.of(container, self.serving):
            self.journal.append("proxy: pinned to the running containers already: "
                                f"{proxy_ops.upstreams_env(settings, self.serving)}")
            return
        self._reload_proxy("pin the proxy to the running containers")

    def _start_beside(self, plan: ServicePlan) -> None:
        before = set(plan.old)
        self.old[plan.service] = list(plan.old)
        result = self.compose("up", "--detach", "--no-deps", "--no-build", "--no-recreate",
                              "--scale", f"{plan.service}={2 * len(plan.old)}", plan.service,
                              timeout=UP_TIMEOUT_S)
        started = [c.name for c in self._containers(plan.service) if c.name not in before]
        self.new[plan.service] = started
        if not result.ok or not started:
            raise SwitchError(f"service {plan.service!r}: starting new containers beside "
                              f"{', '.join(plan.old)} failed: {result.describe()}")
        self.journal.append(f"{plan.service}: started {', '.join(started)} beside "
                            f"{', '.join(plan.old)}")
        self.wait_ready(plan.service, started)

    def _recreate(self, plan: ServicePlan) -> None:
        running = [c for c in self._containers(plan.service) if c.name in plan.old]
        if running:
            self.restore_image[plan.service] = running[0].image_id
        self.journal.append(f"{plan.service}: stop-first, interrupted from here "
                            f"({plan.why})")
        result = self.compose("up", "--detach", "--no-deps", "--no-build", "--force-recreate",
                              plan.service, timeout=UP_TIMEOUT_S)
        self.new[plan.service] = [c.name for c in self._containers(plan.service)]
        if plan.service == self._proxy_service():
            self._reload_proxy("restore the proxy's upstreams after recreating it")
        if not result.ok:
            raise SwitchError(f"service {plan.service!r}: recreating it failed: "
                              f"{result.describe()}")
        self.wait_ready(plan.service, self.new[plan.service])

    def _start_new(self, plan: ServicePlan) -> None:
        result = self.compose("up", "--detach", "--no-deps", "--no-build", plan.service,
                              timeout=UP_TIMEOUT_S)
        self.new[plan.service] = [c.name for c in self._containers(plan.service)]
        self.journal.append(f"{plan.service}: started ({plan.why})")
        if not result.ok:
            raise SwitchError(f"service {plan.service!r}: starting it failed: "
                              f"{result.describe()}")
        self.wait_ready(plan.service, self.new[plan.service])

    def _run_one_shot(self, plan: ServicePlan) -> None:
        """Run it again and wait for its exit: 0 lets the services after it go on."""
        result = self.compose("up", "--detach", "--no-deps", "--no-build", "--force-recreate",
                              plan.service, timeout=UP_TIMEOUT_S)
        names = [c.name for c in self._containers(plan.service)]
        self.journal.append(f"{plan.service}: one-shot run ({', '.join(names)})")
        if not result.ok:
            raise SwitchError(f"one-shot service {plan.service!r}: starting it failed: "
                              f"{result.describe()}")
        what = f"one-shot {plan.service} to run to completion"
        waited = wait_until(lambda _left: self._exit_probe(plan.service), what=what,
                            timeout=self.target.deploy.health_timeout_s, pause=READY_PAUSE_S,
                            clock=self.clock, sleep=self.sleep)
        self.journal.append(waited.describe())
        failed = [c for c in self._containers(plan.service) if c.exit_code != 0]
        if not waited.done or failed:
            raise SwitchError(f"one-shot service {plan.service!r} did not run to success: "
                              f"{waited.last}")

    def _exit_probe(self, service: str) -> Probe:
        found = self._containers(service)
        done = bool(found) and all(c.state in ("exited", "dead") for c in found)
        return Probe(done, "; ".join(c.describe() for c in found) or "no container")

    def _move_traffic(self) -> None:
        settings = self.target.deploy.proxy
        proxied = [s for s in self.old if settings and s in settings.upstreams]
        if proxied and self._proxy_container() is not None:
            for service in proxied:
                self.serving[service] = list(self.new[service])
            self._reload_proxy("move traffic to the new containers")
            self.moved_at = self.clock()
        for service, names in self.old.items():
            if service not in proxied:  # nothing routes to them: stop (kept for a revert)
                self._stop(names, f"{service}: stopped the old containers (kept until commit)")

    def old_containers(self) -> set[str]:
        """The previous release's containers: out of rotation, kept for a revert."""
        return {name for names in self.old.values() for name in names}

    def new_containers(self) -> list[str]:
        return [name for names in self.new.values() for name in names]

    # -- revert and commit ------------------------------------------------------------

    def revert(self, reason: str) -> list[str]:
        """Put the previous release back, every service; the problems met on the way."""
        if self.state in ("reverted", "committed", "planned"):
            return []
        self.journal.append(f"revert: {reason}")
        problems: list[str] = []
        for service, names in self.old.items():
            problems += self._restart_old(service, names)
        settings = self.target.deploy.proxy
        if settings and any(s in settings.upstreams for s in self.old):
            for service in self.old:
                if service in settings.upstreams:
                    self.serving[service] = list(self.old[service])
            problems += self._reload_proxy("move traffic back to the previous release",
                                           raise_on_error=False)
        for service, names in self.old.items():
            # Asked again, not taken from self.new: a run cut short inside `up --scale`
            # has new containers it never heard of.
            started = [c.name for c in self._containers(service) if c.name not in names]
            if started:
                problems += self._problem(docker.remove(started, self.record),
                                          f"remove the new {service} containers")
        for service, image in self.restore_image.items():
            problems += self._restore_stop_first(service, image)
        self.state = "reverted"
        return problems

    def _restart_old(self, service: str, names: list[str]) -> list[str]:
        stopped = [name for name in names if name in self.stopped_old]
        if not stopped:
            return []
        problems = self._problem(docker.start(stopped, self.record),
                                 f"start the old {service} containers")
        self.stopped_old.difference_update(stopped)
        try:
            self.wait_ready(service, stopped)
        except SwitchError as exc:
            problems.append(str(exc))
        return problems

    def _restore_stop_first(self, service: str, image: str) -> list[str]:
        reference = self.compose.image_name(service)
        problems = self._problem(docker.tag(image, reference, self.record),
                                 f"tag the previous {service} image as {reference}")
        result = self.compose("up", "--detach", "--no-deps", "--no-build", "--force-recreate",
                              service, timeout=UP_TIMEOUT_S)
        problems += self._problem(result, f"recreate {service} from its previous image")
        if service == self._proxy_service():
            problems += self._reload_proxy("restore the proxy's upstreams",
                                           raise_on_error=False)
        return problems

    def commit(self, drain_s: float) -> list[str]:
        """The new release stays: drain and remove the old containers."""
        if self.state != "switched":
            return []
        if self.moved_at is not None:
            left = drain_s - (self.clock() - self.moved_at)
            if left > 0:
                self.sleep(left)
        problems: list[str] = []
        old = [name for names in self.old.values() for name in names]
        if old:
            problems += self._problem(docker.remove(old, self.record),
                                      f"remove the previous release's containers {old}")
            self.journal.append(f"removed the previous release's containers: {', '.join(old)}")
        self.state = "committed"
        return problems

    # -- readiness --------------------------------------------------------------------

    def wait_ready(self, service: str, names: Sequence[str]) -> WaitResult:
        """Until every container is running, healthy, and answers its own HTTP probe."""
        what = f"{service} containers {', '.join(names)} to turn healthy on their own"
        try:
            waited = wait_until(lambda left: self._ready_probe(service, names, left),
                                what=what, timeout=self.target.deploy.health_timeout_s,
                                pause=READY_PAUSE_S, clock=self.clock, sleep=self.sleep)
        except NeverReady as exc:
            raise SwitchError(f"service {service!r}: new container never turned healthy: "
                              f"{exc}") from None
        self.journal.append(waited.describe())
        if not waited.done:
            raise SwitchError(f"service {service!r}: new container not healthy within "
                              f"{self.target.deploy.health_timeout_s:.0f}s: {waited.last}")
        return waited

    def _ready_probe(self, service: str, names: Sequence[str], left: float) -> Probe:
        details = []
        for name in names:
            found = docker.inspect(name)
            if found is None:
                raise NeverReady(f"{name}: the container is gone")
            if found.state in ("exited", "dead") or found.restarts:
                raise NeverReady(found.describe())
            answered = self._own_answer(service, found, left)
            if found.health == "unhealthy":
                raise NeverReady(found.describe() + (f"; {answered[1]}" if answered else ""))
            if not found.is_up or (answered and not answered[0]):
                return Probe(False, found.describe() + (f"; {answered[1]}" if answered else ""))
            details.append(found.describe() + (f"; {answered[1]}" if answered else ""))
        return Probe(True, "; ".join(details))

    def _own_answer(self, service: str, container: docker.Container,
                    left: float) -> tuple[bool, str] | None:
        """The health probe sent to this container's own port: (passed, what it said)."""
        url = self._probe_url(service, container)
        if not url or container.state != "running":
            return None
        answer = http_checks.get(url, timeout=max(min(left, 2.0), 0.2))
        problems = probes.mismatches(answer, self._health_probe())
        said = problems[0] if problems else answer.describe()[:60]
        return not problems, f"GET {url}: {said}"

    def _health_probe(self) -> HttpProbe:
        """The `health` probe (what a new container's own answer is judged by)."""
        found = [p for p in self.target.deploy.all_probes() if p.name == "health"]
        return found[0] if found else HttpProbe(name="health",
                                                url=self.target.deploy.health_url)

    def _probe_url(self, service: str, container: docker.Container) -> str | None:
        """The health URL's path on this container's own loopback port, where it has one."""
        health_url = self.target.deploy.health_url
        if not health_url:
            return None
        parts = urlsplit(health_url)
        path = parts.path or "/"
        settings = self.target.deploy.proxy
        port = settings.upstreams.get(service) if settings else None
        if port is not None and f"{port}/tcp" in container.host_ports:
            return f"http://127.0.0.1:{container.host_ports[f'{port}/tcp']}{path}"
        if parts.port is not None and parts.port in container.host_ports.values():
            return health_url  # published on the health URL's own port (stop-first)
        return None

    # -- helpers ----------------------------------------------------------------------

    def _containers(self, service: str) -> list[docker.Container]:
        return docker.service_containers(self.compose.stack.project_name, service)

    def _proxy_service(self) -> str | None:
        settings = self.target.deploy.proxy
        return settings.service if settings else None

    def _proxy(self) -> docker.Container | None:
        service = self._proxy_service()
        if service is None:
            return None
        running = [c for c in self._containers(service) if c.state == "running"]
        return running[0] if running else None

    def _proxy_container(self) -> str | None:
        found = self._proxy()
        return found.name if found else None

    def _state_dir(self) -> Path:
        return self.target.stack.state_path

    def _reload_proxy(self, why: str, raise_on_error: bool = True) -> list[str]:
        settings = self.target.deploy.proxy
        container = self._proxy()
        if settings is None or container is None:
            return []
        proxy_ops.forget_pin(self._state_dir())  # until the reload is known to have worked
        result = proxy_ops.point_at(settings, container.name, self.serving, self.record)
        upstreams = proxy_ops.upstreams_env(settings, self.serving) or "(Docker's DNS)"
        self.journal.append(f"proxy: {why}: {upstreams}")
        if result.ok:
            proxy_ops.save_pin(self._state_dir(), proxy_ops.Pin.of(container, self.serving))
        elif raise_on_error:
            raise SwitchError(f"proxy {container.name}: reload failed ({why}): "
                              f"{result.describe()}")
        return self._problem(result, f"proxy reload ({why})")

    def _stop(self, names: list[str], note: str) -> None:
        result = docker.stop(names, self.record)
        if not result.ok:
            raise SwitchError(f"stopping {', '.join(names)} failed: {result.describe()}")
        self.stopped_old.update(names)
        self.journal.append(note)

    @staticmethod
    def _problem(result: CommandResult, what: str) -> list[str]:
        return [] if result.ok else [f"{what}: {result.describe()}"]
