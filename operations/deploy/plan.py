"""What a deploy changes: per service unchanged, switched zero-downtime, stop-first, or new.

A service changes when its running container runs another image than compose has for it
now, or was made from another service config (compose's config-hash label). Unchanged
services are not touched. A service that cannot run twice is switched stop-first and the
plan says why; that is an interruption of that service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from operations.config import Target
from operations.engine.compose import one_shot_services
from operations.engine.docker import Container

UNCHANGED = "unchanged"
ZERO_DOWNTIME = "zero-downtime"
STOP_FIRST = "stop-first"
NEW = "new"
ONE_SHOT = "one-shot"  # runs to completion (exit 0) before its dependants start
REBUILT = "rebuilt"  # --plan only: the build, not yet run, decides whether it changes


@dataclass(frozen=True)
class ServicePlan:
    service: str
    action: str
    why: str
    old: tuple[str, ...] = ()  # the containers running it now

    @property
    def changes(self) -> bool:
        return self.action != UNCHANGED

    def describe(self) -> str:
        return f"{self.service}: {self.action} ({self.why})"


def single_instance_reason(name: str, spec: Mapping[str, Any], target: Target) -> str | None:
    """Why a second container of this service cannot run beside the first, if it cannot."""
    if name == target.deploy.database_service:
        return "it is the database (two servers must not share its data)"
    if target.deploy.proxy and name == target.deploy.proxy.service:
        return "it is the proxy on the stack's fixed entry port"
    if name in target.deploy.stop_first:
        return "listed in [deploy] stop_first"
    if spec.get("container_name"):
        return f"container_name {spec['container_name']!r} is fixed (drop it)"
    if spec.get("network_mode") == "host":
        return "network_mode: host (use a bridge network and publish a port)"
    for port in spec.get("ports") or []:
        published = str(port.get("published") or "") if isinstance(port, dict) else ""
        if published not in ("", "0"):
            host = port.get("host_ip") or "0.0.0.0"
            return (f"host port {host}:{published} is fixed (publish an ephemeral one, "
                    f"'127.0.0.1::{port.get('target')}', and reach it through a proxy)")
    return None


def switch_order(services: Mapping[str, Mapping[str, Any]], proxy: str | None) -> list[str]:
    """Dependencies before their dependants (compose's depends_on); the proxy last."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered or name in path or name not in services:
            return
        for dependency in services[name].get("depends_on") or {}:
            visit(str(dependency), (*path, name))
        ordered.append(name)

    for name in sorted(services):
        visit(name, ())
    if proxy in ordered:
        ordered.remove(proxy)
        ordered.append(proxy)
    return ordered


def plan_release(target: Target, services: Mapping[str, Mapping[str, Any]],
                 hashes: Mapping[str, str], images: Mapping[str, str | None],
                 running: Mapping[str, Sequence[Container]]) -> list[ServicePlan]:
    """One plan per service of the config, in switch order.

    `images`: service -> the image id compose runs for it now (None: decided by a build
    that has not happened, as under --plan).
    """
    proxy = target.deploy.proxy.service if target.deploy.proxy else None
    one_shot = one_shot_services(services)
    plans = []
    for name in switch_order(services, proxy):
        if name in one_shot:
            plans.append(_one_shot_plan(name, running.get(name, ()), hashes.get(name, ""),
                                        images.get(name, "")))
            continue
        up = [c for c in running.get(name, ()) if c.state == "running"]
        old = tuple(c.name for c in up)
        reason = single_instance_reason(name, services[name], target)
        if not up:
            plans.append(ServicePlan(name, NEW, "no container running", old))
            continue
        if images.get(name, "") is None:
            then = STOP_FIRST if reason else ZERO_DOWNTIME
            why = f"then {then} if the build gives a new image" + (f"; {reason}" if reason
                                                                     else "")
            plans.append(ServicePlan(name, REBUILT, why, old))
            continue
        changed = _what_changed(up, hashes.get(name, ""), images.get(name) or "")
        if not changed:
            plans.append(ServicePlan(name, UNCHANGED, "same image and config", old))
        elif reason:
            plans.append(ServicePlan(name, STOP_FIRST, f"{changed}; {reason}", old))
        else:
            plans.append(ServicePlan(name, ZERO_DOWNTIME, changed, old))
    return plans


def _one_shot_plan(name: str, ran: Sequence[Container], config_hash: str,
                   image: str | None) -> ServicePlan:
    done = [c for c in ran if c.state == "exited" and c.exit_code == 0]
    if done and image is not None and not _what_changed(done, config_hash, image):
        return ServicePlan(name, UNCHANGED, "one-shot: ran to success with this image and "
                                            "config")
    return ServicePlan(name, ONE_SHOT, "runs to completion before the services that wait "
                                       "for it")


def _what_changed(up: Sequence[Container], config_hash: str, image: str) -> str:
    reasons = []
    if any(c.image_id != image for c in up):
        reasons.append(f"new image {image.removeprefix('sha256:')[:12]}")
    if any(c.config_hash != config_hash for c in up):
        reasons.append("config changed")
    return ", ".join(reasons)
