"""Point the stack's proxy at chosen containers: `[deploy.proxy] reload_command` run in the
proxy's container with one variable per proxied service listing its upstreams.

The variable of service `backend` is `CUTOVER_UPSTREAMS_BACKEND`, its value
`"<container>:<port> ..."` (container names resolve through Docker's DNS). The reload must
be graceful, as `caddy reload` is: requests in flight finish on the old upstreams.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from operations.config import Proxy
from operations.core.commands import CommandLog, CommandResult
from operations.engine import docker

RELOAD_TIMEOUT_S = 30.0


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
