"""Preflight checks: one item per resource, ids naming it; verdicts reported with evidence.

Ports and secret files not listed in the target are derived from `docker compose config`
(the one the preflight facts ask at start-up). Waived checks (`[[preflight.waivers]]`)
that fail are reported as waived and do not block the deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from fixtures.evidence import Evidence
from fixtures.gate import gate_state, step_title
from fixtures.host import FACTS_KEY
from fixtures.operation import operation_record
from fixtures.target import TARGET_KEY, config_cache
from fixtures.waivers import WAIVED_KEY, WaivedCheck, describe, matches
from operations.config import Target
from operations.engine.compose import Compose, ComposeError
from operations.preflight.derived import Derived, derive
from operations.preflight.rules import Verdict

DISK_PLACES = ("stack dir", "docker data root")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    stack = config.stash[TARGET_KEY].stack
    if "disk_place" in metafunc.fixturenames:
        metafunc.parametrize("disk_place", DISK_PLACES, ids=DISK_PLACES)
    if "compose_file" in metafunc.fixturenames:
        metafunc.parametrize("compose_file", stack.compose_files, ids=stack.compose_files)
    if "secret_name" in metafunc.fixturenames:
        names = list(_secret_files(config))
        metafunc.parametrize("secret_name", names or [_none(
            "no secrets: [stack] required_secrets is not set and the compose files name no "
            "file-based secrets")], ids=names or None)
    if "port_number" in metafunc.fixturenames:
        ports = _ports(config)
        metafunc.parametrize("port_number", ports or [_none(
            "no host ports: [preflight] ports is not set and the compose files publish none")],
            ids=[f"port {n}" for n in ports] or None)


def _none(reason: str) -> Any:
    return pytest.param(None, marks=pytest.mark.skip(reason=reason), id="none")


def _ports(config: pytest.Config) -> tuple[int, ...]:
    target = config.stash[TARGET_KEY]
    if target.preflight.ports is not None:
        return target.preflight.ports
    facts = config.stash.get(FACTS_KEY, None)
    if facts is not None:
        return facts.ports()
    derived = _derived(config, target)
    return derived.ports if derived else ()


def _secret_files(config: pytest.Config) -> dict[str, str]:
    target = config.stash[TARGET_KEY]
    facts = config.stash.get(FACTS_KEY, None)
    if facts is not None:
        return facts.secret_files()
    if target.stack.required_secrets is not None:
        return {n: str(target.stack.secrets_path / n) for n in target.stack.required_secrets}
    derived = _derived(config, target)
    return dict(derived.secrets) if derived else {}


def _derived(config: pytest.Config, target: Target) -> Derived | None:
    """Outside a preflight run (no facts asked at start-up): the run's cached config."""
    try:
        return derive(Compose(target.stack, cache=config_cache(config)).config_json())
    except ComposeError:
        return None  # the compose config check fails with compose's message


@pytest.fixture
def conclude(evidence: Evidence) -> Callable[[Verdict], None]:
    """Attach a verdict's evidence to the item's report row, then fail with its problems."""

    def conclude(verdict: Verdict) -> None:
        __tracebackhide__ = True
        for result in verdict.commands:
            evidence.commands.add(result)
        if verdict.notes:
            evidence.add_text("seen", "\n".join(verdict.notes))
        if verdict.skipped:
            pytest.skip(verdict.skipped)
        if verdict.problems:
            pytest.fail("\n".join(verdict.problems), pytrace=False)

    return conclude


# Waivers.
@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect: a waiver names any check
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    target: Target = config.stash[TARGET_KEY]
    checks = [item for item in items if item.get_closest_marker("preflight")]
    if not target.preflight.waivers or not checks:
        return  # no preflight collected (another phase's run): nothing to match against
    waived: dict[str, WaivedCheck] = {}
    for index, waiver in enumerate(target.preflight.waivers):
        found = [item for item in checks if matches(waiver, item)]
        if not found:
            example = checks[0].name
            raise pytest.UsageError(
                f"{target.source}: preflight.waivers[{index}]: no preflight check "
                f"{waiver.check!r} (name a check as its item, e.g. {example!r}, or its node "
                "id; or remove the waiver)")
        for item in found:
            item.add_marker(pytest.mark.xfail(reason=describe(waiver), strict=False))
            item.user_properties.append(("waiver", describe(waiver)))
            waived[item.nodeid] = WaivedCheck(item.nodeid, step_title(item), waiver)
    config.stash[WAIVED_KEY] = waived


@pytest.fixture(autouse=True)
def _waiver_evidence(request: pytest.FixtureRequest, evidence: Evidence) -> None:
    found = request.config.stash.get(WAIVED_KEY, {}).get(request.node.nodeid)
    if found is not None:
        evidence.add_text("waiver", f"{describe(found.waiver)}\n(from {found.waiver.check!r} "
                                    "in [[preflight.waivers]]; a failure does not block)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, Any]:
    report = yield
    found = item.config.stash.get(WAIVED_KEY, {}).get(item.nodeid)
    if found is not None and report.when == "call":
        found.outcome = "failed (waived)" if report.skipped else report.outcome
        _into_manifest(item.config)
    return report


def _into_manifest(config: pytest.Config) -> None:
    """A deploy's manifest lists the waived checks and how they ended."""
    if any(role.operation == "deploy" for role in gate_state(config).roles.values()):
        record = operation_record(config, "deploy")
        record.data["waived_checks"] = [w.as_dict() for w in config.stash[WAIVED_KEY].values()]


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """A waived failure reads as WAIVED, not as an expected failure."""
    reason = str(getattr(report, "wasxfail", ""))
    if report.when == "call" and report.skipped and reason.startswith("waived"):
        return "waived", "w", "WAIVED"
    return None
