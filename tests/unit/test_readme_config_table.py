"""The README's configuration table and the config schema (operations/config.py) agree:
every key in one is in the other, marked required or optional, with a default if optional."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import msgspec

from operations import config

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `(?P<section>\[\[?[\w.]+\]\]?) (?P<key>\w+)` \|(?P<required>[^|]*)\|"
                  r"(?P<default>[^|]*)\|")


def schema_keys(struct: type[msgspec.Struct] = config.Target,
                section: str = "") -> dict[str, bool]:
    """`[section] key` -> required, for every key a target file can hold."""
    found: dict[str, bool] = {}
    for field in msgspec.structs.fields(struct):
        if struct is config.Target and field.name == "source":
            continue  # set by load_target, not by the file
        inner = [t for t in typing.get_args(field.type) or (field.type,)
                 if isinstance(t, type) and issubclass(t, msgspec.Struct)]
        if not inner:
            found[f"[{section}] {field.name}"] = field.required
            continue
        name = f"{section}.{field.name}".lstrip(".")
        if typing.get_origin(field.type) is tuple:  # an array of tables: [[deploy.probes]]
            found.update({f"[{k[1:].replace('] ', ']] ', 1)}": v for k, v in
                          schema_keys(inner[0], f"[{name}").items()})
        else:
            found.update(schema_keys(inner[0], name))
    return found


def readme_rows() -> dict[str, tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration: `cutover.toml`", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            rows[f"{match['section']} {match['key']}"] = (match["required"].strip(),
                                                          match["default"].strip())
    return rows


def test_the_schema_walk_sees_nested_and_repeated_sections() -> None:
    keys = schema_keys()
    assert keys["[stack] project_name"] is True and keys["[deploy] health_url"] is False
    assert keys["[rollback.database] name"] is True
    assert keys["[[deploy.probes]] url"] is True and "[[preflight.waivers]] expires" in keys


def test_every_key_of_the_schema_is_in_the_readme_table_and_no_other() -> None:
    keys, rows = schema_keys(), readme_rows()
    assert sorted(set(keys) - set(rows)) == [], "keys missing from the README table"
    assert sorted(set(rows) - set(keys)) == [], "README rows for keys the schema lacks"


def test_required_and_defaults_match_the_schema() -> None:
    rows = readme_rows()
    for key, required in schema_keys().items():
        marked, default = rows[key]
        if required:
            assert marked.startswith("required") and not default, (key, marked, default)
        else:
            assert marked == "optional" and default, (key, marked, default)
