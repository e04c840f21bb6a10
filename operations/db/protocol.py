"""What a rollback asks of a target's database, whichever engine it runs.

operations/db/postgres.py and operations/db/mariadb.py implement it; operations/db/engines.py
picks one for a target. Each implementation opens its connections through the `connect`
callable it is given (the fixtures pass one that reads the password and fails the item with
the reason), so the same code serves the rollback steps, the checks and the benches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from operations.core.commands import CommandLog
    from operations.engine.compose import Compose
    from operations.rollback.backup import Backup
    from operations.rollback.export import TableExport
    from operations.rollback.steps import SpaceEstimate


class DatabaseError(Exception):
    """The database cannot be used; the message names it, the evidence and the fix."""


@dataclass(frozen=True)
class ServerFacts:
    user: str
    database: str
    version: str


class DatabaseEngine(Protocol):
    """One engine's way of doing each thing a rollback needs of the database."""

    # "postgresql", "mariadb" or "mysql": the `[rollback.database] engine` value.
    engine: str

    def describe(self) -> str:
        """The server and database, without the password: `mariadb://user@host:port/db`."""
        ...

    def server(self) -> ServerFacts:
        """Who we are connected as, to which database, and the server's version."""
        ...

    def table_columns(self, table: str) -> dict[str, str]:
        """Column name -> type; {} when the table does not exist."""
        ...

    def is_timestamp(self, column_type: str) -> bool:
        """Whether the export can filter on a column of this type."""
        ...

    def estimate_space(self, tables: Sequence[str]) -> SpaceEstimate:
        """Upper bounds of the export's and the backup's size, from the catalog."""
        ...

    def export(self, tables: Sequence[str], column: str, since: datetime, directory: Path,
               warn: Callable[[str], None] | None = None) -> list[TableExport]:
        """Rows with `column` > `since`, one CSV per table, all in one snapshot, each
        checked against count(*) in that snapshot; owner-only files."""
        ...

    def backup(self, compose: Compose, service: str, path: Path,
               record: CommandLog | None = None) -> Backup:
        """The whole database through its container into `path`, verified (verify_backup)."""
        ...

    def verify_backup(self, compose: Compose, service: str, path: Path, size: int,
                      record: CommandLog | None = None) -> Backup:
        """Prove the file at `path` restorable with the server's own tools."""
        ...

    def readiness_argv(self) -> list[str]:
        """A command run in the database's container that exits 0 once it takes queries."""
        ...

    def version_argv(self) -> list[str]:
        """A command run in the database's container that prints the server's version."""
        ...
