"""Export the rows created since the cutover: one CSV per table, in one snapshot.

Every table is read inside one REPEATABLE READ, READ ONLY transaction, so the files agree
with each other and with the count(*) taken in the same snapshot. Rows stream from COPY
straight to the file in fixed-size blocks: memory stays flat whatever the table size.
The cutover timestamp reaches the server only as a bound parameter (set_config), never
as SQL text; table and column names go through psycopg.sql.Identifier.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import psycopg
from psycopg import sql

# Blocks this size go to the file and the hash; COPY hands out one row at a time.
WRITE_BLOCK_BYTES = 1 << 20
_SINCE_SETTING = "cutover.since"


@dataclass(frozen=True)
class TableExport:
    table: str
    rows: int
    bytes: int
    sha256: str
    file: str

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table, "rows": self.rows, "bytes": self.bytes,
                "sha256": self.sha256, "file": self.file}


class ExportError(Exception):
    """An export is incomplete or wrong; the message names the table, the evidence, the fix."""


def _predicate(column: str) -> sql.Composed:
    # The value lives in a transaction-local setting, bound as a parameter in
    # begin_snapshot. The sub-select makes it an InitPlan: cast once, not once per row.
    return sql.SQL("{} > (SELECT current_setting({})::timestamptz)").format(
        sql.Identifier(column), sql.Literal(_SINCE_SETTING)
    )


def count_query(table: str, column: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        sql.Identifier(table), _predicate(column)
    )


def select_query(table: str, column: str) -> sql.Composed:
    return sql.SQL("SELECT * FROM {} WHERE {}").format(sql.Identifier(table), _predicate(column))


def copy_statement(table: str, column: str) -> sql.Composed:
    return sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        select_query(table, column)
    )


def begin_snapshot(conn: psycopg.Connection[tuple[object, ...]], since: datetime) -> None:
    """Open the one REPEATABLE READ snapshot every count and export reads."""
    conn.autocommit = False
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", (_SINCE_SETTING, since.isoformat()))


class _HashingFile:
    """Writes blocks to a file and hashes them; counts the bytes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.bytes = 0

    def write(self, block: bytearray) -> None:
        if block:
            self.handle.write(block)
            self.digest.update(block)
            self.bytes += len(block)
            block.clear()


def export_table(
    conn: psycopg.Connection[tuple[object, ...]], table: str, column: str, path: Path
) -> TableExport:
    """Count, then COPY the table's post-cutover rows to `path`; both in the open snapshot."""
    with conn.cursor() as cursor:
        cursor.execute(count_query(table, column))
        found = cursor.fetchone()
        expected = found[0] if found is not None else None
        with path.open("wb") as handle, cursor.copy(copy_statement(table, column)) as copy:
            out = _HashingFile(handle)
            block = bytearray()
            read = copy.read  # one row per call; the plain loop beats the iterator
            while chunk := read():
                block += chunk
                if len(block) >= WRITE_BLOCK_BYTES:
                    out.write(block)
            out.write(block)
            handle.flush()
            os.fsync(handle.fileno())
        rows = cursor.rowcount  # from the server's "COPY n" tag: the rows actually sent
    if rows != expected:
        raise ExportError(
            f"table {table!r}: exported {rows} rows but count(*) in the same snapshot is "
            f"{expected}: {path} (the file is incomplete; rerun the rollback)"
        )
    return TableExport(table, rows, out.bytes, out.digest.hexdigest(), str(path))


def export_tables(
    conn: psycopg.Connection[tuple[object, ...]],
    tables: Sequence[str],
    column: str,
    since: datetime,
    directory: Path,
    after_each: Callable[[TableExport], None] | None = None,
) -> list[TableExport]:
    """Export every table in one snapshot; the transaction only reads, and ends rolled back."""
    directory.mkdir(parents=True, exist_ok=True)
    begin_snapshot(conn, since)
    exported: list[TableExport] = []
    try:
        for table in tables:
            exported.append(export_table(conn, table, column, directory / f"{table}.csv"))
            if after_each is not None:
                after_each(exported[-1])
        return exported
    finally:
        conn.rollback()  # read only: nothing to commit, and the snapshot is released
