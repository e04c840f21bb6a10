"""PostgreSQL: connect with the configured credentials; the engine of the db protocol.

The export (operations/rollback/export.py), the backup (operations/rollback/backup.py) and
the catalog questions (operations/rollback/steps.py) were PostgreSQL's before there was a
protocol; `PostgreSQL` wraps them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from operations.config import Database
from operations.db.protocol import DatabaseError, ServerFacts

if TYPE_CHECKING:
    from operations.core.commands import CommandLog
    from operations.engine.compose import Compose
    from operations.rollback.backup import Backup
    from operations.rollback.export import TableExport
    from operations.rollback.steps import SpaceEstimate

__all__ = ["DatabaseError", "PostgreSQL", "connect", "describe", "last_line"]

CONNECT_TIMEOUT_S = 10
# A query stuck behind a lock fails with a message instead of hanging the rollback.
LOCK_TIMEOUT_MS = 30_000


DEFAULT_PORT = 5432


def describe(database: Database) -> str:
    port = database.port or DEFAULT_PORT
    return f"postgresql://{database.user}@{database.host}:{port}/{database.name}"


def connect(database: Database, password: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit=False connection, or DatabaseError naming the server and the fix."""
    try:
        return psycopg.connect(
            host=database.host,
            port=database.port or DEFAULT_PORT,
            dbname=database.name,
            user=database.user,
            password=password.strip(),
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="cutover-rollback",
            options=f"-c lock_timeout={LOCK_TIMEOUT_MS}",
        )
    except psycopg.Error as exc:
        # libpq's message names host and port but never the password.
        reason = last_line(exc)
        raise DatabaseError(
            f"database {describe(database)} is not reachable: {reason} "
            "(is the database container running and [rollback.database] right in the "
            "target file?)"
        ) from None


def last_line(error: BaseException) -> str:
    """The line of a (libpq) error message that says what went wrong: its last."""
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
READINESS_ARGV = ("pg_isready",)
VERSION_ARGV = ("postgres", "--version")
Connection = psycopg.Connection[tuple[object, ...]]


class PostgreSQL:
    """The db protocol (operations/db/protocol.py) on PostgreSQL."""

    engine = "postgresql"

    def __init__(self, database: Database, connect: Callable[[], Connection]) -> None:
        self.database, self.connect = database, connect

    def describe(self) -> str:
        return describe(self.database)

    def server(self) -> ServerFacts:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database(), version()")
            row = cursor.fetchone()
        assert row is not None
        return ServerFacts(str(row[0]), str(row[1]), str(row[2]))

    def table_columns(self, table: str) -> dict[str, str]:
        from operations.rollback.steps import table_columns

        return table_columns(self.connect(), table)

    def is_timestamp(self, column_type: str) -> bool:
        return column_type in TIMESTAMP_TYPES

    def estimate_space(self, tables: Sequence[str]) -> SpaceEstimate:
        from operations.rollback.steps import estimate_space

        return estimate_space(self.connect(), tables)

    def export(self, tables: Sequence[str], column: str, since: datetime, directory: Path,
               warn: Callable[[str], None] | None = None) -> list[TableExport]:
        from operations.rollback.export import export_tables

        return export_tables(self.connect, tables, column, since, directory, warn=warn)

    def backup(self, compose: Compose, service: str, path: Path,
               record: CommandLog | None = None) -> Backup:
        from operations.rollback.backup import dump_database

        return dump_database(compose, service, self.database, path, record=record)

    def verify_backup(self, compose: Compose, service: str, path: Path, size: int,
                      record: CommandLog | None = None) -> Backup:
        from operations.rollback.backup import verify_archive

        return verify_archive(compose, service, path, size, record=record)

    def readiness_argv(self) -> list[str]:
        return list(READINESS_ARGV)

    def version_argv(self) -> list[str]:
        return list(VERSION_ARGV)
