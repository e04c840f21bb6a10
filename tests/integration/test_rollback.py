"""`pytest -m rollback` against a private copy of the demo stack: real PostgreSQL, real
Docker engine, a real local HTTP server standing in for Slack.

One copy serves the whole module (bring-ups are slow); every test starts with all
services running and leaves the database as it found it (the rollback deletes nothing).
"""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from operations.db.postgres import DatabaseError
from operations.rollback.export import READ_AHEAD_BYTES, export_tables, read_ahead
from tests.support.demo import REPO, DemoTarget, make_demo_target
from tests.support.receiver import Receiver

SERVICES = {"caddy", "backend", "postgres", "redis"}
CUTOVER = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
TS = CUTOVER.isoformat()
# Values a CSV export must carry through unchanged: separators, quotes, line breaks,
# non-ASCII, an empty string (quoted) and NULL (unquoted empty) told apart.
AWKWARD = [None, "", "plain", "comma, inside", 'say "hi"', "line one\nline two",
           "Grüße \u2013 温度 ✓", "trailing space ", "\\N", "a\r\nb"]
TABLES = {
    "sensor_readings": ("sensor_id", "value", "note"),
    "alerts": ("sensor_id", "severity", "message"),
    "user_profiles": ("email", "display_name"),
}


# ---- the stack -------------------------------------------------------------------------

@dataclass
class Stack:
    demo: DemoTarget
    password: str
    before_ids: dict[str, set[int]] = field(default_factory=dict)
    after_ids: dict[str, set[int]] = field(default_factory=dict)

    def connect(self, dbname: str = "freshtrack") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.demo.ports["POSTGRES_PORT"],
                               dbname=dbname, user="postgres", password=self.password,
                               connect_timeout=10, autocommit=True)


def _row_values(table: str, number: int, created: datetime) -> tuple[object, ...]:
    text = AWKWARD[number % len(AWKWARD)]
    unique = f"user{number}-{created.timestamp():.0f}@example.com"
    return {
        "sensor_readings": (f"sensor-{number}", number * 1.25, text, created),
        "alerts": (text, "high" if number % 2 else None, text, created),
        "user_profiles": (unique, text, created),
    }[table]


def _seed(stack: Stack) -> None:
    """Rows before, at and after the cutover in every table; at is not after."""
    moments = {"before": [CUTOVER - timedelta(days=1), CUTOVER - timedelta(microseconds=1),
                          CUTOVER],
               "after": [CUTOVER + timedelta(microseconds=1), CUTOVER + timedelta(hours=1),
                         CUTOVER + timedelta(days=1)]}
    with stack.connect() as conn:
        for table, columns in TABLES.items():
            names = ", ".join((*columns, "created_at"))
            marks = ", ".join(["%s"] * (len(columns) + 1))
            for side, times in moments.items():
                ids = stack.before_ids if side == "before" else stack.after_ids
                for number in range(len(AWKWARD)):
                    created = times[number % len(times)]
                    row = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                                       "RETURNING id", _row_values(table, number, created))
                    found = row.fetchone()
                    assert found is not None
                    ids.setdefault(table, set()).add(int(str(found[0])))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    demo = make_demo_target(tmp_path_factory.mktemp("rollback"))
    try:
        demo.compose("up", "-d", "--build", "--wait")
        demo.compose("run", "--rm", "backend", "migrate")
        password = (demo.stack_dir / "secrets" / "postgres_password").read_text().strip()
        built = Stack(demo, password)
        _seed(built)
        yield built
    finally:
        demo.down()


@pytest.fixture(autouse=True)
def all_running(stack: Stack) -> None:
    """Every test starts from a running stack (a rollback stops backend and caddy)."""
    stack.demo.compose("up", "-d", "--wait", timeout=300)
    assert _running(stack.demo) == SERVICES


def _running(demo: DemoTarget) -> set[str]:
    listed = demo.compose("ps", "--format", "json").stdout.strip()
    rows = (json.loads(listed) if listed.startswith("[")
            else [json.loads(line) for line in listed.splitlines() if line.strip()])
    return {row["Service"] for row in rows if row.get("State") == "running"}


def _counts(stack: Stack, dbname: str = "freshtrack") -> dict[str, int]:
    with stack.connect(dbname) as conn:
        return {t: int(str(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]))  # type: ignore[index]
                for t in TABLES}


# ---- running the suite -----------------------------------------------------------------

def _env(demo: DemoTarget, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "CUTOVER_REPORTS_DIR": str(demo.reports_dir), "COLUMNS": "200"}
    for name in ("CUTOVER_TARGET", "CUTOVER_TIMESTAMP", "PYTEST_ADDOPTS", "SLACK_WEBHOOK_URL"):
        env.pop(name, None)
    return {**env, **(extra or {})}


def _argv(demo: DemoTarget, *args: str) -> list[str]:
    # `--target=PATH` as one word: pytest's early rootdir detection would take a separate
    # PATH for a test path outside the repo and never load the repo's conftest.
    return [sys.executable, "-m", "pytest", f"--target={demo.target_file}", "-m", "rollback",
            *args]


def rollback(demo: DemoTarget, *args: str, env: dict[str, str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the rollback in a new session: no controlling terminal, /dev/tty cannot open."""
    return subprocess.run(_argv(demo, *args), cwd=REPO, env=_env(demo, env), timeout=timeout,
                          capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, start_new_session=True)


def _manifest(demo: DemoTarget) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((demo.latest_run() / "manifest.json").read_text())
    return loaded


def _outcomes(manifest: dict[str, object]) -> dict[str, str]:
    steps = manifest["steps"]
    assert isinstance(steps, list)
    return {s["name"]: s["outcome"] for s in steps}


STEPS = ["Confirm the rollback with the operator", "Acquire the target's lock",
         "Stop the services", "Export the rows created since the cutover",
         "Back up the whole database", "Give the DNS guidance", "Notify the team",
         "Release the target's lock", "Write the rollback manifest"]
FINALIZERS = STEPS[7:]  # run after a failure too
# The demo target configures no [hooks]: these steps are skipped with the reason.
HOOK_STEPS = ["Run the pre-rollback hook", "Run the post-rollback hook"]


# ---- tests -----------------------------------------------------------------------------

def test_injection_in_the_timestamp_is_a_usage_error_and_nothing_is_touched(stack):
    done = rollback(stack.demo, "--yes", "--cutover-timestamp", "2026-01-23' OR '1'='1")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "ISO 8601 with a zone" in done.stderr, done.stderr
    assert _running(stack.demo) == SERVICES


def test_without_terminal_or_yes_fails_before_touching_anything(stack):
    done = rollback(stack.demo, "--cutover-timestamp", TS)
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "--yes" in output and "/dev/tty" in output, output
    assert _running(stack.demo) == SERVICES
    outcomes = _outcomes(_manifest(stack.demo))
    assert outcomes[STEPS[0]] == "failed"
    assert [outcomes[s] for s in STEPS[1:7]] == ["not run"] * 6
    assert [outcomes[s] for s in FINALIZERS] == ["passed"] * 2
    assert not list((stack.demo.latest_run() / "export").glob("*.csv"))


def _read_until(fd: int, needle: bytes, seen: bytearray, deadline: float) -> None:
    while needle not in seen:
        remaining = deadline - time.monotonic()
        shown = seen.decode(errors="replace")
        assert remaining > 0, f"no {needle!r} on the terminal; saw:\n{shown}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            assert chunk, f"terminal closed before {needle!r}:\n{seen.decode(errors='replace')}"
            seen += chunk


def _drain(fd: int, seen: bytearray, deadline: float) -> None:
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        seen += chunk


def test_answering_no_on_the_terminal_ends_cleanly(stack):
    """A real pseudo-terminal: yes to proceed, no to stopping services."""
    argv = _argv(stack.demo, "--cutover-timestamp", TS)
    env = _env(stack.demo)
    pid, fd = pty.fork()  # the child: new session, the pty as its controlling terminal
    if pid == 0:
        os.chdir(REPO)
        os.execve(sys.executable, argv, env)
    seen = bytearray()
    deadline = time.monotonic() + 300
    try:
        _read_until(fd, b"(yes/no): ", seen, deadline)
        assert b"Proceed with the rollback" in seen
        os.write(fd, b"yes\n")
        _read_until(fd, b"Stop backend, caddy? (yes/no): ", seen, deadline)
        os.write(fd, b"no\n")
        _drain(fd, seen, deadline)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    output = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == pytest.ExitCode.TESTS_FAILED, output
    assert "Traceback" not in output, output
    assert "declined: the operator answered no" in output, output
    assert _running(stack.demo) == SERVICES
    manifest = _manifest(stack.demo)
    outcomes = _outcomes(manifest)
    assert outcomes[STEPS[0]] == outcomes[STEPS[1]] == "passed"
    assert outcomes[STEPS[2]] == "failed"
    assert [outcomes[s] for s in STEPS[3:7]] == ["not run"] * 4
    assert [outcomes[s] for s in FINALIZERS] == ["passed"] * 2
    assert not (stack.demo.stack_dir / ".cutover/deploy.lock").exists()
    data = manifest["data"]
    assert isinstance(data, dict)
    assert data["declined"]["question"] == "Stop backend, caddy?"
    assert [a["answer"] for a in data["confirmations"]] == ["yes", "no"]
    assert not list((stack.demo.latest_run() / "export").glob("*.csv"))


def test_unwritable_export_dir_fails_in_the_checks_and_stops_nothing(stack, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    # A path below a regular file: not creatable, not even by root.
    output = _rollback_failing_its_checks(stack, blocker / "exports")
    assert "test_export_dir_writable FAILED" in output or \
        "FAILED checks/rollback/test_rollback_export_dir.py::test_export_dir_writable" in output, \
        output
    assert "is not writable" in output, output


def _rollback_failing_its_checks(stack: Stack, export_dir: Path) -> str:
    """Roll back with `export_dir`, expect a failure before any step ran; its output."""
    original = stack.demo.target_file.read_text()
    stack.demo.target_file.write_text(original.replace(
        "[rollback]\n", f'[rollback]\nexport_dir = "{export_dir}"\n', 1))
    try:
        done = rollback(stack.demo, "--yes", "--cutover-timestamp", TS)
    finally:
        stack.demo.target_file.write_text(original)
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, output
    outcomes = _outcomes(_manifest(stack.demo))
    assert [outcomes[s] for s in STEPS[:7]] == ["blocked"] * 7
    assert _running(stack.demo) == SERVICES
    return output


def test_too_little_room_fails_in_the_checks_and_stops_nothing(stack, tmp_path):
    """A 1 MiB tmpfs as the export directory: the estimate (table sizes plus the database)
    does not fit, so the rollback stops in its checks with both figures."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        output = _rollback_failing_its_checks(stack, small / "exports")
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert "test_room_for_export_and_backup" in output, output
    assert re.search(r"not enough room at \S+: [0-9.]+ MB free, export and backup need up "
                     r"to [0-9.]+ MB", output), output


def _parse_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _assert_export_exact(stack: Stack, export: Path) -> None:
    """Exactly the after-rows, and PostgreSQL reads each file back to identical values."""
    with stack.connect() as conn:
        for table, columns in TABLES.items():
            path = export / f"{table}.csv"
            rows = _parse_csv(path)
            assert {int(r["id"]) for r in rows} == stack.after_ids[table], table
            originals = {int(str(r[0])): r[1:] for r in conn.execute(
                f"SELECT id, {', '.join(columns)} FROM {table}").fetchall()}
            for row in rows:  # the csv module reads NULL and "" both as ""
                expected = originals[int(row["id"])]
                for name, value in zip(columns, expected, strict=True):
                    if isinstance(value, str) or value is None:
                        assert row[name] == (value or ""), (table, name, row)
            # PostgreSQL's own CSV reader keeps NULL and "" apart: compare whole rows.
            conn.execute(f"CREATE TEMP TABLE back_{table} (LIKE {table})")
            with conn.cursor().copy(f"COPY back_{table} FROM STDIN (FORMAT csv, HEADER true)"
                                    ) as copy:
                copy.write(path.read_bytes())
            ids = sorted(stack.after_ids[table])
            for left, right in ((f"back_{table}", table), (table, f"back_{table}")):
                differing = conn.execute(
                    f"SELECT * FROM {left} WHERE id = ANY(%s) EXCEPT "
                    f"SELECT * FROM {right} WHERE id = ANY(%s)", (ids, ids)).fetchall()
                assert differing == [], (table, differing)


def _assert_backup_restores(stack: Stack, dump: Path) -> None:
    demo = stack.demo
    demo.compose("exec", "-T", "postgres", "dropdb", "-U", "postgres", "--if-exists", "scratch")
    demo.compose("exec", "-T", "postgres", "createdb", "-U", "postgres", "scratch")
    try:
        with dump.open("rb") as handle:
            restored = subprocess.run(
                demo.compose_argv("exec", "-T", "postgres", "pg_restore", "-U", "postgres",
                                  "--dbname", "scratch", "--no-owner", "--exit-on-error"),
                stdin=handle, capture_output=True, text=True, timeout=300, check=False)
        assert restored.returncode == 0, restored.stderr
        assert _counts(stack, "scratch") == _counts(stack)
    finally:
        demo.compose("exec", "-T", "postgres", "dropdb", "-U", "postgres", "--if-exists",
                     "scratch", check=False)


def _assert_no_secret_anywhere(stack: Stack, run: Path, output: str, leaks: list[str]) -> None:
    secrets_dir = stack.demo.stack_dir / "secrets"
    values = [p.read_text().strip() for p in secrets_dir.iterdir() if p.is_file()] + leaks
    assert all(len(v) >= 8 for v in values)
    for path in [p for p in run.rglob("*") if p.is_file()]:
        content = path.read_bytes()
        for value in values:
            assert value.encode() not in content, f"a secret value is in {path}"
    for value in values:
        assert value not in output, "a secret value is in the run's output"


def test_rollback_exports_backs_up_notifies_and_deletes_nothing(stack):
    counts_before = _counts(stack)
    token = "canaryWEBHOOKtoken0123456789"
    with Receiver(200) as receiver:
        url = receiver.url(token)
        done = rollback(stack.demo, "--yes", "--cutover-timestamp", TS,
                        "--reason", "checkout errors after cutover", "--ticket", "CHG-42",
                        env={"SLACK_WEBHOOK_URL": url})
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.OK, output
    run = stack.demo.latest_run()
    manifest = _manifest(stack.demo)
    assert manifest["outcome"] == "succeeded"
    assert _outcomes(manifest) == {**dict.fromkeys(STEPS, "passed"),
                                   **dict.fromkeys(HOOK_STEPS, "skipped")}
    assert _running(stack.demo) == {"postgres", "redis"}  # backend and caddy stopped
    assert _counts(stack) == counts_before  # nothing deleted

    data = manifest["data"]
    assert isinstance(data, dict)
    assert data["cutover_timestamp"] == TS
    tables = {t["table"]: t for t in data["tables"]}
    for table in TABLES:
        assert tables[table]["rows"] == len(stack.after_ids[table])
        assert Path(tables[table]["file"]) == run / "export" / f"{table}.csv"
    _assert_export_exact(stack, run / "export")

    backup = data["backup"]
    dump = Path(backup["file"])
    assert dump.parent == run / "export" and dump.stat().st_size == backup["bytes"]
    assert backup["toc_entries"] > 0
    _assert_backup_restores(stack, dump)

    guidance = "Point the FreshTrack A/AAAA records back"
    assert guidance in data["dns_guidance"] and guidance in output
    assert guidance in (run / "ROLLBACK_MANIFEST.md").read_text()

    assert len(receiver.requests) == 1
    path, body = receiver.requests[0]
    assert path.endswith(token)
    message = json.loads(body)
    text = message["text"] + json.dumps(message["blocks"])
    for expected in ("freshtrack-demo", "checkout errors after cutover", "CHG-42",
                     str(run / "ROLLBACK_MANIFEST.md")):
        assert expected in text, expected
    for table in TABLES:
        assert f"{table}: {len(stack.after_ids[table])}" in message["text"]
    assert message["blocks"] and all("type" in block for block in message["blocks"])
    _assert_no_secret_anywhere(stack, run, output, [url, token])


def test_webhook_answering_500_is_a_warning_not_a_failure(stack):
    with Receiver(500) as receiver:
        done = rollback(stack.demo, "--yes", "--cutover-timestamp", TS,
                        env={"SLACK_WEBHOOK_URL": receiver.url("canary500token000000")})
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.OK, output
    assert len(receiver.requests) == 2  # one retry
    assert "RollbackWarning" in output and "HTTP 500" in output, output
    data = _manifest(stack.demo)["data"]
    assert isinstance(data, dict) and "not sent" in data["notification"]
    assert "HTTP 500" in (stack.demo.latest_run() / "report.html").read_text()
    assert "canary500token" not in output


def test_webhook_never_answering_passes_within_the_timeout(stack):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nobody ever answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/services/T0/B0/canarySILENTtoken00"
    try:
        done = rollback(stack.demo, "--yes", "--cutover-timestamp", TS,
                        env={"SLACK_WEBHOOK_URL": url})
    finally:
        silent.close()
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.OK, output
    assert "no answer within 5s" in output, output
    steps = _manifest(stack.demo)["steps"]
    assert isinstance(steps, list)
    notify_step = next(s for s in steps if s["name"] == "Notify the team")
    assert notify_step["outcome"] == "passed"
    assert notify_step["duration_s"] < 2 * 5 + 1 + 3  # two 5 s attempts, 1 s pause, slack


def test_an_already_stopped_service_is_noted_not_an_error(stack):
    stack.demo.compose("stop", "caddy")
    done = rollback(stack.demo, "--yes", "--cutover-timestamp", TS)
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
    data = _manifest(stack.demo)["data"]
    assert isinstance(data, dict)
    assert {s["service"]: s["action"] for s in data["services"]} == {
        "backend": "stopped", "caddy": "already stopped"}
    assert _running(stack.demo) == {"postgres", "redis"}


def test_export_reads_all_tables_in_one_snapshot(stack, tmp_path):
    """Rows committed while the export runs are in no file and in no count: they commit
    after the export's snapshot is taken and before the counting connection imports it, so
    a count in a fresh snapshot would see them and fail the export."""
    late: dict[str, list[int]] = {}
    connections: list[psycopg.Connection[tuple[object, ...]]] = []

    def insert_late_rows() -> None:
        with stack.connect() as other:  # another session, committed at once
            for table, columns in TABLES.items():
                names = ", ".join((*columns, "created_at"))
                marks = ", ".join(["%s"] * (len(columns) + 1))
                row = other.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                                    "RETURNING id", _row_values(table, 7, CUTOVER + timedelta(
                                        days=2))).fetchone()
                late.setdefault(table, []).append(int(str(row[0])))  # type: ignore[index]

    def connect() -> psycopg.Connection[tuple[object, ...]]:
        if connections:  # the counter's connection: the export's snapshot is already open
            insert_late_rows()
        connections.append(stack.connect())
        return connections[-1]

    try:
        exported = export_tables(connect, list(TABLES), "created_at", CUTOVER, tmp_path)
    finally:
        with stack.connect() as cleanup:
            for table, ids in late.items():
                cleanup.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (ids,))
    assert len(connections) == 2 and all(c.closed for c in connections)
    assert set(late) == set(TABLES)
    for result in exported:
        ids = {int(r["id"]) for r in _parse_csv(Path(result.file))}
        assert ids == stack.after_ids[result.table], result.table
        assert result.rows == len(stack.after_ids[result.table])


def test_without_a_second_connection_the_counts_run_on_the_export_connection(stack, tmp_path):
    """max_connections reached after the checks: the export still completes and is checked,
    counting on its own connection in the same snapshot, and says why."""
    connections: list[psycopg.Connection[tuple[object, ...]]] = []
    heard: list[str] = []

    def connect() -> psycopg.Connection[tuple[object, ...]]:
        if connections:
            raise DatabaseError("database postgresql://postgres@127.0.0.1/freshtrack is not "
                                "reachable: sorry, too many clients already")
        connections.append(stack.connect())
        return connections[-1]

    exported = export_tables(connect, list(TABLES), "created_at", CUTOVER, tmp_path,
                             warn=heard.append)
    assert {e.table: e.rows for e in exported} == {
        table: len(ids) for table, ids in stack.after_ids.items()}
    assert len(connections) == 1 and connections[0].closed
    assert len(heard) == len(TABLES)
    assert all("count(*) taken after the COPY on the export's own connection" in m and
               "sorry, too many clients already" in m for m in heard), heard


def test_a_failed_export_leaves_no_file(stack, tmp_path):
    """A table that cannot be read fails the export; the files already written go."""
    with pytest.raises(psycopg.errors.UndefinedTable):
        export_tables(stack.connect, [*TABLES, "no_such_table"], "created_at", CUTOVER,
                      tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_read_ahead_is_only_set_while_the_rows_stream(stack):
    """SO_RCVLOWAT must not outlive the reading loop: psycopg's own waits (cancelling a
    COPY, the next query) would sleep until their interval instead of waking."""
    with stack.connect() as conn, socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        def lowat() -> int:
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)

        assert lowat() == 1
        with pytest.raises(RuntimeError), read_ahead(conn) as interval:
            assert (lowat(), interval) == (READ_AHEAD_BYTES, 0.005)
            raise RuntimeError("the loop failed")
        assert lowat() == 1
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("holder", ["deploy", "rollback"])
def test_one_lock_for_every_operation_on_a_target(stack, holder):
    """A rollback never runs beside a deploy or another rollback: the target's one lock,
    held here by a live process (this test's), refuses it naming the holder; nothing is
    stopped and the lock is left to its holder."""
    lock_file = stack.demo.stack_dir / ".cutover/deploy.lock"
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    held = {"holder": "ops", "pid": os.getpid(), "host": socket.gethostname(),
            "acquired_at": "2026-12-01T00:00:00+00:00", "ticket": "CHG-7",
            "operation": holder, "token": "held-by-the-test"}
    lock_file.write_text(json.dumps(held))
    try:
        done = rollback(stack.demo, "--yes", "--cutover-timestamp", TS)
        output = done.stdout + done.stderr
        assert done.returncode == pytest.ExitCode.TESTS_FAILED, output
        outcomes = _outcomes(_manifest(stack.demo))
        assert outcomes[STEPS[1]] == "failed"
        assert [outcomes[s] for s in STEPS[2:7]] == ["not run"] * 5
        message = next(s["message"] for s in _manifest(stack.demo)["steps"]  # type: ignore[union-attr]
                       if s["name"] == STEPS[1])
        assert f"is held by {holder} by ops (pid {os.getpid()} on" in message, message
        assert _running(stack.demo) == SERVICES
        assert json.loads(lock_file.read_text()) == held, "the holder's lock was left alone"
    finally:
        lock_file.unlink(missing_ok=True)
