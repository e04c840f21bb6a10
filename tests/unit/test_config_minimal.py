"""The smallest target file, probes from health_url/ready_url, waivers' expiry."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from operations.config import ConfigError, Probe, load_target

MINIMAL = """
[target]
name = "plainweb"
[stack]
project_dir = "."
project_name = "plainweb"
compose_files = ["compose.yaml"]
[deploy]
health_url = "http://127.0.0.1:18901/healthz"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cutover.toml"
    path.write_text(text)
    return path


def test_the_issue_s_file_is_valid_with_defaults_that_fit_any_stack(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, MINIMAL))
    assert target.rollback.database is None and target.rollback.stop_services == ()
    deploy = target.deploy
    assert (deploy.migration_service, deploy.database_service, deploy.build_target) == ("",) * 3
    assert deploy.build_services is None and target.preflight.ports is None
    assert target.stack.required_secrets is None and target.stack.secrets_dir == ""
    assert target.stack.env_path == tmp_path / ".env"
    assert deploy.all_probes() == (Probe(name="health", url=deploy.health_url),)


def test_even_health_url_may_be_left_out(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, MINIMAL.replace(
        'health_url = "http://127.0.0.1:18901/healthz"\n', "")))
    assert target.deploy.all_probes() == ()


def test_probes_are_typed_and_named(tmp_path: Path) -> None:
    target = load_target(write(tmp_path, MINIMAL + """health_expect = { ok = true }
ready_url = "http://127.0.0.1:18901/ready"
[[deploy.probes]]
name = "api"
url = "http://127.0.0.1:18901/api"
expect_status = 204
[[deploy.probes]]
name = "page"
url = "http://127.0.0.1:18901/"
expect_text = "OK"
expect_json = { "checks.db" = "up", count = 2 }
"""))
    found = target.deploy.all_probes()
    assert [p.name for p in found] == ["health", "ready", "api", "page"]
    assert found[0].expect_json == {"ok": True} and found[2].expect_status == 204
    assert found[3].expect_json == {"checks.db": "up", "count": 2}


def test_a_probe_name_used_twice_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[[deploy.probes]]\nname = "health"\nurl = "http://x/"\n')
    with pytest.raises(ConfigError, match=r"deploy\.probes\[0\]\.name: probe 'health' is named"):
        load_target(path)


WAIVER = """
[[preflight.waivers]]
check = "test_port[port 18901]"
reason = "the old server still holds it until Friday"
ticket = "CHG-7"
expires = 2026-03-01
"""


def test_a_waiver_is_valid_until_its_expiry_day(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + WAIVER)
    [waiver] = load_target(path, today=date(2026, 3, 1)).preflight.waivers
    assert waiver.expires == date(2026, 3, 1) and waiver.ticket == "CHG-7"


def test_an_expired_waiver_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + WAIVER)
    with pytest.raises(ConfigError) as error:
        load_target(path, today=date(2026, 3, 2))
    assert str(error.value) == (
        f"{path}: preflight.waivers[0]: the waiver of 'test_port[port 18901]' (ticket CHG-7) "
        "expired on 2026-03-01 (fix the check, or renew the waiver with a later expires date)")
