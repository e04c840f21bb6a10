"""The cutover hookspecs, each implemented by a team's conftest in a pytester project."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from tests.support.receiver import Receiver

STEPS = """
import pytest
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_acquire_lock():
    pass

def test_migrate():
    \"\"\"Migrate the database.\"\"\"
    assert False, "migration 0004 failed"

def test_start_services():
    pass

@pytest.mark.finalizer
def test_release_lock():
    pass
"""

SWITCH = """
import pytest
from fixtures.deploy import DeployFacts
from fixtures.evidence import fail
from fixtures.extensions import release_ready
OPERATION = "deploy"
pytestmark = pytest.mark.deploy

def test_switch(pytestconfig):
    \"\"\"Switch to the new release.\"\"\"
    veto = release_ready(pytestconfig, "v2", DeployFacts())
    if veto is not None:
        fail(veto)
    open("switched", "w").close()

def test_watch():
    pass
"""


def _team_conftest(pytester: pytest.Pytester, hooks: str) -> None:
    """The project's conftest (the repo's plugins) plus the team's hook implementations."""
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + "\n" + hooks)


def _manifest(pytester: pytest.Pytester) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        (pytester.path / "reports" / "latest" / "manifest.json").read_text())
    return loaded


def test_step_finished_is_called_after_every_step_with_outcome_and_facts(cutover_project):
    _team_conftest(cutover_project, """
SEEN = []

def pytest_cutover_step_finished(step, outcome, facts):
    SEEN.append((step.name, outcome, facts.operation, step.duration_s >= 0))

def pytest_sessionfinish(session):
    import json
    with open("seen.json", "w") as out:
        json.dump(SEEN, out)
""")
    cutover_project.makepyfile(test_deploy=STEPS)
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=2, failed=2)
    seen = json.loads((cutover_project.path / "seen.json").read_text())
    assert seen == [["acquire lock", "passed", "deploy", True],
                    ["Migrate the database", "failed", "deploy", True],
                    ["start services", "not run", "deploy", True],
                    ["release lock", "passed", "deploy", True]]


def test_a_step_observer_that_raises_is_a_warning_and_the_operation_goes_on(cutover_project):
    _team_conftest(cutover_project, """
def pytest_cutover_step_finished(step, outcome, facts):
    raise RuntimeError("dashboard is down")
""")
    cutover_project.makepyfile(test_deploy=STEPS.replace('assert False, "migration 0004 failed"',
                                                         "pass"))
    result = cutover_project.runpytest("-m", "deploy")
    result.assert_outcomes(passed=4, warnings=4)
    result.stdout.fnmatch_lines(["*ExtensionWarning: a pytest_cutover_step_finished hook "
                                 "raised RuntimeError: dashboard is down*"])
    assert _manifest(cutover_project)["outcome"] == "succeeded"


def test_release_ready_veto_fails_the_step_with_its_message(cutover_project):
    _team_conftest(cutover_project, """
def pytest_cutover_release_ready(release, facts):
    if release == "v2" and facts.migrations == []:
        raise RuntimeError("change freeze until Monday (CHG-77)")
""")
    cutover_project.makepyfile(test_deploy=SWITCH)
    result = cutover_project.runpytest("-m", "deploy")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*release v2 vetoed by a pytest_cutover_release_ready hook: "
                                 "change freeze until Monday (CHG-77)*",
                                 "*not run: Switch to the new release failed*"])
    assert not (cutover_project.path / "switched").exists()


def test_release_ready_without_a_veto_lets_the_release_through(cutover_project):
    _team_conftest(cutover_project, """
CALLS = []

def pytest_cutover_release_ready(release, facts):
    CALLS.append(release)

def pytest_sessionfinish(session):
    open("calls.txt", "w").write(",".join(CALLS))
""")
    cutover_project.makepyfile(test_deploy=SWITCH)
    cutover_project.runpytest("-m", "deploy").assert_outcomes(passed=2)
    assert (cutover_project.path / "switched").exists()
    assert (cutover_project.path / "calls.txt").read_text() == "v2"


TEAMS_NOTIFIER = """
from operations.rollback.notify import Delivery

def pytest_cutover_notify(event, summary):
    with open("teams.txt", "w") as out:
        out.write(f"{event}: {summary.target} by {summary.operator}: {summary.reason}")
    return Delivery(channel="Teams #ops", sent=True, detail="posted")
"""


def _rollback_notify_step(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The real rollback module's notify step, alone (-k), as a rollback run."""
    pytester.makepyfile(test_rollback=(REPO / "operations" / "test_rollback.py").read_text())
    return pytester.runpytest("-m", "rollback", "-k", "test_notify", "--reason", "errors",
                              *args)


def test_a_team_notifier_is_a_channel_beside_the_built_in_slack(cutover_project, monkeypatch):
    _team_conftest(cutover_project, TEAMS_NOTIFIER)
    with Receiver(200) as slack:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url("tokenXYZ123"))
        _rollback_notify_step(cutover_project).assert_outcomes(passed=1)
    assert len(slack.requests) == 1  # the built-in channel still posts
    assert (cutover_project.path / "teams.txt").read_text() == (
        "rollback: plugin-test by " + _operator() + ": errors")
    note = _manifest(cutover_project)["data"]["notification"]  # type: ignore[index]
    assert "Teams #ops: posted" in note
    assert "Slack via $SLACK_WEBHOOK_URL: sent: attempt 1: ok" in note


def test_the_built_in_slack_channel_can_be_turned_off(cutover_project, monkeypatch):
    _team_conftest(cutover_project, TEAMS_NOTIFIER)
    with Receiver(200) as slack:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url("tokenXYZ123"))
        _rollback_notify_step(cutover_project, "-p", "no:cutover-slack").assert_outcomes(
            passed=1)
    assert slack.requests == []
    note = _manifest(cutover_project)["data"]["notification"]  # type: ignore[index]
    assert note == "Teams #ops: posted"


def test_a_notifier_that_raises_is_a_failed_delivery_and_slack_still_posts(
        cutover_project, monkeypatch):
    _team_conftest(cutover_project, """
def pytest_cutover_notify(event, summary):
    raise ConnectionError("pager service unreachable")
""")
    with Receiver(200) as slack:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url("tokenXYZ123"))
        result = _rollback_notify_step(cutover_project)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*RollbackWarning: notification conftest.pytest_cutover_notify:"
                                 " raised ConnectionError: pager service unreachable failed*"])
    assert len(slack.requests) == 1


def test_no_channel_at_all_skips_the_notice_with_the_reason(cutover_project, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    result = _rollback_notify_step(cutover_project, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*notification not sent: $SLACK_WEBHOOK_URL is not set*"])


def _operator() -> str:
    from fixtures.gate import operator_name

    return operator_name()
