"""Reports fit for a ticket: titled JUnit rows with properties, summary.md, the timeline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "schemas" / "junit.xsd"

CHECKS = """
import pytest
pytestmark = pytest.mark.preflight

@pytest.mark.parametrize("name", ["jwt_secret", "postgres_password"])
def test_secret_present(name):
    \"\"\"secret {name} present\"\"\"

def test_disk():
    \"\"\"Free disk space.\"\"\"
"""

DEPLOY = """
import pytest
from operations.core.commands import run
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_acquire_lock():
    \"\"\"Acquire the deploy lock.\"\"\"

def test_migrate(evidence):
    \"\"\"Migrate the database.\"\"\"
    script = "echo applying 0004_orders.sql; echo relation orders exists >&2; exit 3"
    result = run(["sh", "-c", script], timeout=10, record=evidence.commands)
    if not result.ok:
        pytest.fail(f"migration failed: {result.describe()}", pytrace=False)

@pytest.mark.finalizer
def test_release_lock():
    \"\"\"Release the deploy lock.\"\"\"
"""


def make_failed_deploy_report(cutover_project: pytest.Pytester) -> Path:
    cutover_project.mkpydir("checks")
    cutover_project.makepyfile(**{"checks/test_preflight_demo": CHECKS, "test_deploy": DEPLOY})
    (cutover_project.path / "stack" / ".env").write_text("APP_VERSION=2.1.0\n")
    result = cutover_project.runpytest("-m", "deploy", "--ticket", "CHG-42")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return (cutover_project.path / "reports" / "latest").resolve()


@pytest.fixture
def deploy_run(cutover_project: pytest.Pytester) -> Path:
    return make_failed_deploy_report(cutover_project)


def test_junit_rows_read_as_titles_and_carry_the_run_properties(deploy_run):
    root = ET.parse(deploy_run / "junit.xml").getroot()
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == [
        "preflight: secret jwt_secret present", "preflight: secret postgres_password present",
        "preflight: Free disk space", "deploy: Acquire the deploy lock",
        "deploy: Migrate the database", "deploy: Release the deploy lock",
    ]
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["target"] == "plugin-test"
    assert properties["ticket"] == "CHG-42"
    assert properties["phase"] == "deploy"
    assert properties["release"] == "2.1.0"


def test_junit_validates_against_the_ci_schema(deploy_run):
    xmlschema.XMLSchema(SCHEMA).validate(deploy_run / "junit.xml")


def test_schema_rejects_what_ci_servers_cannot_read(deploy_run, tmp_path):
    broken = (deploy_run / "junit.xml").read_text().replace(' classname="', ' klass="', 1)
    (tmp_path / "broken.xml").write_text(broken)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(SCHEMA).validate(tmp_path / "broken.xml")


def test_summary_md_states_outcome_counts_failures_and_links(deploy_run):
    summary = (deploy_run / "summary.md").read_text()
    assert summary.startswith("# cutover deploy: FAILED (plugin-test)\n\n"
                              "deploy: FAILED by 1 deploy step failure: "
                              "step 'Migrate the database': migration failed: `sh -c")
    assert "- **Ticket:** CHG-42" in summary
    assert "- **Results:** 5 passed, 1 failed (exit status 1)" in summary
    assert "- `deploy: Migrate the database`: migration failed: `sh -c" in summary
    for name in ("report.html", "junit.xml", "run.log", "manifest.json", "DEPLOY_MANIFEST.md"):
        assert f"- [{name}]({name})" in summary


def test_summary_md_ends_with_how_to_watch_verify_and_put_back(deploy_run):
    summary = (deploy_run / "summary.md").read_text()
    steps = summary.split("\n## Next steps\n\n")[-1].splitlines()
    assert [line.split(":")[0] for line in steps] == [
        "- Fix the failures above; the manifest says how far the deploy got.",
        "- Watch it", "- Verify it", "- Put the previous release back"]
    assert " --project-name plugintest " in steps[1] and " logs --follow " in steps[1]
    assert steps[2].endswith("`pytest -m postdeploy`")
    assert steps[3].endswith("`pytest -m deploy --release previous`")


BLOCKING_CHECKS = CHECKS.replace("def test_disk():", '''def test_jwt_secret_filled():
    pytest.fail("secret 'jwt_secret' is empty: stack/secrets/jwt_secret (write the value, "
                "then rerun)", pytrace=False)

def test_disk():''')

POSTDEPLOY = """
import pytest
pytestmark = pytest.mark.postdeploy

def test_health():
    pass
"""


def test_a_blocked_deploy_leads_with_its_cause_then_counts_the_consequences(cutover_project):
    cutover_project.mkpydir("checks")
    cutover_project.makepyfile(**{"checks/test_preflight_demo": BLOCKING_CHECKS,
                                  "checks/test_postdeploy_demo": POSTDEPLOY,
                                  "test_deploy": DEPLOY})
    result = cutover_project.runpytest("-m", "deploy")
    result.assert_outcomes(passed=4, failed=4)  # 1 cause; 2 steps and 1 check held
    expected = ("deploy: BLOCKED by 1 preflight failure: secret 'jwt_secret' is empty: "
                "stack/secrets/jwt_secret (write the value, then rerun); nothing on the "
                "target was touched; 2 steps and 1 check not run")
    assert result.outlines[-1] == expected, "the terminal's last line leads with the cause"
    summary = (cutover_project.path / "reports" / "latest" / "summary.md").read_text()
    assert summary.startswith(f"# cutover deploy: BLOCKED (plugin-test)\n\n{expected}\n")
    assert "- **Results:** 4 passed, 1 failed, 3 not run (exit status 1)" in summary
    failures = summary.split("## Failures\n\n")[1].split("\n\n")[0].splitlines()
    assert failures == ["- `preflight: jwt secret filled`: secret 'jwt_secret' is empty: "
                        "stack/secrets/jwt_secret (write the value, then rerun)"]
    assert "- 2 x blocked: preflight failed: checks/test_preflight_demo.py::" in summary
    assert "- 1 x not run: deploy blocked: preflight failed" in summary
    assert summary.rstrip().endswith(
        "- Nothing was touched on the target. Fix the failures above (each names its fix), "
        "then rerun: `pytest -m deploy`")


def test_html_is_self_contained_with_timeline_metadata_and_command_output(deploy_run):
    html = (deploy_run / "report.html").read_text()
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert external == [], "the report must work offline"
    assert 'id="cutover-timeline"' in html
    assert "CHG-42" in html
    assert "relation orders exists" in html, "the failing step's command output is on its row"


def test_run_log_is_timestamped_and_keeps_full_command_output(deploy_run):
    log = (deploy_run / "run.log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} INFO ", log, re.M), log[:300]
    assert "relation orders exists" in log


def test_an_inline_run_leaves_the_process_exit_alone(cutover_project):
    """Only the process's own pytest command skips interpreter teardown at exit."""
    import atexit

    before = atexit._ncallbacks()
    make_failed_deploy_report(cutover_project)
    assert atexit._ncallbacks() == before


def test_a_phase_run_exits_with_its_status_and_complete_artefacts(cutover_project):
    cutover_project.mkpydir("checks")
    cutover_project.makepyfile(**{"checks/test_preflight_demo": CHECKS + "\n    assert 0\n"})
    result = cutover_project.runpytest_subprocess("-m", "preflight", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    folder = (cutover_project.path / "reports" / "latest").resolve()
    assert "preflight: 2 passed, 1 failed" in result.stdout.str()
    assert (folder / "summary.md").read_text().startswith("# cutover preflight: FAILED")
    assert "</html>" in (folder / "report.html").read_text()
    assert (folder / "junit.xml").read_text().rstrip().endswith("</testsuites>")


REAL_TARGET = """
[target]
name = "junit-real"

[stack]
project_dir = "stack"
project_name = "junitreal"
compose_files = ["compose.yaml"]

[deploy]
health_url = "http://127.0.0.1:9/health"
"""


def test_a_real_preflight_runs_junit_validates_against_the_ci_schema(tmp_path):
    """The repo's own checks, run as an operator runs them, not a pytester stand-in."""
    stack = tmp_path / "stack"
    (stack / "secrets").mkdir(parents=True)
    (stack / "compose.yaml").write_text(
        "services:\n  web:\n    image: debian:bookworm-slim\n    secrets: [jwt_secret]\n"
        "secrets:\n  jwt_secret:\n    file: ./secrets/jwt_secret\n")
    (stack / "secrets" / "jwt_secret").touch(mode=0o600)  # empty: one real failure
    (tmp_path / "cutover.toml").write_text(REAL_TARGET)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CUTOVER_"))}
    env["CUTOVER_REPORTS_DIR"] = str(tmp_path / "reports")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "preflight", f"--target={tmp_path / 'cutover.toml'}",
         "--ticket", "CHG-7"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith(
        "preflight: FAILED by 1 preflight failure: secret 'jwt_secret' is empty: ")
    junit = (tmp_path / "reports" / "latest" / "junit.xml").resolve()
    xmlschema.XMLSchema(SCHEMA).validate(junit)
    root = ET.parse(junit).getroot()
    names = [case.get("name") or "" for case in root.iter("testcase")]
    assert len(names) >= 5 and all(name.startswith("preflight: ") for name in names), names
    assert len(list(root.iter("failure"))) == 1
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (properties["target"], properties["ticket"], properties["phase"]) == (
        "junit-real", "CHG-7", "preflight")


ROLLBACK = """
import pytest
OPERATION = "rollback"
pytestmark = pytest.mark.rollback

def test_stop_services():
    \"\"\"Stop the front services.\"\"\"
"""


def test_a_rollback_summary_ends_with_dns_restore_and_where_the_rows_are(cutover_project):
    path = cutover_project.path / "cutover.toml"
    path.write_text(path.read_text().replace(
        "[rollback]\n", '[rollback]\ndns_guidance = "point shop.example.com back at 10.0.0.5"\n'
    ).replace("[deploy]\n", '[deploy]\ndatabase_service = "postgres"\n'))
    cutover_project.makepyfile(test_rollback=ROLLBACK)
    cutover_project.runpytest("-m", "rollback").assert_outcomes(passed=1)
    folder = (cutover_project.path / "reports" / "latest").resolve()
    summary = (folder / "summary.md").read_text()
    steps = summary.split("\n## Next steps\n\n")[-1].splitlines()
    assert steps[0] == "- DNS: point shop.example.com back at 10.0.0.5"
    assert steps[1].startswith("- Restore the backup, if the database must go back to it: `")
    assert " exec -T postgres pg_restore --clean --if-exists -U postgres -d db < " in steps[1]
    assert steps[1].endswith(f"{folder / 'export' / 'db.dump'}`")
    assert steps[2].startswith(f"- The rows written since the cutover: the CSV files in "
                               f"{folder / 'export'} ")
