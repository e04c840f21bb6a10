"""`pytest -m rollback` against a private copy of examples/freshtrack-mariadb: a real MariaDB
(Debian's mariadb-server) in a container on a real Docker engine.

One copy serves the whole module; every test starts with all services running and leaves
the database as it found it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from operations.config import Database
from operations.db import mariadb
from operations.db.engines import readiness_argv
from operations.db.mariadb import quote_identifier
from tests.support.demo import REPO
from tests.support.mariadb_demo import MariaDBTarget, make_mariadb_target

SERVICES = {"app", "db"}
CUTOVER = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
TS = CUTOVER.isoformat()
# Values the CSV must carry through unchanged: separators, quotes, line breaks, `\N`,
# non-ASCII, binary-looking text (a NUL byte, control characters, hex), "" apart from NULL.
AWKWARD = [None, "", "plain", "comma, inside", 'say "hi"', "line one\nline two", "a\r\nb",
           "Grüße \u2013 温度 ✓", "trailing space ", "\\N", "\x00\x01\x02\x7f binary",
           "0xDEADBEEF \\x00ff"]
TABLES = {
    "sensor_readings": ("sensor_id", "value", "note"),
    "alerts": ("sensor_id", "severity", "message"),
    "user_profiles": ("email", "display_name"),
}
# A password SQL and the shell both need escaped for: the entrypoint must get it right.
PASSWORD = "it's a \\ pass" + uuid.uuid4().hex[:8]


@dataclass
class Stack:
    target: MariaDBTarget
    after_ids: dict[str, set[int]] = field(default_factory=dict)
    before_ids: dict[str, set[int]] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.target.root

    @property
    def project(self) -> str:
        return self.target.project

    @property
    def target_file(self) -> Path:
        return self.target.target_file

    @property
    def database(self) -> Database:
        return Database(engine="mariadb", port=self.target.port, name="freshtrack",
                        user="root", password_secret="db_password")

    def connect(self, dbname: str = "freshtrack") -> Any:
        return self.target.connect(dbname)

    def compose(self, *args: str, timeout: float = 600, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
        return self.target.compose(*args, timeout=timeout, check=check)


def _row_values(table: str, number: int, created: datetime) -> tuple[object, ...]:
    text = AWKWARD[number % len(AWKWARD)]
    naive = created.astimezone(UTC).replace(tzinfo=None)
    return {
        "sensor_readings": (f"sensor-{number}", number * 1.25, text, naive),
        "alerts": (text, "high" if number % 2 else None, text, naive),
        "user_profiles": (f"user{number}-{created.timestamp():.6f}@example.com", text, naive),
    }[table]


def _insert(conn: Any, table: str, number: int, created: datetime) -> int:
    columns = (*TABLES[table], "created_at")
    with conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                       f"({', '.join(['%s'] * len(columns))})",
                       _row_values(table, number, created))
        return int(cursor.lastrowid)


def _seed(stack: Stack) -> None:
    """Rows before, at and after the cutover in every table, every awkward value in each."""
    moments = {"before": [CUTOVER - timedelta(days=1), CUTOVER - timedelta(microseconds=1),
                          CUTOVER],
               "after": [CUTOVER + timedelta(microseconds=1), CUTOVER + timedelta(hours=1),
                         CUTOVER + timedelta(days=1)]}
    conn = stack.connect()
    try:
        for table in TABLES:
            for side, times in moments.items():
                ids = {_insert(conn, table, number, times[number % len(times)])
                       for number in range(len(AWKWARD) * 2)}
                (stack.after_ids if side == "after" else stack.before_ids)[table] = ids
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    target = make_mariadb_target(tmp_path_factory.mktemp("mariadb") / "stack", PASSWORD)
    try:
        target.compose("up", "-d", "--build", "--wait", timeout=900)
        built = Stack(target)
        _seed(built)
        yield built
    finally:
        target.down()


@pytest.fixture(autouse=True)
def all_running(stack: Stack) -> None:
    """Every test starts from a running stack (a rollback stops `app`)."""
    stack.compose("up", "-d", "--wait", timeout=300)
    assert _running(stack) == SERVICES


def _running(stack: Stack) -> set[str]:
    listed = stack.compose("ps", "--format", "json").stdout.strip()
    rows = (json.loads(listed) if listed.startswith("[")
            else [json.loads(line) for line in listed.splitlines() if line.strip()])
    return {row["Service"] for row in rows if row.get("State") == "running"}


def rollback(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CUTOVER_REPORTS_DIR": str(stack.root / "reports"), "COLUMNS": "200"}
    for name in ("CUTOVER_TARGET", "CUTOVER_TIMESTAMP", "PYTEST_ADDOPTS", "SLACK_WEBHOOK_URL"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", f"--target={stack.target_file}", "-m", "rollback",
         *args], cwd=REPO, env=env, timeout=600, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, start_new_session=True)


def parse_csv(data: str) -> list[list[str | None]]:
    """The export's CSV dialect, read strictly: an unquoted empty field is NULL (None),
    a quoted one the empty string."""
    rows: list[list[str | None]] = []
    row: list[str | None] = []
    at = 0
    while at < len(data):
        if data[at] == '"':
            end, value = at + 1, []
            while True:
                close = data.index('"', end)
                value.append(data[end:close])
                if data[close + 1:close + 2] == '"':
                    value.append('"')
                    end = close + 2
                    continue
                break
            row.append("".join(value))
            at = close + 1
        else:
            end = min((i for i in (data.find(",", at), data.find("\n", at)) if i >= 0),
                      default=len(data))
            row.append(data[at:end] or None)
            at = end
        if at >= len(data) or data[at] == "\n":
            rows.append(row)
            row = []
        at += 1
    return rows


def _table_text(stack: Stack, table: str, ids: set[int]) -> dict[int, list[str | None]]:
    """The server's own text of each column (what the file must hold), by id."""
    conn = stack.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {quote_identifier(table)} LIMIT 0")
            names = [d[0] for d in cursor.description]
            casts = ", ".join(f"CAST({quote_identifier(n)} AS CHAR)" for n in names)
            cursor.execute(f"SELECT {casts} FROM {quote_identifier(table)}")
            rows = {int(r[0]): list(r) for r in cursor.fetchall()}
    finally:
        conn.close()
    return {i: rows[i] for i in ids}


def _assert_export_exact(stack: Stack, export: Path) -> None:
    for table, columns in TABLES.items():
        rows = parse_csv((export / f"{table}.csv").read_bytes().decode("utf-8"))
        header, body = rows[0], rows[1:]
        assert header == ["id", *columns, "created_at"], table
        by_id = {int(str(r[0])): r for r in body}
        assert set(by_id) == stack.after_ids[table], table
        assert len(body) == len(by_id), table
        assert by_id == _table_text(stack, table, stack.after_ids[table]), table
        texts = {i: r[columns.index(columns[-1]) + 1] for i, r in by_id.items()}
        # The awkward values as inserted, NULL and "" apart: every one of them arrived.
        assert set(texts.values()) >= {v for v in AWKWARD}, (table, set(texts.values()))


def _counts(stack: Stack, dbname: str = "freshtrack") -> dict[str, int]:
    conn = stack.connect(dbname)
    try:
        with conn.cursor() as cursor:
            found = {}
            for table in TABLES:
                cursor.execute(f"SELECT count(*) FROM {quote_identifier(table)}")
                found[table] = int(cursor.fetchone()[0])
            return found
    finally:
        conn.close()


def _assert_backup_restores(stack: Stack, dump: Path) -> None:
    """Independently of the backup's own check: load it into a scratch database."""
    mysql = ["exec", "-T", "db", "mariadb", "--batch"]
    stack.compose(*mysql, "-e", "DROP DATABASE IF EXISTS scratch; CREATE DATABASE scratch")
    try:
        with dump.open("rb") as handle:
            loaded = subprocess.run(stack.target.compose_argv(*mysql, "scratch"), stdin=handle,
                                    capture_output=True, timeout=300, check=False)
        assert loaded.returncode == 0, loaded.stderr
        assert _counts(stack, "scratch") == _counts(stack)
        routines = stack.compose(*mysql, "--skip-column-names", "-e",
                                 "SELECT count(*) FROM information_schema.routines WHERE "
                                 "routine_schema = 'scratch'").stdout.strip()
        triggers = stack.compose(*mysql, "--skip-column-names", "-e",
                                 "SELECT count(*) FROM information_schema.triggers WHERE "
                                 "trigger_schema = 'scratch'").stdout.strip()
        assert (routines, triggers) == ("1", "1")
    finally:
        stack.compose(*mysql, "-e", "DROP DATABASE IF EXISTS scratch", check=False)


# ---- tests -----------------------------------------------------------------------------

def test_injection_in_the_timestamp_is_a_usage_error_and_nothing_is_touched(stack):
    done = rollback(stack, "--yes", "--cutover-timestamp", "2026-01-23' OR '1'='1")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "ISO 8601 with a zone" in done.stderr, done.stderr
    assert _running(stack) == SERVICES


def test_rollback_exports_exactly_the_rows_after_the_cutover_and_backs_up(stack):
    counts_before = _counts(stack)
    done = rollback(stack, "--yes", "--cutover-timestamp", TS)
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.OK, output
    header = next(line for line in done.stdout.splitlines() if "cutover: versions:" in line)
    assert "mariadb mariadbd" in header and "-MariaDB" in header, header
    run = (stack.root / "reports" / "latest").resolve()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["outcome"] == "succeeded"
    assert _running(stack) == {"db"}  # app stopped
    assert _counts(stack) == counts_before  # nothing deleted
    data = manifest["data"]
    tables = {t["table"]: t for t in data["tables"]}
    for table in TABLES:
        assert tables[table]["rows"] == len(stack.after_ids[table])
        path = Path(tables[table]["file"])
        assert path == run / "export" / f"{table}.csv"
        assert path.stat().st_mode & 0o777 == 0o600
        assert tables[table]["bytes"] == path.stat().st_size
    assert (run / "export").stat().st_mode & 0o777 == 0o700
    _assert_export_exact(stack, run / "export")

    backup = data["backup"]
    dump = Path(backup["file"])
    assert dump == run / "export" / "freshtrack.sql"
    assert backup["format"] == "sql" and dump.stat().st_size == backup["bytes"]
    assert dump.stat().st_mode & 0o777 == 0o600
    assert backup["table_rows"] == counts_before
    _assert_backup_restores(stack, dump)


def test_export_reads_all_tables_in_one_snapshot(stack, tmp_path, monkeypatch):
    """Rows committed once the export's snapshot is open (before its first read, and
    between two tables) are in no file and in no count."""
    late: dict[str, list[int]] = {}
    begin, copy = mariadb.begin_snapshot, mariadb.copy_table

    def insert_late_rows() -> None:
        other = stack.connect()  # another session, committed at once
        try:
            for table in TABLES:
                ids = late.setdefault(table, [])
                ids.append(_insert(other, table, 1000 + len(ids), CUTOVER + timedelta(days=2)))
        finally:
            other.close()

    def begin_then_write(conn: Any) -> None:
        begin(conn)
        insert_late_rows()

    def copy_then_write(*args: Any) -> Any:
        result = copy(*args)
        insert_late_rows()
        return result

    monkeypatch.setattr(mariadb, "begin_snapshot", begin_then_write)
    monkeypatch.setattr(mariadb, "copy_table", copy_then_write)
    engine = mariadb.MariaDB(stack.database, lambda: mariadb.connect(stack.database, PASSWORD))
    try:
        exported = engine.export(list(TABLES), "created_at", CUTOVER, tmp_path)
    finally:
        cleanup = stack.connect()
        with cleanup.cursor() as cursor:
            for table, ids in late.items():
                cursor.execute(f"DELETE FROM {table} WHERE id IN %s", (ids,))
        cleanup.close()
    assert {t: len(ids) for t, ids in late.items()} == dict.fromkeys(TABLES, 4)
    for result in exported:
        ids = {int(str(r[0])) for r in parse_csv(Path(result.file).read_text())[1:]}
        assert ids == stack.after_ids[result.table], result.table
        assert result.rows == len(stack.after_ids[result.table])


def test_names_with_backticks_and_spaces_are_quoted(stack, tmp_path):
    table, column, stamp = "odd `table` name", "a `b` c", "created `at`"
    conn = stack.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {quote_identifier(table)} (id INT PRIMARY KEY, "
                           f"{quote_identifier(column)} TEXT, {quote_identifier(stamp)} "
                           "DATETIME(6))")
            cursor.execute(f"INSERT INTO {quote_identifier(table)} VALUES (%s, %s, %s), "
                           "(%s, %s, %s)",
                           (1, "old", datetime(2000, 1, 1), 2, "new`,\"", datetime(2100, 1, 1)))
        exported = mariadb.export_tables(lambda: mariadb.connect(stack.database, PASSWORD),
                                         [table], stamp, CUTOVER, tmp_path)
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {quote_identifier(table)}")
        conn.close()
    rows = parse_csv(Path(exported[0].file).read_text())
    assert rows == [["id", column, stamp], ["2", "new`,\"", "2100-01-01 00:00:00.000000"]]


def test_a_failed_export_leaves_no_file(stack, tmp_path):
    engine = mariadb.MariaDB(stack.database, lambda: mariadb.connect(stack.database, PASSWORD))
    with pytest.raises(Exception, match="no_such_table"):
        engine.export([*TABLES, "no_such_table"], "created_at", CUTOVER, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_readiness_command_answers_only_where_a_server_runs(stack):
    """The database wait's fallback without a healthcheck: mariadb-admin ping."""
    argv = readiness_argv("mariadb")
    assert stack.compose("exec", "-T", "db", *argv, check=False).returncode == 0
    assert stack.compose("exec", "-T", "app", *argv, check=False).returncode != 0


def test_the_fast_row_reader_is_used_and_reads_what_the_driver_reads(stack):
    """row_batches (below PyMySQL's API) and fetchmany give the same lines, and the
    connection is usable after either."""
    import pymysql.cursors

    conn = mariadb.connect(stack.database, PASSWORD)
    try:
        mariadb.begin_snapshot(conn)
        columns = [(n, d) for n, d, _ in mariadb.table_columns(conn, "alerts")]
        query = mariadb.select_query("alerts", "created_at", columns)
        found = []
        for fast in (True, False):
            cursor = conn.cursor(pymysql.cursors.SSCursor)
            cursor.execute(query, (mariadb.utc_naive(CUTOVER),))
            assert mariadb.fast_rows_usable(cursor)
            batches = (mariadb.row_batches(cursor, size=5) if fast
                       else mariadb._driver_batches(cursor))
            found.append([line for batch in batches for line in batch])
            cursor.close()
            assert mariadb._fetch_one(conn, "SELECT 1") == (1,)
    finally:
        conn.close()
    assert found[0] == found[1] and len(found[0]) == len(stack.after_ids["alerts"])
