"""The bundled notes example against a real registry (Debian's docker-registry on loopback):
web pulled by tag, a one-shot init job, plain-text and JSON health; profiles; the registry
stopped. One registry and one push of each version serve the whole module."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.demo import free_ports
from tests.support.notes import NotesCopy, make_notes_copy
from tests.support.registry import Registry, local_registry, push, remove_local


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with local_registry(tmp_path_factory.mktemp("registry")) as found:
        yield found


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Iterator[NotesCopy]:
    """A private copy of examples/notes; notes-web v1 and v2 pushed the README's way, then
    forgotten by the engine, so a deploy has to pull them from the registry."""
    copy = make_notes_copy(tmp_path_factory.mktemp("notes"), registry.host)
    refs = [registry.ref("notes-web", v) for v in ("v1", "v2")]
    try:
        for version in ("v1", "v2"):
            copy.push_web(version)
        remove_local(*refs)
        yield copy
    finally:
        copy.down()
        remove_local(*refs, registry.ref("notes-extra", "v1"))


def _digests(copy: NotesCopy, release: str) -> list[str]:
    history = json.loads((copy.stack / ".cutover/releases.json").read_text())["releases"]
    [record] = [r for r in history if r["id"] == release]
    return list(record["images"]["web"]["digests"])


def _container_states(project: str) -> dict[str, str]:
    done = subprocess.run(["docker", "ps", "--all", "--filter",
                           f"label=com.docker.compose.project={project}", "--format",
                           '{{.Label "com.docker.compose.service"}} {{.State}}'],
                          capture_output=True, text=True, timeout=30, check=True)
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.strip())


def test_notes_deploys_v1_then_v2_pulled_by_tag_and_passes_postdeploy(
        notes: NotesCopy, registry: Registry) -> None:
    first = notes.cutover("v1", "-m", "deploy")
    assert first.returncode == 0, first.stdout[-5000:]
    assert requests.get(f"{notes.url}/healthz", timeout=5).text == "ok v1"
    assert requests.get(f"{notes.url}/status", timeout=5).json() == {
        "ok": True, "version": "v1", "notes": 2}
    # The release record has the digest the registry serves for the tag that was pulled.
    v1 = f"{registry.host}/notes-web@{registry.manifest_digest('notes-web', 'v1')}"
    assert v1 in _digests(notes, "v1")
    assert _container_states(notes.project) == {"init": "exited", "web": "running"}

    second = notes.cutover("v2", "-m", "deploy")
    assert second.returncode == 0, second.stdout[-5000:]
    assert requests.get(f"{notes.url}/healthz", timeout=5).text == "ok v2"
    v2 = f"{registry.host}/notes-web@{registry.manifest_digest('notes-web', 'v2')}"
    assert v2 in _digests(notes, "v2") and v2 not in _digests(notes, "v1")
    assert "DeployWarning: web is switched stop-first" in second.stdout

    checked = notes.cutover("v2", "-m", "postdeploy")
    assert checked.returncode == 0, checked.stdout[-5000:]
    for row in ("test_containers.py::test_container[init]",
                "test_containers.py::test_container[web]",
                "test_endpoints.py::test_probe[health]", "test_endpoints.py::test_probe[status]"):
        assert f"PASSED checks/postdeploy/{row}" in checked.stdout, row


_PROFILED = """services:
  web:
    image: {registry}/notes-web:v1
    ports: ["127.0.0.1:{port}:8000"]
  extra:
    image: {registry}/notes-extra:v1
    profiles: [extra]
    ports: ["127.0.0.1:{busy}:8000"]
"""


def test_a_service_in_an_inactive_profile_is_not_checked_pulled_or_started(
        notes: NotesCopy, registry: Registry, tmp_path: Path) -> None:
    """`extra` publishes a port that is taken and names a tag no registry has: while its
    profile is inactive neither matters. With COMPOSE_PROFILES=extra it is all three."""
    stack = tmp_path / "profiled"
    stack.mkdir()
    port, busy = free_ports(2)
    project = f"{notes.project}p"
    (stack / "compose.yaml").write_text(_PROFILED.format(registry=registry.host, port=port,
                                                         busy=busy))
    (stack / "cutover.toml").write_text(
        f'[target]\nname = "profiled"\n[stack]\nproject_dir = "."\n'
        f'project_name = "{project}"\ncompose_files = ["compose.yaml"]\n'
        f'[deploy]\nhealth_url = "http://127.0.0.1:{port}/healthz"\n')
    profiled = NotesCopy(stack=stack, project=project, port=port, registry=registry.host)
    holder = socket.create_server(("127.0.0.1", busy))
    try:
        inactive = profiled.cutover("v1", "-m", "deploy")
        assert inactive.returncode == 0, inactive.stdout[-5000:]
        assert f"port {busy}" not in inactive.stdout and "notes-extra" not in inactive.stdout
        assert _container_states(project) == {"web": "running"}

        holder.close()
        push(registry.ref("notes-web", "v1"), registry.ref("notes-extra", "v1"))
        remove_local(registry.ref("notes-extra", "v1"))
        active = profiled.cutover("v1", "-m", "deploy", env={"COMPOSE_PROFILES": "extra"})
        assert active.returncode == 0, active.stdout[-5000:]
        assert f"PASSED checks/preflight/test_ports.py::test_port[port {busy}]" in active.stdout
        assert f"extra: {registry.host}/notes-extra:v1" in active.stdout  # pulled
        assert _container_states(project) == {"web": "running", "extra": "running"}
    finally:
        holder.close()
        profiled.compose("--profile", "extra", "down", "--timeout", "2")


def test_with_the_registry_stopped_an_uncached_tag_blocks_and_a_cached_one_warns(
        notes: NotesCopy, registry: Registry) -> None:
    """Last in the module: it stops the module's registry."""
    cached = registry.ref("notes-web", "v1")
    subprocess.run(["docker", "pull", "--quiet", cached], check=True, capture_output=True,
                   timeout=120)
    before = _answer(notes)
    registry.stop()

    blocked = notes.cutover("v3", "-m", "deploy")
    assert blocked.returncode == 1, blocked.stdout[-5000:]
    assert "FAILED operations/test_deploy.py::test_pull" in blocked.stdout
    message = (f"pull failed and the tag is not on the engine, nothing was changed: web: "
               f"{registry.host}/notes-web:v3: Error response from daemon")
    assert message in blocked.stdout, blocked.stdout[-5000:]
    assert "connection refused" in blocked.stdout and "start the registry" in blocked.stdout
    assert "not run: Pull the images that are not built here failed" in blocked.stdout
    assert _answer(notes) == before, "a blocked deploy changes nothing"

    warned = notes.cutover("v1", "-m", "deploy")
    assert warned.returncode == 0, warned.stdout[-5000:]
    assert "DeployWarning: pull failed, the cached images are used" in warned.stdout
    assert f"web: {cached} (cached, the engine's copy is used)" in warned.stdout
    assert requests.get(f"{notes.url}/healthz", timeout=5).text == "ok v1"


def _answer(notes: NotesCopy) -> str:
    try:
        return requests.get(f"{notes.url}/healthz", timeout=5).text
    except requests.RequestException as exc:
        return f"no answer: {type(exc).__name__}"
