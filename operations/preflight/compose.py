"""Compose-side preflight facts: the Compose v2 plugin, `compose config`, and `${VAR}` use.

The plugin binary is run directly (as `docker compose` would exec it): going through the
docker CLI first costs a CLI start and a plugin-metadata call per question.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from operations.config import Stack
from operations.core.commands import CommandResult, run
from operations.engine.compose import compose_argv

TIMEOUT_S = 60.0
# Where the docker CLI looks for plugins, in its own order (after $DOCKER_CONFIG).
PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def plugin_dirs(env: Mapping[str, str]) -> list[Path]:
    config = env.get("DOCKER_CONFIG") or str(Path(env.get("HOME", "/root")) / ".docker")
    return [Path(config) / "cli-plugins", *(Path(d) for d in PLUGIN_DIRS)]


def find_compose_plugin(env: Mapping[str, str] | None = None) -> Path | None:
    for folder in plugin_dirs(env if env is not None else os.environ):
        candidate = folder / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def compose_config(stack: Stack, plugin: Path | None) -> CommandResult:
    """The resolved config as JSON: it validates the files as `--quiet` does, and the
    derived values (operations.preflight.derived) come from the same one call."""
    return run([*compose_argv(stack, plugin), "config", "--format", "json"], cwd=stack.dir,
               timeout=TIMEOUT_S)


def compose_version(plugin: Path) -> CommandResult:
    return run([str(plugin), "version", "--short"], timeout=TIMEOUT_S)


# $$ escapes; ${NAME}, ${NAME:?err}, $NAME need a value; ${NAME:-x}, ${NAME+x} do not.
_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def required_variables(text: str) -> set[str]:
    """Variables a compose file interpolates without a default (comments ignored)."""
    names: set[str] = set()
    for line in text.splitlines():
        for match in _REFERENCE.finditer(_without_comment(line)):
            if match["bare"]:
                names.add(match["bare"])
            elif match["braced"] and (match["op"] is None or match["op"].endswith("?")):
                names.add(match["braced"])
    return names


def _without_comment(line: str) -> str:
    """YAML: `#` starts a comment at the line start or after a blank, outside quotes."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def undefined_variables(
    files: Iterable[tuple[str, str]], defined: Iterable[str]
) -> dict[str, list[str]]:
    """{variable: [files using it]} for every default-less variable that is not defined."""
    known = set(defined)
    missing: dict[str, list[str]] = {}
    for name, text in files:
        for variable in sorted(required_variables(text) - known):
            missing.setdefault(variable, []).append(name)
    return missing


def parse_env_text(text: str) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them: comments, `export` and quotes allowed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
