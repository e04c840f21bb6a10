"""Every service of the stack has a running container, healthy where it has a healthcheck;
a one-shot service (another waits for it to complete) has one that exited 0."""

from __future__ import annotations

import pytest

from fixtures.evidence import Evidence
from operations.config import Target
from operations.engine.compose import Compose, one_shot_services
from operations.engine.containers import service_states

pytestmark = pytest.mark.postdeploy


def test_container(service: str, compose: Compose, target: Target, evidence: Evidence) -> None:
    """The service's container is running (and healthy), or ran to success (one-shot)."""
    states = service_states(compose, service)
    project = target.stack.project_name
    if not states:
        pytest.fail(f"service {service!r} of project {project!r} has no container "
                    "(deploy it: pytest -m deploy)", pytrace=False)
    one_shot = service in one_shot_services(compose.config_json().get("services") or {})
    for state in states:
        evidence.add_text(f"container {state.container}",
                          f"state {state.state}, health {state.health or '(no healthcheck)'}, "
                          f"exit code {state.exit_code}, image {state.image}"
                          + (" (one-shot: must have exited 0)" if one_shot else ""))
        if one_shot and not state.completed:
            logs = compose.logs(service, target.deploy.log_lines_on_failure)
            evidence.add_text(f"logs {service}", logs.stdout + logs.stderr)
            pytest.fail(f"one-shot container {state.container} of service {service!r} is "
                        f"{state.state} with exit code {state.exit_code}, not exited 0; its "
                        "logs are attached", pytrace=False)
        if not one_shot and not state.is_up:
            logs = compose.logs(service, target.deploy.log_lines_on_failure)
            evidence.add_text(f"logs {service}", logs.stdout + logs.stderr)
            pytest.fail(f"container {state.container} of service {service!r} is "
                        f"{state.state} ({state.health or 'no healthcheck'}); its logs are "
                        "attached", pytrace=False)
