"""MariaDB and MySQL: the second engine of the db protocol (operations/db/protocol.py).

The driver is PyMySQL (pure Python: it installs wherever pip does; mysqlclient and the
mariadb connector need C client libraries and headers to build). It is imported only when
a connection is opened, so a PostgreSQL target never loads it.

The export reads every table inside one `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ
ONLY` under REPEATABLE READ, through an unbuffered cursor: rows stream from the socket to
the file and memory stays flat. The server writes each row as one line of the PostgreSQL
export's CSV dialect (NULL an empty unquoted field, every other value quoted, quotes
doubled, binary columns as `\\x` hex like PostgreSQL's bytea), so the client only moves
bytes. count(*) runs in the same transaction after each table: InnoDB has no way to share
a snapshot with a second connection. The cutover reaches the server only as a parameter of
the driver; identifiers go through quote_identifier, the one quoting function.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from operations.config import Database
from operations.core.commands import CommandLog
from operations.core.files import private_binary, private_dir
from operations.db.protocol import DatabaseError, ServerFacts

if TYPE_CHECKING:
    from operations.engine.compose import Compose
    from operations.rollback.backup import Backup
    from operations.rollback.export import TableExport
    from operations.rollback.steps import SpaceEstimate

log = logging.getLogger("cutover.mariadb")
CONNECT_TIMEOUT_S = 10
# A stalled server fails the read instead of hanging the rollback.
READ_TIMEOUT_S = 600
# Rows handed over per fetchmany: one list of this many short byte strings at a time.
FETCH_ROWS = 2_000
DUMP_TIMEOUT_S = 3600.0
LOAD_TIMEOUT_S = 3600.0
QUERY_TIMEOUT_S = 300.0
_BINARY_TYPES = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob",
                           "longblob", "bit"})
TIMESTAMP_TYPES = frozenset({"datetime", "timestamp", "date"})


class Cursor(Protocol):
    def execute(self, query: str, args: object = None) -> int: ...
    def fetchone(self) -> tuple[Any, ...] | None: ...
    def fetchmany(self, size: int = ...) -> Sequence[tuple[Any, ...]]: ...
    def fetchall(self) -> Sequence[tuple[Any, ...]]: ...
    def close(self) -> None: ...


class Connection(Protocol):
    """The part of a PyMySQL connection used here."""

    def cursor(self, cursor: Any = None) -> Cursor: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Tools:
    """The server's own command-line tools, by engine."""

    client: str
    dump: str
    admin: str
    server: str


TOOLS = {"mariadb": Tools("mariadb", "mariadb-dump", "mariadb-admin", "mariadbd"),
         "mysql": Tools("mysql", "mysqldump", "mysqladmin", "mysqld")}


def readiness_argv(engine: str = "mariadb") -> list[str]:
    # `ping` exits 0 once the server answers, even if it refuses the (absent) credentials.
    return [TOOLS[engine].admin, "--silent", "ping"]


def version_argv(engine: str = "mariadb") -> list[str]:
    return [TOOLS[engine].server, "--version"]


def quote_identifier(name: str) -> str:
    """A table, column or database name as a MariaDB/MySQL identifier: `a``b c`."""
    if not name or "\x00" in name:
        raise ValueError(f"{name!r} is not a usable identifier (empty or holds NUL)")
    return "`" + name.replace("`", "``") + "`"


DEFAULT_PORT = 3306


def describe(database: Database, engine: str = "mariadb") -> str:
    port = database.port or DEFAULT_PORT
    return f"{engine}://{database.user}@{database.host}:{port}/{database.name}"


def connect(database: Database, password: str, engine: str = "mariadb") -> Connection:
    """A connection in UTC, utf8mb4, autocommit off; or DatabaseError naming the server."""
    import pymysql  # only a MariaDB/MySQL target needs the driver

    try:
        conn: Connection = pymysql.connect(
            host=database.host, port=database.port or DEFAULT_PORT, user=database.user,
            password=password.strip(), database=database.name, charset="utf8mb4",
            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
            write_timeout=READ_TIMEOUT_S, autocommit=False,
            # DATETIME columns are read as UTC, like the timestamps the export is given.
            init_command="SET time_zone = '+00:00'",
            program_name="cutover-rollback")
    except pymysql.MySQLError as exc:  # its message names host and port, never the password
        raise DatabaseError(
            f"database {describe(database, engine)} is not reachable: {last_line(exc)} (is "
            "the database container running and [rollback.database] right in the target "
            "file?)") from None
    return conn


def last_line(error: BaseException) -> str:
    args: tuple[object, ...] = tuple(getattr(error, "args", ()))
    if len(args) == 2:  # PyMySQL: (code, message)
        return f"({args[0]}) {args[1]}"
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def utc_naive(moment: datetime) -> datetime:
    """The parameter a DATETIME/TIMESTAMP column is compared with on a UTC session."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def columns_query() -> str:
    return ("SELECT column_name, data_type, column_type FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s ORDER BY ordinal_position")


def row_expression(columns: Sequence[tuple[str, str]]) -> str:
    """One CSV line per row, built by the server: (name, data_type) in table order."""
    fields = []
    for name, data_type in columns:
        column = quote_identifier(name)
        text = (f"CONCAT('\\\\x', LOWER(HEX({column})))" if data_type in _BINARY_TYPES
                else f"CAST({column} AS CHAR)")
        fields.append(f"IF({column} IS NULL, '', "
                      f"CONCAT('\"', REPLACE({text}, '\"', '\"\"'), '\"'))")
    # BINARY: the line arrives as the utf8mb4 bytes the file needs; the driver decodes none.
    return f"CAST(CONCAT_WS(',', {', '.join(fields)}) AS BINARY)"


def select_query(table: str, column: str, columns: Sequence[tuple[str, str]]) -> str:
    return (f"SELECT {row_expression(columns)} FROM {quote_identifier(table)} "
            f"WHERE {quote_identifier(column)} > %s")


def count_query(table: str, column: str) -> str:
    return f"SELECT count(*) FROM {quote_identifier(table)} WHERE {quote_identifier(column)} > %s"


def header_line(names: Sequence[str]) -> bytes:
    """The header as PostgreSQL's COPY writes it: a name is quoted only when it must be."""
    def one(name: str) -> str:
        needs = any(c in name for c in ',"\r\n') or name != name.strip() or not name
        return '"' + name.replace('"', '""') + '"' if needs else name
    return (",".join(one(n) for n in names) + "\n").encode("utf-8")


def begin_snapshot(conn: Connection) -> None:
    """REPEATABLE READ, READ ONLY, its snapshot taken now (not at the first read)."""
    cursor = conn.cursor()
    try:
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    finally:
        cursor.close()


def table_columns(conn: Connection, table: str) -> list[tuple[str, str, str]]:
    cursor = conn.cursor()
    try:
        cursor.execute(columns_query(), (table,))
        return [(str(n), str(d).lower(), str(t)) for n, d, t in cursor.fetchall()]
    finally:
        cursor.close()


def _fetch_one(conn: Connection, query: str, args: object = None) -> tuple[Any, ...]:
    cursor = conn.cursor()
    try:
        cursor.execute(query, args)
        row = cursor.fetchone()
    finally:
        cursor.close()
    assert row is not None
    return row


def copy_table(conn: Connection, table: str, column: str, since: datetime,
               path: Path) -> TableExport:
    """Stream the table's rows after `since` into `path` in the open snapshot; fsync'd,
    hashed; `rows` is the lines written."""
    import pymysql.cursors

    from operations.rollback.export import ExportError, TableExport

    columns = [(name, data_type) for name, data_type, _ in table_columns(conn, table)]
    if not columns:
        raise ExportError(f"table {table!r} not found (fix [rollback] tables in the target "
                          "file)")
    digest, size, rows = hashlib.sha256(), 0, 0
    with private_binary(path) as handle:
        head = header_line([name for name, _ in columns])
        handle.write(head)
        digest.update(head)
        size += len(head)
        cursor = conn.cursor(pymysql.cursors.SSCursor)  # unbuffered: one row at a time
        try:
            cursor.execute(select_query(table, column, columns), (utc_naive(since),))
            batches = (row_batches(cursor) if fast_rows_usable(cursor)
                       else _driver_batches(cursor))
            for batch in batches:
                block = b"\n".join(batch) + b"\n"
                handle.write(block)
                digest.update(block)
                size += len(block)
                rows += len(batch)
        finally:
            cursor.close()
        handle.flush()
        os.fsync(handle.fileno())
    return TableExport(table, rows, size, digest.hexdigest(), str(path))


def _driver_batches(cursor: Cursor) -> Iterator[list[bytes]]:
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield [line for (line,) in batch]


# ---- PyMySQL below its public API: the one place -----------------------------------------
# PyMySQL parses each row packet in about ten Python calls (_read_packet, MysqlPacket,
# read_length_coded_string, ...): 1.4 s of CPU per million rows, the export 1.67x the time
# of `mariadb --batch --raw` (bench/export --engine mariadb). Every row here is one
# length-prefixed string (the CSV line the server built), so row_batches reads the packets
# from the driver's own buffered socket reader in a few operations each. It uses
# Connection._rfile, ._next_seq_id, ._force_close, ._result and MySQLResult's
# unbuffered_active / connection / rows (the state SSCursor's own end-of-rows handling
# leaves); tests/unit/test_db_mariadb.py fails loudly when PyMySQL changes them.
_MAX_PACKET = 0xFFFFFF
_EOF, _ERROR, _NULL = 0xFE, 0xFF, 0xFB


def fast_rows_usable(cursor: Any) -> bool:
    """Whether the unbuffered result of `cursor` can be read by row_batches."""
    conn = getattr(cursor, "connection", None)
    result = getattr(conn, "_result", None)
    return (all(hasattr(conn, name) for name in ("_rfile", "_next_seq_id", "_force_close"))
            and getattr(result, "unbuffered_active", False) is True
            and getattr(result, "field_count", 0) == 1)


def _read_exactly(conn: Any, count: int) -> bytes:
    data: bytes = conn._rfile.read(count)
    if len(data) != count:
        import pymysql

        conn._force_close()
        raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
    return data


def _packet(conn: Any, seq: int) -> tuple[bytes, int]:
    """One logical packet (joined if the server split it at 16 MB) and the next seq id."""
    parts = []
    while True:
        header = _read_exactly(conn, 4)
        length = header[0] | header[1] << 8 | header[2] << 16
        if header[3] != seq:
            import pymysql

            conn._force_close()
            raise pymysql.err.InternalError(
                f"Packet sequence number wrong - got {header[3]} expected {seq}")
        seq = (seq + 1) & 0xFF
        parts.append(_read_exactly(conn, length))
        if length < _MAX_PACKET:
            return (parts[0] if len(parts) == 1 else b"".join(parts)), seq


def _value(payload: bytes) -> bytes:
    """The length-encoded string that is a one-column row."""
    first = payload[0]
    if first < _NULL:
        return payload[1:]
    if first == _NULL:  # NULL: CONCAT_WS never yields it, but an empty line is the truth
        return b""
    return payload[{0xFC: 3, 0xFD: 4, 0xFE: 9}[first]:]


def row_batches(cursor: Any, size: int = FETCH_ROWS) -> Iterator[list[bytes]]:
    """The one-column rows of an unbuffered result, `size` at a time, read from the wire;
    at the end the driver's state is what its own end-of-rows handling leaves."""
    conn = cursor.connection
    result = conn._result
    seq = conn._next_seq_id
    batch: list[bytes] = []
    while True:
        payload, seq = _packet(conn, seq)
        first = payload[0] if payload else _ERROR
        if first == _EOF and len(payload) < 9:
            conn._next_seq_id = seq
            result.unbuffered_active, result.connection, result.rows = False, None, None
            break
        if first == _ERROR:
            import pymysql.protocol

            conn._next_seq_id = seq
            result.unbuffered_active = False
            pymysql.protocol.MysqlPacket(payload, conn.encoding).raise_for_error()
        batch.append(_value(payload))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def export_tables(connect: Callable[[], Connection], tables: Sequence[str], column: str,
                  since: datetime, directory: Path) -> list[TableExport]:
    """Every table in one snapshot, each file checked against count(*) in it. If anything
    fails, the files written so far are removed: the directory holds a checked export or
    none. The connection only reads, ends rolled back and is closed here."""
    from operations.rollback.export import remove_files, verify_count

    private_dir(directory)  # personal data: the owner's only (0700, files 0600)
    conn = connect()
    written: list[Path] = []
    exported = []
    try:
        begin_snapshot(conn)
        for table in tables:
            written.append(directory / f"{table}.csv")
            result = copy_table(conn, table, column, since, written[-1])
            expected = int(_fetch_one(conn, count_query(table, column),
                                      (utc_naive(since),))[0])
            verify_count(result, expected)
            exported.append(result)
        return exported
    except BaseException:
        remove_files(written)
        raise
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


class MariaDB:
    """The db protocol on MariaDB (engine "mariadb") or MySQL (engine "mysql")."""

    def __init__(self, database: Database, connect: Callable[[], Connection],
                 engine: str = "mariadb") -> None:
        self.database, self.connect, self.engine = database, connect, engine
        self.tools = TOOLS[engine]

    def describe(self) -> str:
        return describe(self.database, self.engine)

    def server(self) -> ServerFacts:
        conn = self.connect()
        try:
            row = _fetch_one(conn, "SELECT CURRENT_USER(), DATABASE(), VERSION()")
            conn.rollback()
        finally:
            conn.close()
        return ServerFacts(str(row[0]), str(row[1]), str(row[2]))

    def table_columns(self, table: str) -> dict[str, str]:
        conn = self.connect()
        try:
            found = {name: data_type for name, data_type, _ in table_columns(conn, table)}
            conn.rollback()
        finally:
            conn.close()
        return found

    def is_timestamp(self, column_type: str) -> bool:
        return column_type in TIMESTAMP_TYPES

    def estimate_space(self, tables: Sequence[str]) -> SpaceEstimate:
        from operations.rollback.steps import RollbackError, SpaceEstimate

        query = ("SELECT data_length + index_length FROM information_schema.tables "
                 "WHERE table_schema = DATABASE() AND table_name = %s")
        sizes: dict[str, int] = {}
        conn = self.connect()
        try:
            cursor = conn.cursor()
            try:
                for table in tables:
                    cursor.execute(query, (table,))
                    row = cursor.fetchone()
                    if row is None or row[0] is None:
                        raise RollbackError(f"table {table!r} not found in the database "
                                            "(fix [rollback] tables in the target file)")
                    sizes[table] = int(row[0])
                cursor.execute("SELECT COALESCE(SUM(data_length + index_length), 0) FROM "
                               "information_schema.tables WHERE table_schema = DATABASE()")
                total = cursor.fetchone()
            finally:
                cursor.close()
            conn.rollback()
        finally:
            conn.close()
        # A SQL dump is text: up to about twice the pages it came from.
        return SpaceEstimate(sizes, 2 * int(total[0]) if total else 0)

    def export(self, tables: Sequence[str], column: str, since: datetime, directory: Path,
               warn: Callable[[str], None] | None = None) -> list[TableExport]:
        import pymysql

        from operations.rollback.export import ExportError

        try:
            return export_tables(self.connect, tables, column, since, directory)
        except pymysql.MySQLError as exc:
            raise ExportError(f"database error: {last_line(exc)} (the database is unchanged; "
                              "fix and rerun)") from None

    def backup(self, compose: Compose, service: str, path: Path,
               record: CommandLog | None = None) -> Backup:
        """`<dump> --single-transaction --routines --triggers` through the container."""
        from operations.rollback.backup import BackupError, _stream

        private_dir(path.parent)  # a whole database: the owner's only (0700, the dump 0600)
        # The container's local socket and its root account: the server's own tools.
        dump = [*compose.base_argv, "exec", "-T", service, self.tools.dump,
                "--single-transaction", "--routines", "--triggers", "--hex-blob",
                "--default-character-set=utf8mb4", self.database.name]
        result = _stream(dump, stdin=None, stdout=path, timeout=DUMP_TIMEOUT_S,
                         record=record)
        if not result.ok:
            raise BackupError(f"{self.tools.dump} of {self.database.name!r} in service "
                              f"{service!r} failed: {result.describe()} (is the service "
                              "running? check its logs)")
        return self.verify_backup(compose, service, path, path.stat().st_size, record)

    def verify_backup(self, compose: Compose, service: str, path: Path, size: int,
                      record: CommandLog | None = None) -> Backup:
        """Load the dump into a scratch database beside the real one and compare the row
        count of every table; the scratch database is dropped again either way."""
        from operations.rollback.backup import Backup, BackupError, _stream, sha256_file

        sql = ContainerSQL(compose, service, self.tools.client, record)
        scratch = f"cutover_verify_{secrets.token_hex(4)}"
        fix = "(rerun the rollback to take a new backup)"
        try:
            sql.run(f"CREATE DATABASE {quote_identifier(scratch)}")
            load = _stream([*sql.argv(scratch)], stdin=path, stdout=None,
                           timeout=LOAD_TIMEOUT_S, record=record)
            if not load.ok:
                raise BackupError(f"backup {path} ({size} bytes) does not load into a "
                                  f"scratch database: {load.describe()} {fix}")
            expected = sql.counts(self.database.name)
            restored = sql.counts(scratch)
        except ContainerSQLError as exc:
            raise BackupError(f"backup {path} could not be verified: {exc} {fix}") from None
        finally:
            with _quietly():
                sql.run(f"DROP DATABASE IF EXISTS {quote_identifier(scratch)}")
        if restored != expected:
            differ = sorted(t for t in expected.keys() | restored.keys()
                            if expected.get(t) != restored.get(t))
            raise BackupError(
                f"backup {path}: row counts differ from the database's in "
                f"{', '.join(differ)}: database {expected}, restored {restored} (did "
                f"something write during the backup? stop it) {fix}")
        return Backup(str(path), size, sha256_file(path), "sql", len(expected), restored)

    def readiness_argv(self) -> list[str]:
        return readiness_argv(self.engine)

    def version_argv(self) -> list[str]:
        return version_argv(self.engine)


class ContainerSQLError(Exception):
    """A statement run with the client in the database's container failed."""


class ContainerSQL:
    """Statements through the database container's own client, as its local root."""

    def __init__(self, compose: Compose, service: str, client: str,
                 record: CommandLog | None) -> None:
        self.compose, self.service, self.client, self.record = compose, service, client, record

    def argv(self, database: str = "") -> list[str]:
        found = [*self.compose.base_argv, "exec", "-T", self.service, self.client,
                 "--batch", "--skip-column-names", "--default-character-set=utf8mb4"]
        return [*found, database] if database else found

    def run(self, statement: str, database: str = "") -> list[list[str]]:
        from operations.core.commands import run

        result = run([*self.argv(database), "-e", statement], cwd=self.compose.stack.dir,
                     timeout=QUERY_TIMEOUT_S, record=self.record)
        if not result.ok:
            raise ContainerSQLError(f"{self.client} -e {statement[:80]!r}: "
                                    f"{result.describe()}")
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def counts(self, database: str) -> dict[str, int]:
        """count(*) of every base table of `database`."""
        tables = [row[0] for row in self.run("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'",
                                             database)]
        if not tables:
            return {}
        selects = ", ".join(f"(SELECT count(*) FROM {quote_identifier(t)})" for t in tables)
        values = self.run(f"SELECT {selects}", database)[0]
        return dict(zip(tables, (int(v) for v in values), strict=True))


@contextmanager
def _quietly() -> Iterator[None]:
    try:
        yield
    except ContainerSQLError as exc:  # cleanup: the real error (if any) is already raised
        log.warning("cleanup failed: %s", exc)
