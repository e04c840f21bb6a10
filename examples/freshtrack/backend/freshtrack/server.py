"""The HTTP API: /health, /ready and the readings API.

One thread per connection (ThreadingHTTPServer). Every request opens its own database
connection, so a restarted database needs no reconnect logic here.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import redis

from freshtrack import db, tokens
from freshtrack.config import Settings

MAX_BODY_BYTES = 64 * 1024
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Upper bound for one /ready probe. The clients' own timeouts (2 s connect for
# PostgreSQL, 1 s for Redis) do not cover name resolution, which is what fails when a
# dependency's container is stopped; past this bound the probe counts as failed.
PROBE_DEADLINE_SECONDS = 3.0

Response = tuple[int, Any]
# Probed every few seconds by Docker and by deploy tools: logged when their answer changes,
# so a failing service's last log lines are its errors, not a wall of identical probes.
PROBE_PATHS = frozenset({"/health", "/ready"})
# A -degrading release answers every DEGRADED_EVERY-th API request with 500 once it has
# served DEGRADE_AFTER of them: healthy on its own, failing under traffic.
DEGRADE_AFTER = 20
DEGRADED_EVERY = 4


class ProbeLog:
    """Per probe path: the last status logged and how many identical answers followed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, tuple[int, int]] = {}

    def line(self, path: str, status: int, text: str) -> str | None:
        """The line to print for this answer, or None while it repeats the last one."""
        with self._lock:
            last, repeats = self._last.get(path, (None, 0))
            if last == status:
                self._last[path] = (status, repeats + 1)
                return None
            self._last[path] = (status, 0)
        return text + (f" ({repeats} more {last} answers not logged)" if repeats else "")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _within_deadline(probe: Callable[[], object], seconds: float) -> bool:
    """Whether probe() returned without raising within `seconds`."""
    outcome: list[bool] = []

    def target() -> None:
        try:
            probe()
            outcome.append(True)
        except Exception:  # any failure means "not connected"
            outcome.append(False)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome == [True]


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as error:
        raise ApiError(400, f"invalid JSON: {error}") from error


class App:
    """What the handlers need: settings, secrets and the Redis client."""

    def __init__(self, settings: Settings, db_password: str, jwt_key: str) -> None:
        self.settings = settings
        self.db_password = db_password
        self.jwt_key = jwt_key
        self.redis = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1, socket_connect_timeout=1
        )
        self._api_requests = itertools.count(1)

    def api_fault(self) -> bool:
        """Whether this API request is one a -degrading release fails."""
        if not self.settings.degrades_under_traffic:
            return False
        served = next(self._api_requests)
        return served > DEGRADE_AFTER and served % DEGRADED_EVERY == 0

    def health(self) -> Response:
        if self.settings.health_is_broken:
            return 503, {"status": "unhealthy", "version": self.settings.app_version}
        return 200, {"status": "healthy", "version": self.settings.app_version}

    def _database_answers(self) -> None:
        with db.connect(self.settings, self.db_password) as conn:
            conn.execute("SELECT 1")

    def ready(self) -> Response:
        database = _within_deadline(self._database_answers, PROBE_DEADLINE_SECONDS)
        cache = _within_deadline(self.redis.ping, PROBE_DEADLINE_SECONDS)
        body = {
            "database": "connected" if database else "not connected",
            "redis": "connected" if cache else "not connected",
        }
        return (200 if database and cache else 503), body

    def authenticate(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing bearer token")
        try:
            return tokens.verify(token.strip(), self.jwt_key)
        except tokens.TokenError as error:
            raise ApiError(401, str(error)) from error

    def create_reading(self, body: Any) -> Response:
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        sensor_id, value, note = body.get("sensor_id"), body.get("value"), body.get("note")
        if not isinstance(sensor_id, str) or not sensor_id.strip():
            raise ApiError(400, "sensor_id must be a non-empty string")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, "value must be a number")
        if not math.isfinite(value):
            raise ApiError(400, "value must be finite")
        if note is not None and not isinstance(note, str):
            raise ApiError(400, "note must be a string or null")
        with db.connect(self.settings, self.db_password) as conn:
            return 201, db.insert_reading(conn, sensor_id, float(value), note)

    def list_readings(self, query: str) -> Response:
        raw = parse_qs(query).get("limit", [str(DEFAULT_LIMIT)])[-1]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        with db.connect(self.settings, self.db_password) as conn:
            return 200, db.list_readings(conn, int(raw))


class Handler(BaseHTTPRequestHandler):
    app: App  # set on the subclass that make_server builds
    probe_log: ProbeLog  # likewise
    protocol_version = "HTTP/1.1"
    server_version = "freshtrack"
    sys_version = ""  # the Server header does not advertise the Python version
    timeout = 30  # an idle or slow client does not hold its thread forever

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log: _dispatch logs one line without headers."""

    def _read_body(self) -> bytes:
        """The whole request body. Read before anything can fail, so a kept-alive
        connection (Caddy reuses them) never starts the next request mid-body."""
        length = self.headers.get("Content-Length", "0")
        if "Transfer-Encoding" in self.headers or not length.isdigit():
            self.close_connection = True  # cannot tell where this body ends
            raise ApiError(411, "send the body with a Content-Length")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the unread rest of the body is discarded
            raise ApiError(413, f"body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(int(length))

    def _route(self, method: str, path: str, query: str, body: bytes) -> Response:
        app = self.app
        routes: dict[str, dict[str, Callable[[], Response]]] = {
            "/health": {"GET": app.health},
            "/ready": {"GET": app.ready},
            "/api/readings": {
                "GET": lambda: app.list_readings(query),
                "POST": lambda: app.create_reading(_parse_json(body)),
            },
        }
        if path not in routes:
            raise ApiError(404, f"no route {path}")
        if method not in routes[path]:
            raise ApiError(405, f"{method} not allowed on {path}")
        if path.startswith("/api/"):
            app.authenticate(self.headers.get("Authorization"))
            if app.api_fault():
                raise ApiError(500, "injected fault (a -degrading release)")
        return routes[path][method]()

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        url = urlsplit(self.path)
        try:
            status, answer = self._route(method, url.path, url.query, self._read_body())
        except ApiError as error:
            status, answer = error.status, {"error": error.message}
        except psycopg.errors.UndefinedTable:
            status, answer = 500, {"error": "database not migrated (run: freshtrack migrate)"}
        except psycopg.OperationalError:
            status, answer = 503, {"error": "database unavailable"}
        except Exception as error:  # the client gets a 500, the log gets the traceback
            traceback.print_exc(file=sys.stderr)
            detail = f": {error}" if self.app.settings.environment == "development" else ""
            status, answer = 500, {"error": f"internal error{detail}"}
        payload = json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        elapsed_ms = (time.monotonic() - started) * 1000
        # Method, path and status only: headers carry tokens, queries carry nothing needed.
        line: str | None = f"{method} {url.path} {status} {elapsed_ms:.1f}ms"
        if url.path in PROBE_PATHS:
            line = self.probe_log.line(url.path, status, line)
        if line is not None:
            print(line, flush=True)


def make_server(app: App, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("AppHandler", (Handler,), {"app": app, "probe_log": ProbeLog()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
