"""Per-check waivers: a waived failure is reported everywhere and does not block; an
expired waiver, or one that names no check, is a usage error before anything runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

CHECKS = """
import pytest
pytestmark = pytest.mark.preflight

@pytest.mark.parametrize("port_number", [18901], ids=["port 18901"])
def test_port(port_number):
    \"\"\"port {port_number} free or held by this stack\"\"\"
    pytest.fail("port 18901 is in use by nginx (pid 42) on 127.0.0.1", pytrace=False)

def test_disk():
    \"\"\"free disk\"\"\"
"""

DEPLOY = """
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_step():
    \"\"\"Do the step.\"\"\"
"""


def waiver(check: str, expires: date) -> str:
    return (f'\n[[preflight.waivers]]\ncheck = "{check}"\nreason = "old server until Friday"\n'
            f'ticket = "CHG-7"\nexpires = {expires.isoformat()}\n')


def _project(project: pytest.Pytester, check: str, expires: date) -> pytest.Pytester:
    path = project.path / "cutover.toml"
    path.write_text(path.read_text().replace("[deploy]", waiver(check, expires) + "\n[deploy]"))
    project.mkpydir("checks")
    project.makepyfile(**{"checks/test_preflight_demo": CHECKS, "test_deploy": DEPLOY})
    return project


LATER = date.today() + timedelta(days=30)


def test_a_waived_failure_does_not_block_and_is_reported_as_waived(cutover_project):
    project = _project(cutover_project, "test_port[port 18901]", LATER)
    result = project.runpytest("-m", "deploy", "-v")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*::test_port[[]port 18901[]] WAIVED*", "*2 passed*1 waived*"])
    assert "blocked" not in result.stdout.str()
    run = (project.path / "reports" / "latest").resolve()
    [case] = [c for c in ET.parse(run / "junit.xml").iter("testcase")
              if "18901" in c.get("name", "")]
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("type") == "pytest.xfail"
    assert "CHG-7" in skipped.get("message", "")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["waiver"] == (f"waived until {LATER.isoformat()} (ticket CHG-7): "
                                    "old server until Friday")
    summary = (run / "summary.md").read_text()
    assert "## Waived checks" in summary
    assert "port 18901 free or held by this stack`: failed (waived); waived until" in summary
    manifest = json.loads((run / "manifest.json").read_text())
    [entry] = manifest["data"]["waived_checks"]
    assert entry["outcome"] == "failed (waived)" and entry["ticket"] == "CHG-7"
    assert entry["expires"] == LATER.isoformat()


def test_the_waiver_may_name_the_node_id(cutover_project):
    project = _project(cutover_project,
                       "checks/test_preflight_demo.py::test_port[port 18901]", LATER)
    assert project.runpytest("-m", "preflight").ret == pytest.ExitCode.OK


def test_without_the_waiver_the_same_failure_blocks(cutover_project):
    project = _project(cutover_project, "test_disk", LATER)
    result = project.runpytest("-m", "deploy")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*blocked: preflight failed: *test_port*"])


def test_an_expired_waiver_is_a_usage_error_naming_it(cutover_project):
    yesterday = date.today() - timedelta(days=1)
    project = _project(cutover_project, "test_port[port 18901]", yesterday)
    result = project.runpytest("-m", "preflight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"ERROR: *cutover.toml: preflight.waivers[[]0]: the waiver of 'test_port[[]port 18901]' "
        f"(ticket CHG-7) expired on {yesterday.isoformat()} *"])
    assert not (project.path / "reports").exists()


def test_a_waiver_that_matches_no_check_is_a_usage_error(cutover_project):
    project = _project(cutover_project, "test_port[port 9999]", LATER)
    result = project.runpytest("-m", "preflight")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: *cutover.toml: preflight.waivers[[]0]: no preflight check "
        "'test_port[[]port 9999]' (name a check as its item, e.g. *"])
