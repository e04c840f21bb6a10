"""Which commands fit which database engine."""

from __future__ import annotations

from operations.config import Database
from operations.db.engines import backup_name, restore_argv


def test_the_restore_command_fits_the_engine_that_wrote_the_backup() -> None:
    database = Database(name="shop", user="ops", password_secret="pw")
    assert backup_name("postgresql", database) == "shop.dump"
    assert backup_name("mariadb", database) == "shop.sql"
    assert restore_argv("postgresql", database, over_tcp=False) == [
        "pg_restore", "--clean", "--if-exists", "-U", "ops", "-d", "shop"]
    assert restore_argv("mariadb", database, over_tcp=True) == [
        "mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "ops", "shop"]
    assert restore_argv("mysql", database, over_tcp=False) == ["mysql", "-u", "ops", "shop"]
    assert restore_argv("postgresql", database, over_tcp=True)[1:5] == [
        "-h", "127.0.0.1", "-p", "5432"]
