"""The target description (`cutover.toml`), validated into frozen, typed objects.

Paths in the file are relative to the file's own directory; `load_target` resolves them so
the rest of the code only ever sees absolute paths.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

import msgspec

# The env file compose reads by itself when none is given.
DEFAULT_ENV_FILE = ".env"
# Where secret files usually live; without [stack] secrets_dir its files are still
# registered with the redactor when it exists, but no check asks for it.
DEFAULT_SECRETS_DIR = "secrets"


class ConfigError(Exception):
    """The target file cannot be used; the message names the file, the key and the fix."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class TargetInfo(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    description: str = ""


class Stack(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    project_dir: str
    project_name: str
    compose_files: tuple[str, ...]
    # "" = no env file of its own: compose's default `.env` is used when it exists.
    env_file: str = ""
    required_env: tuple[str, ...] = ()
    # "" = no secrets dir: the secret files are those the compose files name (`secrets:`).
    secrets_dir: str = ""
    # Names of files in secrets_dir; None = derived from compose's file-based `secrets:`.
    required_secrets: tuple[str, ...] | None = None
    # Sensitive env variables: their values are redacted like secrets.
    sensitive_env: tuple[str, ...] = ()
    state_dir: str = ".cutover"

    @property
    def dir(self) -> Path:
        return Path(self.project_dir)

    @property
    def compose_paths(self) -> tuple[Path, ...]:
        return tuple(self.dir / name for name in self.compose_files)

    @property
    def env_path(self) -> Path:
        return self.dir / (self.env_file or DEFAULT_ENV_FILE)

    @property
    def secrets_path(self) -> Path:
        return self.dir / (self.secrets_dir or DEFAULT_SECRETS_DIR)

    @property
    def state_path(self) -> Path:
        return self.dir / self.state_dir


class Waiver(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A failing preflight check accepted until `expires` (it is reported, not blocking)."""

    # The check's item name (`test_port[port 8080]`) or its node id.
    check: str
    reason: str
    ticket: str
    expires: date


class Preflight(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    min_free_disk_gb: float = 5.0
    # Host ports to check; None = the ports the compose files publish.
    ports: tuple[int, ...] | None = None
    waivers: tuple[Waiver, ...] = ()


# A JSON field's expected value, typed as in TOML: `ok = true`, `count = 3`, `status = "up"`.
JsonValue = str | int | float | bool


class Probe(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One HTTP check of the running stack (operations/core/probes.py runs it)."""

    name: str
    url: str
    # 0 = any 2xx.
    expect_status: int = 0
    # A text the body must contain ("" = any body).
    expect_text: str = ""
    # JSON fields (dotted paths reach nested ones) and their values.
    expect_json: dict[str, JsonValue] = msgspec.field(default_factory=dict)


class Proxy(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The stack's reverse proxy, which the zero-downtime switch points at new containers."""

    # The compose service of the proxy (e.g. "caddy").
    service: str
    # Run in the proxy's container with CUTOVER_UPSTREAMS_<SERVICE> set to the upstream
    # list ("<container>:<port> ..."); it must reload gracefully (in-flight requests finish).
    reload_command: tuple[str, ...]
    # Service -> the container port the proxy sends it traffic on.
    upstreams: dict[str, int] = msgspec.field(default_factory=dict)
    # A JSON access log (one object per line, a "status" field) on the proxy's stdout:
    # the watch window counts its 5xx answers. "" = no log to read.
    access_log: str = ""


class Deploy(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # None = the services with a `build:` section in the compose files.
    build_services: tuple[str, ...] | None = None
    # The build stage every built service must name ("" = not checked).
    build_target: str = ""
    # "" = no database: the migration runs without starting one first.
    database_service: str = ""
    # Run as `docker compose run --rm <migration_service> <migration_command...>`;
    # "" = no migration (the deploy's migrate step is skipped).
    migration_service: str = ""
    migration_command: tuple[str, ...] = ()
    # "" = no health probe: the deploy relies on the containers' Docker healthchecks.
    health_url: str = ""
    health_expect: dict[str, JsonValue] = msgspec.field(default_factory=dict)
    ready_url: str = ""
    ready_expect: dict[str, JsonValue] = msgspec.field(default_factory=dict)
    probes: tuple[Probe, ...] = ()

    def all_probes(self) -> tuple[Probe, ...]:
        """Every probe: health_url as "health", ready_url as "ready", then [[deploy.probes]]."""
        named = [Probe(name=name, url=url, expect_json=expect) for name, url, expect in (
            ("health", self.health_url, self.health_expect),
            ("ready", self.ready_url, self.ready_expect)) if url]
        return (*named, *self.probes)
    health_timeout_s: float = 90.0
    database_timeout_s: float = 60.0
    log_lines_on_failure: int = 200
    # The variable (env file, else environment) whose value names a release, e.g.
    # APP_VERSION; "" = the stack's git revision plus the config hash.
    release_env: str = ""
    keep_releases: int = 5
    # After the proxy moved to the new containers: how long the old ones finish in-flight
    # requests before they are stopped.
    drain_s: float = 2.0
    # After the switch: how long health, container state and the proxy's 5xx rate are
    # watched before the old containers are removed (0 = no watch window).
    watch_s: float = 0.0
    max_error_rate: float = 0.01
    # Services always switched stop-first (besides those that cannot run twice).
    stop_first: tuple[str, ...] = ()
    proxy: Proxy | None = None


# The database engines a rollback can export from and back up.
Engine = Literal["postgresql", "mariadb", "mysql"]


class Database(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # None = derived from the [deploy] database_service's image or command
    # (operations/db/engines.py), else "postgresql".
    engine: Engine | None = None
    host: str = "127.0.0.1"
    # 0 = the engine's own: 5432 (PostgreSQL), 3306 (MariaDB, MySQL).
    port: int = 0
    name: str
    user: str
    password_secret: str


class Rollback(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    stop_services: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    timestamp_column: str = "created_at"
    # None = no database: the export and backup steps are skipped.
    database: Database | None = None
    dns_guidance: str = ""
    # Where exports and the backup go: "" = the run directory's export/; otherwise a
    # directory (relative to the target file) that gets one sub-directory per run.
    export_dir: str = ""


class Notify(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    slack_webhook_env: str = "SLACK_WEBHOOK_URL"


class Hooks(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Operator commands (argument lists, run from the project dir) at fixed points."""

    pre_deploy: tuple[str, ...] = ()
    post_deploy: tuple[str, ...] = ()
    # After a failed release was taken out again and the previous one serves.
    post_revert: tuple[str, ...] = ()
    pre_rollback: tuple[str, ...] = ()
    post_rollback: tuple[str, ...] = ()
    timeout_s: float = 300.0


class Target(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    target: TargetInfo
    stack: Stack
    preflight: Preflight = msgspec.field(default_factory=Preflight)
    deploy: Deploy = msgspec.field(default_factory=Deploy)
    rollback: Rollback = msgspec.field(default_factory=Rollback)
    notify: Notify = msgspec.field(default_factory=Notify)
    hooks: Hooks = msgspec.field(default_factory=Hooks)
    # Where the file was read from; set by load_target, not by the file.
    source: str = ""


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
# Greedy: a key may itself hold backticks (or be empty).
_UNKNOWN = re.compile(r"unknown field `(?P<key>.*)`", re.DOTALL)
_MISSING = re.compile(r"missing required field `(?P<key>[^`]+)`")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _show_key(key: str) -> str:
    """A key as TOML writes it: bare, else quoted on one line (`stack."a b"`)."""
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _key_path(error: msgspec.ValidationError) -> tuple[str, str]:
    """Turn msgspec's "... - at `$.a.b`" into ("a.b.key", "what was wrong")."""
    match = _AT.match(str(error))
    assert match is not None
    what, path = match["what"], (match["path"] or "").lstrip(".")
    named = _UNKNOWN.search(what) or _MISSING.search(what)
    if named:
        key = _show_key(named["key"])
        path = f"{path}.{key}" if path else key
        what = "unknown key" if named.re is _UNKNOWN else "required key is missing"
    return path or "(top level)", what


def _nul_key(raw: object, path: str = "") -> str:
    """The key path of the first string holding a NUL character ("" = none): no path,
    command or URL can carry one."""
    if isinstance(raw, str):
        return path if "\0" in raw else ""
    if isinstance(raw, dict):
        children = [(f"{path}.{_show_key(k)}".lstrip("."), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(raw)]
    else:
        return ""
    return next((found for child, value in children if (found := _nul_key(value, child))), "")


def _resolve(stack: Stack, base: Path, source: Path) -> Stack:
    project_dir = (base / stack.project_dir).resolve()
    if not project_dir.is_dir():
        raise ConfigError(
            f"{source}: stack.project_dir: directory not found: {project_dir} "
            "(fix the path; it is relative to the target file)"
        )
    return msgspec.structs.replace(stack, project_dir=str(project_dir))


def _check_probes(deploy: Deploy, source: Path) -> None:
    # health_url and ready_url come first, so a second use of a name is in [[deploy.probes]].
    seen = {probe.name for probe in deploy.all_probes()[:-len(deploy.probes) or None]}
    for index, probe in enumerate(deploy.probes):
        if probe.name in seen:
            raise ConfigError(
                f"{source}: deploy.probes[{index}].name: probe {probe.name!r} is named twice "
                "(health_url and ready_url are the probes 'health' and 'ready'; rename it)")
        seen.add(probe.name)


def _check_waivers(preflight: Preflight, source: Path, today: date) -> None:
    for index, waiver in enumerate(preflight.waivers):
        if waiver.expires < today:
            raise ConfigError(
                f"{source}: preflight.waivers[{index}]: the waiver of {waiver.check!r} "
                f"(ticket {waiver.ticket}) expired on {waiver.expires.isoformat()} (fix the "
                "check, or renew the waiver with a later expires date)")


def load_target(path: Path, today: date | None = None) -> Target:
    """Read and validate a target file; raise ConfigError naming the file and the key.

    `today` decides which waivers have expired (default: the local date).
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"target file not found: {path} (pass --target PATH or set CUTOVER_TARGET)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start} "
                          "(save the file as UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the target file: {exc.strerror or exc} "
                          "(pass --target PATH naming a readable file)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    nul = _nul_key(raw)
    if nul:
        raise ConfigError(f"{path}: {nul}: holds a NUL character (remove it)")
    try:
        target = msgspec.convert(raw, Target)
    except msgspec.ValidationError as exc:
        key, what = _key_path(exc)
        raise ConfigError(f"{path}: {key}: {what}") from None
    if target.source:
        raise ConfigError(f"{path}: source: unknown key")
    _check_probes(target.deploy, path)
    _check_waivers(target.preflight, path, today or date.today())
    stack = _resolve(target.stack, path.resolve().parent, path)
    return msgspec.structs.replace(target, stack=stack, source=str(path))
