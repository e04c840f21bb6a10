"""What a target file may leave out, read from `docker compose config --format json`.

A key in the file overrides the derived value: `[preflight] ports`, `[stack]
required_secrets`, `[deploy] build_services`. (The required variables, `${VAR}` without a
default, come from the compose files' text: operations.preflight.compose.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Derived:
    ports: tuple[int, ...]  # host ports published over TCP
    secrets: dict[str, str]  # file-based secrets: name -> file
    built: tuple[str, ...]  # services with a `build:` section
    pulled: tuple[str, ...]  # the others: their image comes from a registry


def derive(config: Mapping[str, Any]) -> Derived:
    services: Mapping[str, Any] = config.get("services") or {}
    built = tuple(name for name, spec in services.items() if spec.get("build"))
    return Derived(
        ports=published_ports(services),
        secrets=file_secrets(config),
        built=built,
        pulled=tuple(name for name in services if name not in built),
    )


def published_ports(services: Mapping[str, Any]) -> tuple[int, ...]:
    """Fixed host ports (`127.0.0.1:3000:3000`), not ephemeral ones (`127.0.0.1::3000`)."""
    found: set[int] = set()
    for spec in services.values():
        for entry in spec.get("ports") or []:
            if not isinstance(entry, Mapping) or entry.get("protocol", "tcp") != "tcp":
                continue
            found.update(_port_range(str(entry.get("published") or "")))
    return tuple(sorted(found))


def _port_range(text: str) -> range:
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        return range(0)
    return range(int(first), int(last or first) + 1)


def file_secrets(config: Mapping[str, Any]) -> dict[str, str]:
    """Top-level `secrets:` read from a file (not `environment:` or `external:` ones)."""
    secrets: Mapping[str, Any] = config.get("secrets") or {}
    return {name: str(spec["file"]) for name, spec in secrets.items()
            if isinstance(spec, Mapping) and spec.get("file")}
