"""Compose-side facts: variables without defaults, env files, the plugin's location."""

from __future__ import annotations

from pathlib import Path

import pytest

from operations.preflight.compose import (
    find_compose_plugin,
    parse_env_text,
    required_variables,
    undefined_variables,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image: app:${TAG}", {"TAG"}),
        ("image: app:$TAG", {"TAG"}),
        ("image: app:${TAG:-latest}", set()),
        ("image: app:${TAG-latest}", set()),
        ("image: app:${TAG:?set TAG}", {"TAG"}),
        ("image: app:${TAG?set TAG}", {"TAG"}),
        ("image: app:${TAG:+x}", set()),
        ('test: ["CMD-SHELL", "pg_isready -U $$POSTGRES_USER"]', set()),
        ("# a comment about ${NOT_USED}", set()),
        ("image: app:${TAG} # pinned by ${NOT_USED}", {"TAG"}),
        ('command: "echo #${QUOTED}"', {"QUOTED"}),
        ("a: ${A}-${B:-x}-$C", {"A", "C"}),
    ],
)
def test_required_variables(text: str, expected: set[str]) -> None:
    assert required_variables(text) == expected


def test_the_demo_compose_files_need_no_variable_without_a_default() -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "freshtrack"
    for name in ("docker-compose.yml", "compose.production.yaml"):
        assert required_variables((demo / name).read_text()) == set(), name


def test_undefined_variables_name_the_files_using_them() -> None:
    files = [("a.yml", "x: ${ONE}\ny: ${TWO}"), ("b.yml", "z: $ONE")]
    assert undefined_variables(files, {"TWO"}) == {"ONE": ["a.yml", "b.yml"]}


def test_parse_env_text_reads_like_compose() -> None:
    text = "# comment\n\nexport A=1\nB = 'two words'\nC=\"q\"\nEMPTY=\nnot a line\n"
    assert parse_env_text(text) == {"A": "1", "B": "two words", "C": "q", "EMPTY": ""}


def test_find_compose_plugin_prefers_the_user_plugin_dir(tmp_path: Path) -> None:
    plugins = tmp_path / "cli-plugins"
    plugins.mkdir()
    plugin = plugins / "docker-compose"
    plugin.write_text("#!/bin/sh\n")
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert find_compose_plugin(env) != plugin  # not executable: not a plugin
    plugin.chmod(0o755)
    assert find_compose_plugin(env) == plugin
