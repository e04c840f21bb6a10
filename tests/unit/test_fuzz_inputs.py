"""Bad input everywhere, fuzzed: cutover.toml files built from random keys, types and values
(and random bytes), and random `--cutover-timestamp`, `--ticket` and `--release` values.

Every one loads, or is refused with one line that names the file and the key (exit 4 from
the command line); none ends in a traceback. Derandomized, so CI sees the same examples.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fixtures import options
from fixtures.deploy import choose_release
from operations import config
from operations.config import ConfigError, load_target
from operations.core.timestamps import parse_cutover_timestamp
from operations.deploy import releases
from operations.rollback.steps import RollbackError, resolve_cutover

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 1, 1)
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
_INDEX = re.compile(r"\[\d+\]")
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
# The key path a message starts with: bare keys, quoted keys (which may hold ": ").
_NAMED = re.compile(r'^(?P<key>(?:"(?:[^"\\]|\\.)*"|[^":])+): ')


def _schema_paths(struct: type[msgspec.Struct] = config.Target, prefix: str = "") -> list[str]:
    """Every key path of the schema: sections, keys, and the keys of arrays of tables."""
    found: list[str] = []
    for field in msgspec.structs.fields(struct):
        path = f"{prefix}{field.name}"
        found.append(path)
        inner = [t for t in typing.get_args(field.type) or (field.type,)
                 if isinstance(t, type) and issubclass(t, msgspec.Struct)]
        if inner:
            found += _schema_paths(inner[0], f"{path}.")
    return found


SCHEMA_PATHS = _schema_paths()
BASE: dict[str, Any] = {
    "target": {"name": "fuzz"},
    "stack": {"project_dir": ".", "project_name": "fuzz", "compose_files": ["compose.yaml"]},
}

# Text TOML can hold: any character but a lone surrogate.
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_keys = st.one_of(st.sampled_from(["name", "url", "expires", "port", "0", "", " ", "a.b"]),
                  _text)
_scalars = st.one_of(
    _text, st.sampled_from([".", "..", "/", "~", "nowhere", "http://127.0.0.1:9/"]),
    st.integers(), st.floats(allow_nan=True), st.booleans(),
    st.dates(), st.datetimes(timezones=st.just(UTC)), st.datetimes(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=6,
)
_paths = st.one_of(
    st.sampled_from(SCHEMA_PATHS),
    st.tuples(st.sampled_from(SCHEMA_PATHS), _keys).map(lambda p: f"{p[0]}.{p[1]}"),
    st.lists(_keys, min_size=1, max_size=3).map(".".join),
)
# (path, value) to set, or (path, None) to delete.
_edits = st.lists(st.tuples(_paths, st.one_of(st.none(), _values)), min_size=1, max_size=4)


def _toml_str(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}"
                      if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in escaped)
    return f'"{escaped}"'


def _toml(value: Any) -> str:
    """A TOML value; every document is written as inline tables, one per section."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else {math.inf: "inf", -math.inf: "-inf"}.get(
            value, repr(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_str(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return _toml_str(str(value))


def _document(edits: list[tuple[str, Any]]) -> str:
    doc: dict[str, Any] = {k: dict(v) for k, v in BASE.items()}
    for path, value in edits:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return "".join(f"{_toml_str(k)} = {_toml(v)}\n" for k, v in doc.items())


def _assert_one_line_naming(message: str, path: Path, edited: list[str]) -> None:
    __tracebackhide__ = True
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{path}: "), message
    rest = message[len(f"{path}: "):]
    if rest.startswith("not valid TOML") or rest.startswith("not UTF-8"):
        return
    named = _NAMED.match(rest)
    assert named, message
    key = _INDEX.sub("", named["key"])
    # An edit of a.b.c creates the tables a and a.b when missing: their keys count too.
    shown = [[k if _BARE.match(k) else json.dumps(k) for k in e.split(".")] for e in edited]
    edited = [".".join(keys[:n]) for keys in shown for n in range(1, len(keys) + 1)]
    assert any(key == e or key.startswith(f"{e}.") or e.startswith(f"{key}.")
               for e in edited), f"{message!r} names none of the keys edited: {edited}"


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: debian:bookworm-slim\n")
    return tmp_path


@FUZZ
@given(edits=_edits)
@example(edits=[("stack.project_dir", "a\0b")])
@example(edits=[("deploy.probes", [{"name": "x", "url": "\0"}])])
def test_random_keys_types_and_values_load_or_name_the_key(stack_dir: Path,
                                                          edits: list[tuple[str, Any]]) -> None:
    path = stack_dir / "cutover.toml"
    path.write_text(_document(edits), encoding="utf-8")
    try:
        load_target(path, today=TODAY)
    except ConfigError as exc:
        # A key the edits never touched is named only when an edit broke a value it needs.
        _assert_one_line_naming(str(exc), path, [p for p, _ in edits] + ["stack.project_dir"])


@FUZZ
@given(content=st.one_of(st.binary(max_size=200),
                         st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_never_end_in_a_traceback(stack_dir: Path, content: bytes) -> None:
    path = stack_dir / "cutover.toml"
    path.write_bytes(content)
    try:
        load_target(path, today=TODAY)
    except ConfigError as exc:
        _assert_one_line_naming(str(exc), path, SCHEMA_PATHS)


def test_a_directory_or_undecodable_file_is_a_config_error(stack_dir: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_target(stack_dir)
    (stack_dir / "latin1.toml").write_bytes(b'[target]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin1\.toml: not UTF-8 text"):
        load_target(stack_dir / "latin1.toml")


def _subprocess_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CUTOVER_"))}
    env["CUTOVER_REPORTS_DIR"] = str(tmp / "reports")
    return env


@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=_edits)
@example(edits=[("deploy.health_url", "http://127.0.0.1:9/health")])  # one that loads
@example(edits=[("stack.\n", 1)])
def test_through_the_command_line_exit_4_with_one_line_or_a_run(
        stack_dir: Path, edits: list[tuple[str, Any]]) -> None:
    path = stack_dir / "cutover.toml"
    path.write_text(_document(edits), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"--target={path}", "-m", "preflight", "--co", "-q"],
        cwd=REPO, env=_subprocess_env(stack_dir), capture_output=True, text=True, timeout=120,
        check=False)
    output = done.stdout + done.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    assert done.returncode in (0, 4), output[-3000:]
    if done.returncode == 4:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR: ")]
        assert len(errors) == 1, done.stderr
        _assert_one_line_naming(errors[0].removeprefix("ERROR: "), path,
                                [p for p, _ in edits] + ["stack.project_dir"])


_offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                         max_value=timedelta(hours=23, minutes=59)).map(timezone)
_timestamps = st.one_of(
    st.text(max_size=40),
    st.datetimes(timezones=_offsets).map(datetime.isoformat),
    st.datetimes(timezones=_offsets).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
                     "2026-01-23' OR '1'='1", "2026-01-23T12:00:00", "\x00", " "]),
)


@FUZZ
@given(text=_timestamps)
def test_cutover_timestamps_are_accepted_or_refused_in_one_line(tmp_path: Path,
                                                                 text: str) -> None:
    try:
        assert options._cutover_timestamp(text) == text
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc) and "ISO 8601" in str(exc), str(exc)
        return
    # An accepted value is then compared with the clock: refused or used, never a crash.
    try:
        found = resolve_cutover(text, "--cutover-timestamp", tmp_path, NOW)
    except RollbackError as exc:
        assert "\n" not in str(exc) and "in the future" in str(exc), str(exc)
    else:
        assert found.at == parse_cutover_timestamp(text)


@FUZZ
@given(text=st.one_of(st.text(max_size=70), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._#/-]{0,70}",
                                                          fullmatch=True)))
def test_tickets_are_accepted_or_refused_in_one_line(text: str) -> None:
    try:
        assert options._ticket(text) == text
    except argparse.ArgumentTypeError as exc:
        assert "\n" not in str(exc) and "is not a ticket id" in str(exc), str(exc)
    else:
        assert text.isprintable() and " " not in text and len(text) <= 64


@pytest.fixture
def with_history(stack_dir: Path) -> config.Target:
    path = stack_dir / "cutover.toml"
    path.write_text(_document([]), encoding="utf-8")
    target = load_target(path, today=TODAY)
    history = [releases.ReleaseRecord(
        id=name, at="t", operator="ops", ticket="", config_sha256="c",
        images={"web": releases.ServiceImage("fuzz-web", f"sha256:{'0' * 63}{n}")})
        for n, name in enumerate(["1.0.0", "2.0.0"])]
    releases.save(target.stack.state_path, releases.record_release(history[:1], history[1]))
    return target


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(min_size=1, max_size=30),
                      st.sampled_from(["previous", "1.0.0", "2.0.0", "1.0.0\n", "../x"])))
def test_release_values_name_what_is_kept_in_one_line(with_history: config.Target,
                                                      text: str) -> None:
    with pytest.raises(pytest.UsageError) as refused:  # no image of the history exists
        choose_release(with_history, text)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("--release "), message
    assert "kept: 1.0.0, 2.0.0" in message or "kept: 2.0.0, 1.0.0" in message, message
