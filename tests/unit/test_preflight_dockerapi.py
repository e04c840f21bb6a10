"""The Engine API client against the real engine, and its errors."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
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


@pytest.fixture
def labelled_container() -> Iterator[tuple[str, str]]:
    """A running container of our own, with a label and a loopback port; removed after."""
    name = f"cutover-apitest-{uuid.uuid4().hex[:12]}"
    started = subprocess.run(
        ["docker", "run", "--detach", "--rm", "--name", name, "--label", f"cutover.test={name}",
         "--publish", "127.0.0.1::9", "debian:bookworm-slim", "sleep", "120"],
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        yield name, started.stdout.strip()
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, timeout=60)


def test_containers_carry_ports_and_labels(labelled_container: tuple[str, str]) -> None:
    name, container_id = labelled_container
    every = DockerAPI().containers()
    assert container_id in {c["Id"] for c in every}
    for container in every:
        assert "Ports" in container and "Labels" in container and "Names" in container
    [found] = DockerAPI().containers({"label": [f"cutover.test={name}"]})
    assert found["Id"] == container_id and found["Names"] == [f"/{name}"]
    assert found["Labels"]["cutover.test"] == name
    [port] = [p for p in found["Ports"] if p.get("IP") == "127.0.0.1"]
    assert port["PrivatePort"] == 9 and isinstance(port["PublicPort"], int)


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
