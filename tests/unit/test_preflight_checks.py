"""The preflight rules on given facts: who may hold a port, what makes a secret bad."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from operations.config import Stack
from operations.core.commands import CommandResult
from operations.preflight import rules as checks
from operations.preflight.facts import EngineAnswer, HostFiles, Listeners
from operations.preflight.host import FileFacts, Listener, Process

PORT = 5432
NO_COMMAND = CommandResult(("true",), 0, "", "", 0.0)


def container(project: str, name: str, port: int = PORT) -> dict[str, Any]:
    return {"Id": "0123456789abcdef", "Names": [f"/{name}"],
            "Ports": [{"IP": "127.0.0.1", "PrivatePort": 5432, "PublicPort": port}],
            "Labels": {"com.docker.compose.project": project,
                       "com.docker.compose.service": "postgres"}}


@dataclass
class FakeFacts:
    """What the rules read from PreflightFacts, given instead of asked."""

    containers_list: list[dict[str, Any]] = field(default_factory=list)
    engine_error: str = ""
    held: list[Listener] = field(default_factory=list)
    owners: dict[int, Process] = field(default_factory=dict)
    found: dict[str, FileFacts] = field(default_factory=dict)
    nonblank: dict[str, bool] = field(default_factory=dict)
    stack: Stack = field(default_factory=lambda: Stack(
        project_dir="/srv/stack", project_name="mine", compose_files=("compose.yaml",),
        env_file=".env.production", secrets_dir="secrets", required_secrets=("jwt_secret",)))

    def containers(self) -> EngineAnswer:
        if self.engine_error:
            return EngineAnswer(error=self.engine_error)
        return EngineAnswer(self.containers_list)

    def listeners(self) -> Listeners:
        return Listeners(self.held, NO_COMMAND)

    def socket_owners(self, inodes: list[int]) -> tuple[dict[int, Process], str]:
        return {i: self.owners[i] for i in inodes if i in self.owners}, ""

    def files(self) -> HostFiles:
        return HostFiles(self.found, self.nonblank, (NO_COMMAND,))

    def secret_files(self) -> dict[str, str]:
        return {n: str(self.stack.secrets_path / n) for n in self.stack.required_secrets or ()}


def port_verdict(facts: FakeFacts) -> checks.Verdict:
    return checks.port(facts, PORT)  # type: ignore[arg-type]


def test_a_free_port_passes() -> None:
    verdict = port_verdict(FakeFacts())
    assert verdict.ok and verdict.notes == [f"port {PORT} is free"]


def test_a_port_published_by_our_own_container_passes() -> None:
    facts = FakeFacts(containers_list=[container("mine", "mine-postgres-1")],
                      held=[Listener("127.0.0.1", PORT, 7)],
                      owners={7: Process(99, "docker-proxy")})
    verdict = port_verdict(facts)
    assert verdict.ok, verdict.problems
    assert "held by this stack: container mine-postgres-1" in verdict.notes[-1]


def test_a_port_published_by_another_project_names_the_container() -> None:
    facts = FakeFacts(containers_list=[container("theirs", "theirs-db-1")],
                      held=[Listener("127.0.0.1", PORT, 7)],
                      owners={7: Process(99, "docker-proxy")})
    [problem] = port_verdict(facts).problems
    assert "published by another container: container theirs-db-1" in problem
    assert "compose project theirs" in problem


def test_a_foreign_process_is_named_with_its_pid() -> None:
    facts = FakeFacts(held=[Listener("0.0.0.0", PORT, 7)], owners={7: Process(4321, "nginx")})
    [problem] = port_verdict(facts).problems
    assert f"port {PORT} is in use by nginx (pid 4321) on 0.0.0.0" in problem
    assert "/srv/stack/.env.production" in problem  # where to change it


def test_a_foreign_process_next_to_our_container_still_fails() -> None:
    facts = FakeFacts(containers_list=[container("mine", "mine-postgres-1")],
                      held=[Listener("127.0.0.1", PORT, 7), Listener("::1", PORT, 8)],
                      owners={7: Process(99, "docker-proxy"), 8: Process(50, "postgres")})
    [problem] = port_verdict(facts).problems
    assert "postgres (pid 50) on ::1" in problem and "docker-proxy" not in problem


def test_without_the_engine_a_proxy_is_reported_with_the_reason() -> None:
    facts = FakeFacts(engine_error="docker engine at unix:///x: refused",
                      held=[Listener("127.0.0.1", PORT, 7)],
                      owners={7: Process(99, "docker-proxy")})
    [problem] = port_verdict(facts).problems
    assert "docker-proxy (pid 99)" in problem and "refused" in problem


SECRET = "/srv/stack/secrets/jwt_secret"


@pytest.mark.parametrize(
    ("facts", "nonblank", "expected"),
    [
        (FileFacts(SECRET, 44, 0o600, "root", "regular file"), True, []),
        (FileFacts(SECRET, 0, 0o600, "root", "regular empty file"), False, ["is empty"]),
        (FileFacts(SECRET, 3, 0o600, "root", "regular file"), False, ["is blank"]),
        (FileFacts(SECRET, 44, 0o640, "root", "regular file"), True,
         [f"readable by others than its owner root: mode 0640 on {SECRET} "
          f"(fix: `chmod 600 {SECRET}`)"]),
        (FileFacts(SECRET, 0, 0o604, "root", "regular empty file"), False,
         ["is empty", "mode 0604"]),
        (FileFacts(SECRET, 4096, 0o700, "root", "directory"), True, ["is not a file"]),
    ],
)
def test_secret_rules(facts: FileFacts, nonblank: bool, expected: list[str]) -> None:
    fake = FakeFacts(found={SECRET: facts}, nonblank={SECRET: nonblank})
    verdict = checks.secret(fake, "jwt_secret")  # type: ignore[arg-type]
    assert len(verdict.problems) == len(expected), verdict.problems
    for problem, fragment in zip(verdict.problems, expected, strict=True):
        assert fragment in problem and "'jwt_secret'" in problem


def test_a_missing_secret_says_how_to_create_it() -> None:
    verdict = checks.secret(FakeFacts(), "jwt_secret")  # type: ignore[arg-type]
    assert verdict.problems == [
        f"secret 'jwt_secret' is missing: {SECRET} (write the value to it, then "
        f"`chmod 600 {SECRET}`)"
    ]


def test_the_secret_is_looked_for_in_the_stacks_own_secrets_dir() -> None:
    other = Stack(project_dir="/opt/other", project_name="mine", compose_files=("compose.yaml",),
                  secrets_dir="keys", required_secrets=("jwt_secret",))
    path = "/opt/other/keys/jwt_secret"
    elsewhere = FakeFacts(stack=other, found={SECRET: FileFacts(SECRET, 44, 0o600, "root",
                                                                "regular file")},
                          nonblank={SECRET: True})
    assert checks.secret(elsewhere, "jwt_secret").problems == [  # type: ignore[arg-type]
        f"secret 'jwt_secret' is missing: {path} (write the value to it, then "
        f"`chmod 600 {path}`)"]
    there = FakeFacts(stack=other, found={path: FileFacts(path, 44, 0o600, "root",
                                                          "regular file")},
                      nonblank={path: True})
    assert checks.secret(there, "jwt_secret").problems == []  # type: ignore[arg-type]
