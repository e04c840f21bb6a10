"""The deploy's pure parts, and the health wait against a real local HTTP server."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from operations.config import Stack
from operations.core import http_checks
from operations.core.commands import CommandLog, CommandResult
from operations.deploy import steps as deploy
from operations.engine import containers as release
from operations.engine.compose import Compose, ComposeError, ConfigCache


class _Health(BaseHTTPRequestHandler):
    healthy_at = 0.0  # monotonic time from which /health answers 200

    def do_GET(self) -> None:
        healthy = time.monotonic() >= self.healthy_at
        body = json.dumps({"status": "healthy" if healthy else "starting", "version": "2"})
        self.send_response(200 if healthy else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    handler = type("H", (_Health,), {})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/health"


def test_wait_healthy_ends_within_a_pause_of_turning_healthy(server: ThreadingHTTPServer
                                                             ) -> None:
    turns = time.monotonic() + 0.6
    server.RequestHandlerClass.healthy_at = turns  # type: ignore[attr-defined]
    polls: list[dict[str, object]] = []
    result, answer = deploy.wait_healthy(_url(server), {"status": "healthy"}, timeout=10,
                                         polls=polls)
    assert result.done and answer.status == 200
    assert time.monotonic() - turns < 0.25
    assert result.attempts >= 3
    # Every poll is kept for the report's timeline: unhealthy ones, then the healthy one.
    assert len(polls) == result.attempts
    assert [p["ok"] for p in polls] == [False] * (len(polls) - 1) + [True]
    assert str(polls[0]["result"]).startswith("HTTP 503")
    assert "latency:" in answer.evidence() and answer.latency_s > 0


def test_wait_healthy_times_out_naming_the_last_answer(server: ThreadingHTTPServer) -> None:
    server.RequestHandlerClass.healthy_at = float("inf")  # type: ignore[attr-defined]
    started = time.monotonic()
    result, answer = deploy.wait_healthy(_url(server), {"status": "healthy"}, timeout=1.0)
    assert not result.done and 1.0 <= time.monotonic() - started < 1.5
    assert answer.describe() == 'HTTP 503 {"status": "starting", "version": "2"}'


def test_a_refused_connection_is_an_answer_not_an_exception() -> None:
    answer = http_checks.get("http://127.0.0.1:1/health", timeout=1)
    assert answer.status is None and "Connection refused" in answer.describe()


def test_mismatches_name_each_wrong_field() -> None:
    answer = http_checks.HttpAnswer("u", 200, '{"database": "not connected"}')
    assert http_checks.mismatches(answer, {"database": "connected", "redis": "connected"}) == [
        "field 'database' is 'not connected', expected 'connected'",
        "field 'redis' missing (expected 'connected')",
    ]
    assert http_checks.mismatches(http_checks.HttpAnswer("u", 200, "<html>"), {}) == [
        "expected a JSON object, got '<html>'"]


def test_applied_migrations_come_from_the_commands_output() -> None:
    output = "applied 0004_a.sql\napplied 0005_b.sql\n2 migration(s) applied\n"
    assert deploy.applied_migrations(output) == ["0004_a.sql", "0005_b.sql"]
    assert deploy.applied_migrations("nothing to apply\n") == []


def test_image_mismatches_name_the_service_and_both_ids() -> None:
    built = {"backend": "sha256:" + "b" * 64, "redis": "sha256:" + "r" * 64}
    running = {"backend": "sha256:" + "a" * 64, "redis": built["redis"]}
    assert deploy.image_mismatches(running, built) == [
        "backend: container runs sha256:aaaaaaaaaaaa, expected sha256:bbbbbbbbbbbb"]
    assert deploy.image_mismatches(built, built) == []


class _CountingCompose(Compose):
    """Real `docker compose`, counting the processes it starts."""

    calls: list[tuple[str, ...]]

    def __call__(self, *args: str, timeout: float = 120.0, record: bool = True
                 ) -> CommandResult:
        self.calls.append(args)
        return super().__call__(*args, timeout=timeout, record=record)


def _stack(folder: Path, project: str = "ctunit") -> Stack:
    (folder / "docker-compose.yml").write_text(
        "services:\n  app:\n    build: .\n  cache:\n    image: redis:7\n")
    return Stack(project_dir=str(folder), project_name=project,
                 compose_files=("docker-compose.yml",))


def test_the_config_is_read_once_while_its_files_are_unchanged(tmp_path: Path) -> None:
    stack, cache = _stack(tmp_path), ConfigCache()
    first = _CountingCompose(stack, cache=cache)
    first.calls = []
    assert first.services() == ["app", "cache"]
    second = _CountingCompose(stack, cache=cache)  # another step of the same run
    second.calls = []
    assert second.config_json() is first.config_json()
    assert deploy.images_to_pull(second) == {"cache": "redis:7"}
    assert (len(first.calls), len(second.calls)) == (1, 0)
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text() + "  worker:\n    image: busybox\n")
    assert second.services() == ["app", "cache", "worker"] and len(second.calls) == 1


def _run_container(project: str, service: str, oneoff: str) -> str:
    return subprocess.run(
        ["docker", "run", "--detach", "--rm",
         "--label", f"com.docker.compose.project={project}",
         "--label", f"com.docker.compose.service={service}",
         "--label", f"com.docker.compose.oneoff={oneoff}",
         "debian:bookworm-slim", "sleep", "60"],
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def test_service_states_come_from_the_engine_with_the_image_ids(tmp_path: Path) -> None:
    if subprocess.run(["docker", "image", "inspect", "debian:bookworm-slim"],
                      capture_output=True, timeout=30, check=False).returncode != 0:
        pytest.skip("debian:bookworm-slim is not here (the bootstrap makes it)")
    project = f"ctunit{uuid.uuid4().hex[:8]}"
    compose = Compose(_stack(tmp_path, project), record=CommandLog())
    ids = [_run_container(project, "app", "False"), _run_container(project, "app", "True")]
    try:
        states = release.service_states(compose)
        image = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}",
                                "debian:bookworm-slim"], capture_output=True, text=True,
                               timeout=30, check=True).stdout.strip()
        assert [(s.service, s.state, s.health, s.image_id) for s in states] == [
            ("app", "running", "", image)], "the one-off (`run`) container is left out"
        assert release.service_states(compose, "cache") == []
        # Each engine request is evidence on the step's row, like a command.
        assert compose.record is not None
        assert compose.record.results[0].command_line.startswith("docker-engine-api ")
        assert all(r.ok for r in compose.record.results)
    finally:
        subprocess.run(["docker", "rm", "--force", *ids], capture_output=True, timeout=60,
                       check=False)


def test_get_follows_a_redirect_and_reads_the_body(server: ThreadingHTTPServer) -> None:
    class Moved(_Health):
        def do_GET(self) -> None:
            if self.path == "/old":
                self.send_response(302)
                self.send_header("Location", "/health")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

    server.RequestHandlerClass = Moved
    answer = http_checks.get(_url(server).replace("/health", "/old"))
    assert answer.status == 200 and answer.json == {"status": "healthy", "version": "2"}


def test_a_missing_image_to_start_is_an_error_naming_it(tmp_path: Path) -> None:
    project = f"ctunit{uuid.uuid4().hex[:8]}"
    compose = Compose(_stack(tmp_path, project), record=CommandLog())
    with pytest.raises(ComposeError, match=f"{project}-app"):
        release.tagged_image_ids(compose, ["app"])


def test_a_pull_failure_names_the_daemons_error_not_the_progress_lines() -> None:
    result = CommandResult(
        argv=("docker", "compose", "pull", "web"), returncode=1, duration_s=0.2, stdout="",
        stderr=' web Pulling \n web Error Get "http://127.0.0.1:1/v2/": connection refused\n'
               'Error response from daemon: Get "http://127.0.0.1:1/v2/": connection refused\n')
    error = deploy.pull_error(result)
    assert error == 'Error response from daemon: Get "http://127.0.0.1:1/v2/": connection refused'
    failure = deploy.PullFailure("web", "127.0.0.1:1/web:v2", error, cached=False)
    assert failure.describe().startswith("web: 127.0.0.1:1/web:v2 (not cached): Error response")
    silent = CommandResult(argv=("docker", "compose", "pull"), returncode=None, stdout="",
                           stderr="", duration_s=600.0)
    assert deploy.pull_error(silent) == "`docker compose pull` timed out after 600.0s"
