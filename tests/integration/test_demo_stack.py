"""The bundled FreshTrack demo stack on the real Docker engine: nothing mocked.

One private copy of examples/freshtrack per module (own project name, free loopback ports,
fresh secrets), brought up by pytest-docker with both compose files and torn down with its
volumes and images. Tests that change the stack's state run in file order: migrations
before readings, the backend restart before postgres is stopped, which comes last.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shlex
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql
from pytest_docker.plugin import DockerComposeExecutor, Services, get_docker_services

from tests.support.demo import DEMO_DIR, DemoTarget, make_demo_target

# Not the example's 1.0.0: /health must report what the env file says, not a default.
APP_VERSION = "1.4.2-itest"
SERVICES = ("caddy", "backend", "postgres", "redis")
# Fixed loopback ports from the env file; the backend's is ephemeral (two run in a switch).
SERVICE_PORTS = {"caddy": ("PROXY_PORT", 80), "postgres": ("POSTGRES_PORT", 5432),
                 "redis": ("REDIS_PORT", 6379)}
MIGRATIONS = ("0001_sensor_readings.sql", "0002_alerts.sql", "0003_user_profiles.sql")
HTTP_TIMEOUT = 5.0
BAD_MIGRATION = """\
-- Its first statement works; the second fails, so the whole file must roll back.
CREATE TABLE half_done (id integer);
SELECT no_such_column FROM sensor_readings;
"""


# --- pytest-docker, configured for a private copy of the stack ------------------------------
# Module scope: each module that starts a stack gets its own. (pytest-docker's default
# session scope would hand the first module's stack to every later module.)

@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoTarget:
    """A copy of examples/freshtrack with its own project, ports, secrets and env file."""
    target = make_demo_target(tmp_path_factory.mktemp("demo-stack"))
    target.set_env("APP_VERSION", APP_VERSION)
    return target


@pytest.fixture(scope="module")
def docker_compose_command(demo: DemoTarget) -> str:
    # pytest-docker runs `<this> -f <file>... -p <project> <subcommand>` in a shell, and
    # --env-file is a top-level option: it belongs here, for `up` and `down` alike.
    return f"docker compose --env-file {shlex.quote(str(demo.env_file))}"


@pytest.fixture(scope="module")
def docker_compose_file(demo: DemoTarget) -> list[str]:
    return [str(demo.stack_dir / "docker-compose.yml"),
            str(demo.stack_dir / "compose.production.yaml")]


@pytest.fixture(scope="module")
def docker_compose_project_name(demo: DemoTarget) -> str:
    return demo.project


@pytest.fixture(scope="module")
def docker_setup() -> list[str]:
    return ["up --build --wait --wait-timeout 180"]


@pytest.fixture(scope="module")
def docker_cleanup() -> list[str]:
    return ["down --volumes --remove-orphans --rmi local --timeout 5"]


@pytest.fixture(scope="module")
def docker_services(
    demo: DemoTarget,
    docker_compose_command: str,
    docker_compose_file: list[str],
    docker_compose_project_name: str,
    docker_setup: list[str],
    docker_cleanup: list[str],
) -> Iterator[Services]:
    """pytest-docker's fixture, except that a failed `up` is cleaned up too and reported
    with the containers' logs (get_docker_services cleans up only after a good start)."""
    executor = DockerComposeExecutor(
        docker_compose_command, docker_compose_file, docker_compose_project_name)
    try:
        with get_docker_services(docker_compose_command, docker_compose_file,
                                 docker_compose_project_name, docker_setup, []) as services:
            yield services
    except Exception as error:
        logs = demo.compose("logs", "--no-color", "--tail", "40", check=False, timeout=60)
        raise RuntimeError(f"{error}\n--- docker compose logs ---\n{logs.stdout}") from error
    finally:
        for command in docker_cleanup:
            executor.execute(command)


# --- helpers ---------------------------------------------------------------------------------

def _poll(probe: Callable[[], tuple[bool, Any]], timeout: float, pause: float = 0.2
          ) -> tuple[bool, Any, float]:
    """Call probe() until it reports done or `timeout` seconds pass.

    Returns (done, the last evidence, seconds taken).
    """
    started = time.monotonic()
    while True:
        done, evidence = probe()
        elapsed = time.monotonic() - started
        if done or elapsed >= timeout:
            return done, evidence, elapsed
        time.sleep(pause)


def _get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=HTTP_TIMEOUT)


def _status(url: str) -> tuple[int | None, str]:
    """(status, body) of a GET, or (None, the error) when nothing answers."""
    try:
        response = _get(url)
    except requests.RequestException as error:
        return None, str(error)
    return response.status_code, response.text


def _status_is(url: str, expected: int) -> Callable[[], tuple[bool, tuple[int | None, str]]]:
    """A _poll probe: done when a GET of url answers `expected`; the answer is the evidence."""
    def probe() -> tuple[bool, tuple[int | None, str]]:
        answer = _status(url)
        return answer[0] == expected, answer
    return probe


def _post_reading(base_url: str, body: object, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{base_url}/api/readings", json=body, headers=headers,
                         timeout=HTTP_TIMEOUT)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mint(key: str, subject: str = "itest", expires_in: int = 600) -> str:
    """An HS256 JWT made here, not by the backend, so both sides of the format are tested."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"sub": subject, "exp": int(time.time()) + expires_in}).encode())
    signature = hmac.new(key.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


def _secret(demo: DemoTarget, name: str) -> str:
    return (demo.stack_dir / "secrets" / name).read_text().strip()


def _connect(demo: DemoTarget, dbname: str = "freshtrack") -> psycopg.Connection[Any]:
    """A connection from the host, through the loopback port, with the secret password."""
    return psycopg.connect(host="127.0.0.1", port=demo.ports["POSTGRES_PORT"], dbname=dbname,
                           user="postgres", password=_secret(demo, "postgres_password"),
                           connect_timeout=5, autocommit=True)


def _applied(demo: DemoTarget, dbname: str = "freshtrack") -> list[str]:
    with _connect(demo, dbname) as conn:
        rows = conn.execute("SELECT filename FROM schema_migrations ORDER BY filename")
        return [row[0] for row in rows]


def _table_exists(demo: DemoTarget, table: str, dbname: str = "freshtrack") -> bool:
    with _connect(demo, dbname) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return bool(row and row[0])


def _ps(demo: DemoTarget) -> dict[str, dict[str, Any]]:
    """`docker compose ps --all --format json`, by service (one JSON object per line)."""
    done = demo.compose("ps", "--all", "--format", "json", timeout=60)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {row["Service"]: row for row in rows}


def _started_at(demo: DemoTarget, service: str) -> str:
    container = demo.compose("ps", "-q", service, timeout=60).stdout.strip()
    done = subprocess.run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def _run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)


# --- the stack's own fixtures ----------------------------------------------------------------

@pytest.fixture(scope="module")
def first_migration(docker_services: Services, demo: DemoTarget
                    ) -> subprocess.CompletedProcess[str]:
    """The first `migrate` on the fresh database, as a deploy runs it; later tests need the
    schema, and whichever test comes first, this is the run that found nothing applied."""
    return demo.compose("run", "--rm", "backend", "migrate", check=False, timeout=300)


@pytest.fixture(scope="module")
def bad_migration_files(tmp_path_factory: pytest.TempPathFactory, demo: DemoTarget,
                        docker_services: Services) -> Iterator[Path]:
    """A compose override whose backend image is the built one plus 0004_bad.sql."""
    context = tmp_path_factory.mktemp("bad-migration")
    tag = f"{demo.project}-backend-bad-migration"
    (context / "0004_bad.sql").write_text(BAD_MIGRATION)
    (context / "Dockerfile").write_text(
        f"FROM {demo.project}-backend\nCOPY 0004_bad.sql /app/migrations/\n")
    built = _run("docker", "build", "--quiet", "--tag", tag, str(context), timeout=300)
    assert built.returncode == 0, f"building {tag} failed:\n{built.stderr}"
    override = context / "bad-migration.yaml"
    override.write_text(f"services:\n  backend:\n    image: {tag}\n")
    try:
        yield override
    finally:
        _run("docker", "image", "rm", "--force", tag)


def _migrate_with(demo: DemoTarget, override: Path, *env: str
                  ) -> subprocess.CompletedProcess[str]:
    options = [arg for assignment in env for arg in ("-e", assignment)]
    return demo.compose("--file", str(override), "run", "--rm", "--no-deps", *options,
                        "backend", "migrate", check=False, timeout=300)


# --- make-secrets (no engine needed) ---------------------------------------------------------

def test_make_secrets_writes_private_values_once_and_never_prints_them(tmp_path: Path):
    stack = tmp_path / "freshtrack"
    stack.mkdir()
    shutil.copy(DEMO_DIR / ".env.production.example", stack)
    script = str(DEMO_DIR / "scripts" / "make-secrets")
    # umask 000: the modes must come from the script, not from a careful caller.
    first = _run("sh", "-c", 'umask 000 && exec "$0" "$1"', script, str(stack))
    assert first.returncode == 0, f"exit {first.returncode}: {first.stdout}{first.stderr}"

    secrets_dir = stack / "secrets"
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700, oct(secrets_dir.stat().st_mode)
    values = {}
    for name in ("postgres_password", "jwt_secret"):
        path = secrets_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path}: {oct(path.stat().st_mode)}"
        values[name] = path.read_text()
        assert len(values[name]) >= 32, f"{name} is only {len(values[name])} characters"
        assert values[name] not in first.stdout + first.stderr, f"{name}'s value was printed"
        assert name in first.stdout, first.stdout
    assert values["postgres_password"] != values["jwt_secret"]
    env_file = stack / ".env.production"
    assert env_file.read_text() == (stack / ".env.production.example").read_text()

    env_file.write_text("APP_VERSION=9.9.9\n")  # an operator's edit
    second = _run(script, str(stack))
    assert second.returncode == 0, f"exit {second.returncode}: {second.stdout}{second.stderr}"
    assert {name: (secrets_dir / name).read_text() for name in values} == values, \
        "an existing secret was replaced"
    assert env_file.read_text() == "APP_VERSION=9.9.9\n", "an existing env file was replaced"
    assert "kept secrets/jwt_secret" in second.stdout, second.stdout


# --- configuration ---------------------------------------------------------------------------

def test_production_config_binds_loopback_ports_from_the_env_file(demo: DemoTarget):
    done = demo.compose("config", "--format", "json", timeout=60)
    services = json.loads(done.stdout)["services"]
    assert sorted(services) == sorted(SERVICES), sorted(services)
    backend_ports = [(p["host_ip"], p.get("published"), p["target"])
                     for p in services["backend"]["ports"]]
    assert backend_ports == [("127.0.0.1", None, 3000)], backend_ports
    for name in SERVICES:
        service = services[name]
        if name in SERVICE_PORTS:
            variable, container_port = SERVICE_PORTS[name]
            ports = [(p["host_ip"], int(p["published"]), p["target"]) for p in service["ports"]]
            assert ports == [("127.0.0.1", demo.ports[variable], container_port)], (name, ports)
        assert service.get("restart") == "unless-stopped", (name, service.get("restart"))
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert "container_name" not in service, f"{name} fixes its container name"
    backend = services["backend"]["build"]
    assert backend["target"] == "production", backend
    assert backend["args"] == {"APP_VERSION": APP_VERSION}, backend


def test_development_file_alone_has_no_host_ports(demo: DemoTarget):
    done = _run("docker", "compose", "--project-name", demo.project,
                "--file", str(demo.stack_dir / "docker-compose.yml"),
                "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert {name: services[name].get("ports") for name in SERVICES} == dict.fromkeys(SERVICES)
    assert services["backend"]["build"]["target"] == "development"


# --- the running stack -----------------------------------------------------------------------

def test_stack_builds_and_every_service_turns_healthy(docker_services: Services,
                                                      demo: DemoTarget):
    states = {name: (row.get("State"), row.get("Health")) for name, row in _ps(demo).items()}
    assert states == dict.fromkeys(SERVICES, ("running", "healthy")), states
    for name, (variable, container_port) in SERVICE_PORTS.items():
        published = docker_services.port_for(name, container_port)
        assert published == demo.ports[variable], (name, published, demo.ports)
    assert demo.backend_url.startswith("http://127.0.0.1:"), demo.backend_url


@pytest.mark.parametrize("via", ["backend", "proxy"])
def test_health_reports_the_version_from_the_env_file(docker_services: Services,
                                                      demo: DemoTarget, via: str):
    base = demo.backend_url if via == "backend" else demo.proxy_url
    response = _get(f"{base}/health")
    assert (response.status_code, response.json()) == (
        200, {"status": "healthy", "version": APP_VERSION}), response.text


def test_ready_reports_database_and_redis_connected(docker_services: Services,
                                                    demo: DemoTarget):
    response = _get(f"{demo.backend_url}/ready")
    assert (response.status_code, response.json()) == (
        200, {"database": "connected", "redis": "connected"}), response.text


def test_a_broken_version_answers_health_with_503(docker_services: Services, demo: DemoTarget):
    # A second backend container of the same image, told its version ends in -broken.
    started = demo.compose("run", "--detach", "--no-deps", "-e", "APP_VERSION=3.0.0-broken",
                           "backend", timeout=120)
    container = started.stdout.strip().splitlines()[-1]
    try:
        def probe() -> tuple[bool, subprocess.CompletedProcess[str]]:
            done = _run("docker", "exec", container, "freshtrack", "healthcheck", timeout=30)
            return done.stdout.startswith("503"), done

        answered, check, elapsed = _poll(probe, timeout=20, pause=0.5)
        assert answered, f"no 503 after {elapsed:.1f}s: exit {check.returncode}: {check.stdout}"
        assert check.returncode == 1, check
        body = check.stdout.split(" ", 1)[1]
        assert json.loads(body) == {"status": "unhealthy", "version": "3.0.0-broken"}, body
    finally:
        _run("docker", "rm", "--force", container)


# --- migrations ------------------------------------------------------------------------------

def test_migrate_applies_each_migration_once(
        demo: DemoTarget, first_migration: subprocess.CompletedProcess[str]):
    first = first_migration
    assert first.returncode == 0, f"exit {first.returncode}: {first.stdout}{first.stderr}"
    expected = [f"applied {name}" for name in MIGRATIONS] + ["3 migration(s) applied"]
    assert first.stdout.splitlines() == expected, first.stdout

    second = demo.compose("run", "--rm", "backend", "migrate", check=False, timeout=300)
    assert (second.returncode, second.stdout.strip()) == (0, "nothing to apply"), (
        f"exit {second.returncode}: {second.stdout}{second.stderr}")
    assert _applied(demo) == list(MIGRATIONS)


def test_migrate_exits_2_when_the_database_is_unreachable(docker_services: Services,
                                                          demo: DemoTarget):
    done = demo.compose("run", "--rm", "--no-deps", "-e", "DATABASE_PORT=1", "backend",
                        "migrate", check=False, timeout=120)
    assert done.returncode == 2, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    assert "database unreachable at postgres@postgres:1/freshtrack" in done.stderr, done.stderr


def test_a_failing_migration_rolls_back_alone_and_keeps_the_data(
        demo: DemoTarget, first_migration: subprocess.CompletedProcess[str],
        bad_migration_files: Path):
    assert first_migration.returncode == 0, first_migration.stderr
    with _connect(demo) as conn:
        row = conn.execute("INSERT INTO sensor_readings (sensor_id, value) VALUES (%s, %s)"
                           " RETURNING id", ("before-bad-migration", 7.5)).fetchone()
    assert row is not None

    done = _migrate_with(demo, bad_migration_files)

    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    assert "migration failed: 0004_bad.sql: " in done.stderr, done.stderr
    assert "no_such_column" in done.stderr, done.stderr
    assert _applied(demo) == list(MIGRATIONS)
    assert not _table_exists(demo, "half_done"), "the failed file's first statement stayed"
    with _connect(demo) as conn:
        kept = conn.execute("SELECT sensor_id, value FROM sensor_readings WHERE id = %s",
                            (row[0],)).fetchone()
    assert kept == ("before-bad-migration", 7.5), kept


def test_a_failing_migration_keeps_the_earlier_ones_of_the_same_run(
        demo: DemoTarget, bad_migration_files: Path):
    scratch = "migrate_scratch"
    with _connect(demo) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))

    done = _migrate_with(demo, bad_migration_files, f"DATABASE_NAME={scratch}")

    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    assert done.stdout.splitlines() == [f"applied {name}" for name in MIGRATIONS], done.stdout
    assert done.stderr.startswith("migration failed: 0004_bad.sql: "), done.stderr
    assert _applied(demo, scratch) == list(MIGRATIONS)
    assert all(_table_exists(demo, table, scratch)
               for table in ("sensor_readings", "alerts", "user_profiles"))


# --- the readings API, through the proxy -----------------------------------------------------

def test_readings_need_a_token_signed_with_the_jwt_secret(
        demo: DemoTarget, first_migration: subprocess.CompletedProcess[str]):
    assert first_migration.returncode == 0, first_migration.stderr
    reading = {"sensor_id": "fridge-1", "value": 3.5, "note": None}
    refusals = {
        "no token": None,
        "wrong secret": _mint("not-the-jwt-secret"),
        "expired": _mint(_secret(demo, "jwt_secret"), expires_in=-60),
        "not a JWT": "abc.def",
    }
    for case, token in refusals.items():
        response = _post_reading(demo.proxy_url, reading, token)
        assert response.status_code == 401, (case, response.status_code, response.text)
        assert "error" in response.json(), (case, response.text)
    response = _get(f"{demo.proxy_url}/api/readings", token=_mint("not-the-jwt-secret"))
    assert response.status_code == 401, response.text

    valid = {"Authorization": f"Bearer {_mint(_secret(demo, 'jwt_secret'))}"}
    bad_json = requests.post(f"{demo.proxy_url}/api/readings", data=b"{not json",
                             headers=valid, timeout=HTTP_TIMEOUT)
    assert bad_json.status_code == 400, bad_json.text


def test_readings_posted_through_the_proxy_survive_a_backend_restart(
        demo: DemoTarget, first_migration: subprocess.CompletedProcess[str]):
    assert first_migration.returncode == 0, first_migration.stderr
    # One token minted here from the secret file, one by the documented command.
    issued = demo.compose("exec", "-T", "backend", "freshtrack", "token", "--subject", "itest",
                          timeout=60).stdout.strip()
    tokens = [_mint(_secret(demo, "jwt_secret")), issued]
    posted = []
    for number, token in enumerate(tokens):
        body = {"sensor_id": f"freezer-{number}", "value": -18.25 - number, "note": "restart"}
        response = _post_reading(demo.proxy_url, body, token)
        assert response.status_code == 201, (response.status_code, response.text)
        row = response.json()
        assert {key: row[key] for key in body} == body, row
        assert isinstance(row["id"], int) and row["created_at"].endswith("+00:00"), row
        posted.append(row)

    before = _started_at(demo, "backend")
    demo.compose("restart", "backend", timeout=120)
    assert _started_at(demo, "backend") != before, "the backend container was not restarted"
    answered, last, elapsed = _poll(_status_is(f"{demo.proxy_url}/health", 200), timeout=30)
    assert answered, f"no healthy backend behind the proxy {elapsed:.1f}s after restart: {last}"

    listed = _get(f"{demo.proxy_url}/api/readings?limit=500", token=tokens[0])
    assert listed.status_code == 200, listed.text
    rows = {row["id"]: row for row in listed.json()}
    assert [rows.get(row["id"]) for row in posted] == posted, listed.text
    ids = [row["id"] for row in listed.json()]
    assert ids.index(posted[1]["id"]) < ids.index(posted[0]["id"]), "not newest first"

    logs = demo.compose("logs", "--no-color", "backend", timeout=60).stdout
    assert "POST /api/readings 201" in logs and "POST /api/readings 401" in logs, logs[-2000:]
    for secret in (*tokens, _secret(demo, "jwt_secret"), _secret(demo, "postgres_password")):
        assert secret not in logs, "a token or secret value is in the backend's log"


def test_repeated_probe_answers_are_logged_once(docker_services: Services, demo: DemoTarget):
    """Docker and deploy tools probe /health every few seconds: identical answers must not
    push a failing backend's errors out of the log tail a deploy attaches."""
    def health_lines() -> int:
        logs = demo.compose("logs", "--no-color", "backend", timeout=60).stdout
        return logs.count("GET /health ")

    assert _get(f"{demo.backend_url}/health").status_code == 200
    before = health_lines()
    for _ in range(30):
        assert _get(f"{demo.backend_url}/health").status_code == 200
    assert health_lines() == before


# --- last, since it takes the database away --------------------------------------------------

def test_ready_turns_503_within_5s_of_stopping_postgres(docker_services: Services,
                                                        demo: DemoTarget):
    ready_url = f"{demo.backend_url}/ready"
    demo.compose("stop", "postgres", timeout=120)
    try:
        turned, (status, body), elapsed = _poll(_status_is(ready_url, 503), timeout=10)
        assert turned and elapsed <= 5.0, (
            f"/ready after {elapsed:.2f}s with postgres stopped: {status} {body}")
        assert json.loads(body) == {"database": "not connected", "redis": "connected"}, body
    finally:
        demo.compose("start", "postgres", timeout=120)
        back, last, waited = _poll(_status_is(ready_url, 200), timeout=60, pause=0.5)
        assert back, f"/ready not 200 {waited:.0f}s after starting postgres again: {last}"
    # The 503s in between are one line, counted on the line of the next change.
    logs = demo.compose("logs", "--no-color", "backend", timeout=60).stdout
    assert re.search(r"GET /ready 503 [0-9.]+ms\n", logs), logs[-2000:]
    assert re.search(r"GET /ready 200 [0-9.]+ms \([0-9]+ more 503 answers not logged\)",
                     logs), logs[-2000:]
