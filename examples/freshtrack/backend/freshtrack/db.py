"""PostgreSQL access: connections and the readings queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from freshtrack.config import Settings

# A stopped database must show up in /ready within seconds, not minutes.
CONNECT_TIMEOUT_SECONDS = 2

_READING_COLUMNS = "id, sensor_id, value, note, created_at"


def connect(settings: Settings, password: str, autocommit: bool = False) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=settings.database_host,
        port=settings.database_port,
        dbname=settings.database_name,
        user=settings.database_user,
        password=password,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name="freshtrack",
        options="-c TimeZone=UTC",  # created_at comes back as ...+00:00
        autocommit=autocommit,
    )


def _reading(row: tuple[int, str, float, str | None, datetime]) -> dict[str, Any]:
    id_, sensor_id, value, note, created_at = row
    return {
        "id": id_,
        "sensor_id": sensor_id,
        "value": value,
        "note": note,
        "created_at": created_at.isoformat(),
    }


def insert_reading(
    conn: psycopg.Connection[Any], sensor_id: str, value: float, note: str | None
) -> dict[str, Any]:
    row = conn.execute(
        "INSERT INTO sensor_readings (sensor_id, value, note) VALUES (%s, %s, %s)"
        f" RETURNING {_READING_COLUMNS}",
        (sensor_id, value, note),
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING always returns the row
    return _reading(row)


def list_readings(conn: psycopg.Connection[Any], limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"SELECT {_READING_COLUMNS} FROM sensor_readings"
        " ORDER BY created_at DESC, id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [_reading(row) for row in rows]
