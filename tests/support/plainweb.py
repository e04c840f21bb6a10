"""A one-service stack of another shape than FreshTrack: one built busybox web server on a
fixed loopback port, a plain-text /healthz (`OK <version>`), no database, no secrets, no
env file. Built from debian:bookworm-slim with Debian's busybox."""

from __future__ import annotations

from pathlib import Path

from tests.support.demo import free_ports

DOCKERFILE = """FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends busybox \\
    && rm -rf /var/lib/apt/lists/*
ARG VERSION=v1
RUN mkdir -p /srv && printf 'OK %s' "$VERSION" > /srv/healthz
CMD ["busybox", "httpd", "-f", "-p", "80", "-h", "/srv"]
"""

COMPOSE = """services:
  web:
    build:
      context: .
      args:
        VERSION: ${{VERSION:-v1}}
{extra}    ports:
      - "127.0.0.1:{port}:80"
    healthcheck:
      test: ["CMD", "busybox", "wget", "-qO-", "http://localhost:80/healthz"]
      interval: 1s
"""

# The smallest target file: exactly what an operator of this stack has to write.
TARGET = """[target]
name = "plainweb"
[stack]
project_dir = "."
project_name = "{project}"
compose_files = ["compose.yaml"]
[deploy]
health_url = "http://127.0.0.1:{port}/healthz"
"""


def plain_stack(root: Path, project: str = "plainweb",
                container_name: str = "") -> tuple[Path, int]:
    """The stack in `root/plainweb`, its target file beside the compose file; its port."""
    stack = root / "plainweb"
    stack.mkdir()
    [port] = free_ports(1)
    extra = f"    container_name: {container_name}\n" if container_name else ""
    (stack / "Dockerfile").write_text(DOCKERFILE)
    (stack / "compose.yaml").write_text(COMPOSE.format(port=port, extra=extra))
    (stack / "cutover.toml").write_text(TARGET.format(project=project, port=port))
    return stack, port
