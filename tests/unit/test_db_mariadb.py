"""The MariaDB engine's SQL text and the engine's derivation, without a server."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone

import pytest

from operations.config import Database
from operations.db.engines import derive_engine, readiness_argv, resolve_engine, version_argv
from operations.db.mariadb import (
    count_query,
    header_line,
    quote_identifier,
    row_expression,
    select_query,
    utc_naive,
)
from operations.record.versions import DATABASE_PROBE, collect
from tests.support.demo import REPO


@pytest.mark.parametrize(("name", "quoted"), [
    ("plain", "`plain`"),
    ("with space", "`with space`"),
    ("back`tick", "`back``tick`"),
    ("`", "````"),
    ("a `b` c", "`a ``b`` c`"),
    ("Grüße", "`Grüße`"),
])
def test_identifiers_are_quoted_with_backticks_doubled(name, quoted):
    assert quote_identifier(name) == quoted


@pytest.mark.parametrize("name", ["", "nul\x00byte"])
def test_an_unusable_identifier_is_refused(name):
    with pytest.raises(ValueError, match="not a usable identifier"):
        quote_identifier(name)


def test_the_queries_quote_every_name_and_bind_the_timestamp():
    select = select_query("odd `t` name", "created `at`", [("a b", "text"), ("c`", "blob")])
    assert select.startswith("SELECT CAST(CONCAT_WS(',', ")
    assert "FROM `odd ``t`` name` WHERE `created ``at``` > %s" in select
    assert "CAST(`a b` AS CHAR)" in select and "HEX(`c```)" in select
    assert count_query("x`y", "z") == "SELECT count(*) FROM `x``y` WHERE `z` > %s"


def test_a_row_is_one_csv_line_null_unquoted_values_quoted():
    expression = row_expression([("v", "varchar")])
    assert expression == ("CAST(CONCAT_WS(',', IF(`v` IS NULL, '', CONCAT('\"', "
                          "REPLACE(CAST(`v` AS CHAR), '\"', '\"\"'), '\"'))) AS BINARY)")


def test_the_header_quotes_a_name_only_when_it_must():
    assert header_line(["id", "a b", 'q"', "c,d"]) == b'id,a b,"q""",\"c,d"\n'


def test_the_timestamp_parameter_is_utc_without_a_zone():
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    assert utc_naive(moment) == datetime(2026, 1, 2, 1, 4, 5, 6)
    assert utc_naive(moment.astimezone(UTC)).tzinfo is None


@pytest.mark.parametrize(("service", "engine"), [
    ({"image": "mariadb:11.4"}, "mariadb"),
    ({"image": "docker.io/library/mysql:8.4"}, "mysql"),
    ({"image": "postgres:16-alpine"}, "postgresql"),
    ({"image": "example/db", "command": ["mysqld", "--skip-name-resolve"]}, "mysql"),
    ({"image": "example/db", "entrypoint": "mariadbd"}, "mariadb"),
    ({"image": "redis:7"}, None),
])
def test_the_engine_is_derived_from_image_entrypoint_or_command(service, engine):
    assert derive_engine(service) == engine


def test_the_engine_is_derived_from_a_built_services_dockerfile():
    examples = REPO / "examples"
    assert derive_engine({"build": {"context": "mariadb"}},
                         examples / "freshtrack-mariadb") == "mariadb"
    assert derive_engine({"build": {"context": str(examples / "freshtrack" / "postgres")}}
                         ) == "postgresql"


def _database(engine: str | None) -> Database:
    return Database(engine=engine, name="d", user="u", password_secret="p")  # type: ignore[arg-type]


def test_the_file_wins_then_the_service_then_postgresql():
    def config() -> dict[str, object]:
        return {"services": {"db": {"image": "mariadb:11"}}}

    def broken() -> dict[str, object]:
        raise RuntimeError("no compose")

    assert resolve_engine(_database("mysql"), config, "db") == "mysql"
    assert resolve_engine(_database(None), config, "db") == "mariadb"
    assert resolve_engine(_database(None), config, "") == "postgresql"
    assert resolve_engine(_database(None), broken, "db") == "postgresql"
    assert resolve_engine(_database(None), lambda: {"services": {"db": {"image": "x"}}},
                          "db") == "postgresql"


def _done(value: str | None) -> Future[str]:
    future: Future[str] = Future()
    if value is None:
        future.set_exception(RuntimeError("exec failed"))
    else:
        future.set_result(value)
    return future


def test_the_database_version_is_filed_under_its_engine():
    assert collect({DATABASE_PROBE: _done("mariadb mariadbd  Ver 10.11.18-MariaDB")}) == {
        "mariadb": "mariadbd  Ver 10.11.18-MariaDB"}
    assert collect({DATABASE_PROBE: _done("postgresql postgres (PostgreSQL) 15.8")}) == {
        "postgresql": "postgres (PostgreSQL) 15.8"}
    assert collect({DATABASE_PROBE: _done(None)}) == {
        "postgresql": "(unavailable: exec failed)"}


def test_each_engine_has_its_readiness_and_version_command():
    assert readiness_argv("postgresql") == ["pg_isready"]
    assert readiness_argv("mariadb") == ["mariadb-admin", "--silent", "ping"]
    assert readiness_argv("mysql") == ["mysqladmin", "--silent", "ping"]
    assert version_argv("mariadb") == ["mariadbd", "--version"]
    assert version_argv("postgresql") == ["postgres", "--version"]


def test_pymysql_still_has_what_row_batches_reads_below_its_api():
    """operations/db/mariadb.py reads row packets from PyMySQL's own reader: if this fails,
    PyMySQL changed; fix row_batches (or drop it: the export falls back to fetchmany)."""
    import inspect

    import pymysql.connections
    import pymysql.protocol

    read_packet = inspect.getsource(pymysql.connections.Connection._read_packet)
    for name in ("self._rfile", "self._next_seq_id", "MAX_PACKET_LEN", "bytes_to_read"):
        assert name in read_packet or name in inspect.getsource(
            pymysql.connections.Connection._read_bytes), name
    assert hasattr(pymysql.connections.Connection, "_force_close")
    unbuffered = inspect.getsource(
        pymysql.connections.MySQLResult._read_rowdata_packet_unbuffered)
    for name in ("self.unbuffered_active = False", "self.connection = None",
                 "self.rows = None", "_check_packet_is_eof"):
        assert name in unbuffered, name
    eof = inspect.getsource(pymysql.protocol.MysqlPacket.is_eof_packet)
    assert "0xFE" in eof and "< 9" in eof
    assert hasattr(pymysql.protocol.MysqlPacket, "raise_for_error")


@pytest.mark.parametrize(("payload", "value"), [
    (b"\x03abc", b"abc"),
    (b"\x00", b""),
    (b"\xfc\x02\x01" + b"x" * 258, b"x" * 258),
    (b"\xfd\x00\x00\x01" + b"y" * 4, b"y" * 4),
    (b"\xfe" + (5).to_bytes(8, "little") + b"hello", b"hello"),
    (b"\xfb", b""),
])
def test_a_one_column_row_is_its_length_encoded_string(payload, value):
    from operations.db.mariadb import _value

    assert _value(payload) == value
