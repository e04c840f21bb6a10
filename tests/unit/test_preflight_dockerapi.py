"""The Engine API client against the real engine, and its errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from operations.engine.dockerapi import DockerAPI, Endpoint, EngineError


def test_endpoint_follows_docker_host() -> None:
    assert Endpoint.from_env({}).address == "/var/run/docker.sock"
    assert Endpoint.from_env({"DOCKER_HOST": "unix:///run/x.sock"}).address == "/run/x.sock"
    tcp = Endpoint.from_env({"DOCKER_HOST": "tcp://10.0.0.2:2375"})
    assert (tcp.scheme, tcp.address) == ("tcp", "10.0.0.2:2375")


def test_version_matches_the_cli() -> None:
    cli = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert DockerAPI().version()["Version"] == cli.stdout.strip()
    assert DockerAPI().info()["DockerRootDir"].startswith("/")


def test_containers_carry_ports_and_labels() -> None:
    for container in DockerAPI().containers():
        assert "Ports" in container and "Labels" in container and "Names" in container


def test_an_unreachable_engine_names_the_address(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/none.sock"
    with pytest.raises(EngineError, match=f"docker engine at {url}"):
        DockerAPI(Endpoint.from_env({"DOCKER_HOST": url})).version()


def test_an_error_status_names_the_path() -> None:
    with pytest.raises(EngineError, match="GET /no-such-endpoint: 404"):
        DockerAPI().get("/no-such-endpoint")


def test_an_unsupported_scheme_says_what_is_supported() -> None:
    api = DockerAPI(Endpoint.from_env({"DOCKER_HOST": "ssh://user@host"}))
    with pytest.raises(EngineError, match="use unix:// or tcp://"):
        api.version()
