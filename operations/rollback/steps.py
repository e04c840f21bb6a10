"""Plain rollback helpers: the cutover time, the room needed, stopping services.

The steps themselves are in operations/test_rollback.py; this module knows nothing of
pytest.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from operations.core.timestamps import ACCEPTED_FORM, TimestampError, parse_cutover_timestamp
from operations.deploy.history import LAST_DEPLOY_NAME
from operations.engine.compose import Compose, ComposeError

# CSV text of timestamps and numbers is longer than their binary form on disk.
CSV_GROWTH = 1.5
# Clocks of the host and the database may differ a little.
FUTURE_TOLERANCE = timedelta(minutes=5)
STOP_TIMEOUT_S = 30


class RollbackError(Exception):
    """A rollback precondition or step failed; the message names resource, evidence, fix."""


@dataclass(frozen=True)
class Cutover:
    at: datetime
    source: str  # "--cutover-timestamp", "$CUTOVER_TIMESTAMP" or the last-deploy file


def read_last_deploy(state_dir: Path) -> Cutover:
    """The `cutover_at` of the last deploy's record, read defensively."""
    path = state_dir / LAST_DEPLOY_NAME
    fix = ("pass --cutover-timestamp TS or set CUTOVER_TIMESTAMP "
           f"(TS in {ACCEPTED_FORM})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RollbackError(f"cutover timestamp unknown: no deploy record at {path}; {fix}"
                            ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RollbackError(f"cutover timestamp unknown: cannot read {path}: {exc}; {fix}"
                            ) from None
    value = record.get("cutover_at") if isinstance(record, dict) else None
    if not isinstance(value, str):
        raise RollbackError(f"cutover timestamp unknown: {path} has no 'cutover_at' "
                            f"string; {fix}")
    try:
        return Cutover(parse_cutover_timestamp(value), str(path))
    except TimestampError as exc:
        raise RollbackError(f"cutover timestamp in {path} is invalid: {exc}") from None


def resolve_cutover(given: str | None, given_source: str, state_dir: Path,
                    now: datetime | None = None) -> Cutover:
    """The option/env value if given (already validated), else the last deploy's."""
    cutover = (Cutover(parse_cutover_timestamp(given), given_source) if given is not None
               else read_last_deploy(state_dir))
    current = now or datetime.now(UTC)
    if cutover.at > current + FUTURE_TOLERANCE:
        raise RollbackError(
            f"cutover timestamp {cutover.at.isoformat()} (from {cutover.source}) is in the "
            f"future (now {current.isoformat(timespec='seconds')}): nothing would be "
            "exported; pass the time the cutover happened"
        )
    return cutover


@dataclass(frozen=True)
class SpaceEstimate:
    table_bytes: dict[str, int]
    database_bytes: int

    @property
    def needed(self) -> int:
        # Upper bounds: every row may be post-cutover; a custom-format dump is compressed.
        return int(sum(self.table_bytes.values()) * CSV_GROWTH) + self.database_bytes


def estimate_space(conn: psycopg.Connection[tuple[object, ...]],
                   tables: Sequence[str]) -> SpaceEstimate:
    """Sizes from the catalog; a missing table is a RollbackError naming it."""
    sizes: dict[str, int] = {}
    with conn.cursor() as cursor:
        for table in tables:
            cursor.execute("SELECT pg_table_size(to_regclass(quote_ident(%s)))", (table,))
            row = cursor.fetchone()
            if row is None or row[0] is None:
                raise RollbackError(f"table {table!r} not found in the database "
                                    "(fix [rollback] tables in the target file)")
            sizes[table] = int(str(row[0]))
        cursor.execute("SELECT pg_database_size(current_database())")
        row = cursor.fetchone()
    conn.rollback()
    return SpaceEstimate(sizes, int(str(row[0])) if row else 0)


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(nearest_existing(path)).free


def probe_writable(directory: Path) -> None:
    """Create the directory and write, sync and remove a file in it; OSError if not."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        with probe.open("wb") as handle:
            handle.write(b"cutover write probe\n")
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        probe.unlink(missing_ok=True)


def table_columns(conn: psycopg.Connection[tuple[object, ...]], table: str) -> dict[str, str]:
    """Column name -> type of a table visible on the search path."""
    query = sql.SQL(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum"
    )
    with conn.cursor() as cursor:
        cursor.execute(query, (table,))
        columns = {str(name): str(kind) for name, kind in cursor.fetchall()}
    conn.rollback()
    return columns


@dataclass(frozen=True)
class ServiceStop:
    service: str
    before: str  # running, exited, ... or "no container"
    action: str  # "stopped", "already stopped", "no container"

    def as_dict(self) -> dict[str, object]:
        return {"service": self.service, "before": self.before, "action": self.action}


def stop_services(compose: Compose, services: Sequence[str],
                  timeout_s: int = STOP_TIMEOUT_S) -> list[ServiceStop]:
    """Stop the running ones gracefully (SIGTERM, then SIGKILL after timeout_s)."""
    try:
        states = {state.service: state.state for state in compose.ps(*services)}
    except ComposeError as exc:
        raise RollbackError(f"cannot read the state of {', '.join(services)}: {exc}") from None
    running = [name for name in services if states.get(name) == "running"]
    if running:
        result = compose("stop", "--timeout", str(timeout_s), *running,
                         timeout=timeout_s * len(running) + 60)
        if not result.ok:
            raise RollbackError(f"stopping {', '.join(running)} failed: {result.describe()} "
                                "(check `docker compose ps` and the engine's logs)")
    after = {state.service: state.state for state in compose.ps(*services)}
    still = [name for name in running if after.get(name) == "running"]
    if still:
        raise RollbackError(f"still running after `docker compose stop`: {', '.join(still)} "
                            "(stop them by hand, then rerun the rollback)")
    return [ServiceStop(name, states.get(name, "no container"),
                        "stopped" if name in running
                        else ("no container" if name not in states else "already stopped"))
            for name in services]
