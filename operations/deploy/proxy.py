"""Point the stack's proxy at chosen containers: `[deploy.proxy] reload_command` run in the
proxy's container with one variable per proxied service listing its upstreams.

The variable of service `backend` is `CUTOVER_UPSTREAMS_BACKEND`, its value
`"<container>:<port> ..."` (container names resolve through Docker's DNS). The reload must
be graceful, as `caddy reload` is: requests in flight finish on the old upstreams.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from operations.config import Proxy
from operations.core.commands import CommandLog, CommandResult
from operations.core.files import private_dir, write_private_text
from operations.engine import docker

RELOAD_TIMEOUT_S = 30.0
PIN_NAME = "proxy-pin.json"


@dataclass(frozen=True)
class Pin:
    """What the proxy was last pointed at, and which start of its container that was (a
    restarted proxy has forgotten: it resolves through Docker's DNS again)."""

    container_id: str
    started_at: str
    serving: dict[str, list[str]]

    @classmethod
    def of(cls, container: docker.Container, serving: Mapping[str, Sequence[str]]) -> Pin:
        return cls(container.id, container.started_at,
                   {service: list(names) for service, names in sorted(serving.items())})


def read_pin(state_dir: Path) -> Pin | None:
    try:
        raw = json.loads((state_dir / PIN_NAME).read_text(encoding="utf-8"))
        return Pin(str(raw["container_id"]), str(raw["started_at"]),
                   {str(k): [str(n) for n in v] for k, v in dict(raw["serving"]).items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_pin(state_dir: Path, pin: Pin) -> None:
    private_dir(state_dir)
    write_private_text(state_dir / PIN_NAME, json.dumps(asdict(pin), indent=2) + "\n")


def forget_pin(state_dir: Path) -> None:
    (state_dir / PIN_NAME).unlink(missing_ok=True)


def upstreams_variable(service: str) -> str:
    return "CUTOVER_UPSTREAMS_" + re.sub(r"[^A-Z0-9]", "_", service.upper())


def upstreams_env(proxy: Proxy, serving: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """One variable per proxied service that has containers to send traffic to."""
    return {upstreams_variable(service): " ".join(f"{name}:{port}" for name in serving[service])
            for service, port in sorted(proxy.upstreams.items()) if serving.get(service)}


def point_at(proxy: Proxy, proxy_container: str, serving: Mapping[str, Sequence[str]],
             record: CommandLog | None) -> CommandResult:
    """Reload the proxy so each proxied service's traffic goes to `serving[service]`."""
    return docker.exec_in(proxy_container, proxy.reload_command, upstreams_env(proxy, serving),
                          record, timeout=RELOAD_TIMEOUT_S)
