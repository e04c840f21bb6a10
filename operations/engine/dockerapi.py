"""The Docker Engine API over its socket: one HTTP request per question, no CLI processes.

Starting the `docker` CLI costs tens of milliseconds per question; the daemon answers a
request on its unix socket in about one. Only what the checks need: version, info and the
running containers.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_HOST = "unix:///var/run/docker.sock"
TIMEOUT_S = 5.0


class EngineError(Exception):
    """The engine could not be asked; the message names the address and the reason."""


@dataclass(frozen=True)
class Endpoint:
    url: str  # as the operator wrote it: unix:///var/run/docker.sock, tcp://host:2375
    scheme: str
    address: str  # socket path, or host:port

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoint:
        """Where the engine is, as the docker CLI decides it from DOCKER_HOST."""
        url = (env if env is not None else os.environ).get("DOCKER_HOST") or DEFAULT_HOST
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return cls(url, "unix", parts.path)
        if parts.scheme in ("tcp", "http"):
            return cls(url, "tcp", parts.netloc)
        return cls(url, parts.scheme, parts.netloc or parts.path)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerAPI:
    def __init__(self, endpoint: Endpoint | None = None, timeout: float = TIMEOUT_S) -> None:
        self.endpoint = endpoint or Endpoint.from_env()
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self.endpoint.scheme == "unix":
            return _UnixConnection(self.endpoint.address, self.timeout)
        if self.endpoint.scheme == "tcp":
            return http.client.HTTPConnection(self.endpoint.address, timeout=self.timeout)
        raise EngineError(
            f"DOCKER_HOST={self.endpoint.url}: scheme {self.endpoint.scheme}:// is not "
            "supported (use unix:// or tcp://)"
        )

    def get(self, path: str) -> Any:
        """GET one API path and return its JSON; raise EngineError naming the address."""
        connection = self._connection()
        try:
            connection.request("GET", path, headers={"Host": "docker"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineError(f"docker engine at {self.endpoint.url}: {exc}") from None
        finally:
            connection.close()
        if response.status != 200:
            text = body.decode(errors="replace").strip()
            raise EngineError(
                f"docker engine at {self.endpoint.url}: GET {path}: {response.status} {text}"
            )
        return json.loads(body)

    def version(self) -> dict[str, Any]:
        found: dict[str, Any] = self.get("/version")
        return found

    def info(self) -> dict[str, Any]:
        found: dict[str, Any] = self.get("/info")
        return found

    def containers(self, filters: Mapping[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """Running containers, with their published ports and labels."""
        path = "/containers/json"
        if filters:
            path += "?filters=" + quote(json.dumps(dict(filters)))
        found: list[dict[str, Any]] = self.get(path)
        return found
