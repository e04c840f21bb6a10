"""The deploy, as ordered steps: each test is one step, its docstring's first line its name.

The phase gate (fixtures/gate.py) runs them in file order after the preflight checks,
blocks them all when a check failed, and marks the rest `not run` after a failed step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fixtures.deploy import DeployFacts, LockHolder
from fixtures.evidence import Evidence, fail
from fixtures.gate import operator_name
from fixtures.reporting import run_dir
from operations.config import Target
from operations.core import http_checks
from operations.deploy import lock
from operations.deploy import steps as deploy
from operations.deploy.history import write_last_deploy
from operations.engine.compose import Compose, ComposeError
from operations.engine.containers import current_release, tagged_image_ids
from operations.record.manifest import OperationRecord

OPERATION = "deploy"
pytestmark = pytest.mark.deploy


class DeployWarning(UserWarning):
    """A step went on despite a problem (pull or cleanup failed)."""


def _attach_logs(compose: Compose, target: Target, evidence: Evidence,
                 services: list[str]) -> None:
    lines = target.deploy.log_lines_on_failure
    for name, text in deploy.service_logs(compose, services, lines).items():
        evidence.add_text(f"logs {name} (last {lines} lines)", text or "(no output)")


def _services_not_up(compose: Compose) -> list[str]:
    try:
        return [p.service for p in deploy.service_problems(compose)]
    except ComposeError:
        return compose.services()


def _version(target: Target) -> str:
    """What the health URL says the running version is (one short probe)."""
    answer = http_checks.get(target.deploy.health_url, timeout=2.0)
    body = answer.json
    if isinstance(body, dict) and "version" in body:
        return str(body["version"])
    return f"(health URL: {answer.describe()})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def test_acquire_lock(deploy_lock: LockHolder, pytestconfig: pytest.Config,
                      operation: OperationRecord, evidence: Evidence) -> None:
    """Acquire the deploy lock."""
    info = lock.new_lock(operator_name(), pytestconfig.getoption("ticket") or "", OPERATION,
                         _now())
    try:
        broken = lock.acquire(deploy_lock.path, info,
                              break_stale=pytestconfig.getoption("break_stale_lock"))
    except lock.LockHeld as exc:
        operation.data["lock"] = {"path": str(exc.path), "held_by":
                                  exc.info.describe() if exc.info else "(unreadable)"}
        fail(str(exc))
    deploy_lock.held = info
    operation.data["lock"] = {"path": str(deploy_lock.path), "holder": info.describe()}
    if broken is not None:
        operation.data["lock"]["broke_stale_lock"] = broken.describe()
        evidence.warn(f"--break-stale-lock: removed a stale lock held by {broken.describe()}",
                      DeployWarning)
    evidence.add_text("deploy lock", f"{deploy_lock.path}: {info.describe()}")


def test_pre_deploy_hook(operator_hook, deploy_facts: DeployFacts) -> None:
    """Run the pre-deploy hook."""
    operator_hook("pre_deploy", release=getattr(deploy_facts, "release_id", ""),
                  previous_release=getattr(deploy_facts, "previous_release_id", ""))


def test_record_running_release(step_compose: Compose, target: Target, evidence: Evidence,
                                operation: OperationRecord, deploy_facts: DeployFacts) -> None:
    """Record the running release."""
    try:
        before = current_release(step_compose)
    except ComposeError as exc:
        fail(f"cannot read the running release of project "
             f"{target.stack.project_name!r}: {exc} (is the Docker engine up?)")
    deploy_facts.before = before
    operation.data["release_before"] = {
        "version": _version(target) if before.services else "(nothing running)",
        "config_sha256": before.config_sha256,
    }
    operation.data["images_before"] = before.rows()
    evidence.add_text("running release", "\n".join(
        [f"compose config sha256 {before.config_sha256}",
         *(f"{s.service}: {s.container} {s.state} {s.image_id}" for s in before.services)]
        ) or "(nothing running)")


def test_pull(step_compose: Compose, evidence: Evidence) -> None:
    """Pull the images that are not built here."""
    try:
        to_pull = deploy.images_to_pull(step_compose)
    except ComposeError as exc:
        to_pull = {"(compose config failed)": exc.result.describe()}  # let pull say why
    if not to_pull:
        evidence.add_text("pull", "every service has a build: section, so nothing is pulled "
                          "(`docker compose pull --ignore-buildable` would skip them all); "
                          "not run")
        return
    evidence.add_text("images to pull", "\n".join(f"{k}: {v}" for k, v in to_pull.items()))
    result = deploy.pull(step_compose)
    if not result.ok:
        evidence.warn(f"pull failed, the cached images are used: {result.describe()}",
                      DeployWarning)


def test_build(step_compose: Compose, target: Target, pytestconfig: pytest.Config) -> None:
    """Build the images."""
    services = list(target.deploy.build_services)
    if pytestconfig.getoption("no_build"):
        pytest.skip("--no-build: deploying the images already built")
    if not services:
        pytest.skip("[deploy] build_services is empty: nothing is built here")
    wrong = _wrong_build_targets(step_compose, services, target.deploy.build_target)
    if wrong:
        fail(f"build target is not {target.deploy.build_target!r}: {'; '.join(wrong)} "
             f"(check the compose files listed in {target.source})")
    result = deploy.build(step_compose, services)
    if not result.ok:
        fail(f"build of {', '.join(services)} failed, nothing was changed: "
             f"{result.describe()}")


def _wrong_build_targets(compose: Compose, services: list[str], wanted: str) -> list[str]:
    config: dict[str, Any] = compose.config_json()["services"]
    build = {name: config.get(name, {}).get("build") or {} for name in services}
    return [f"{name} builds {spec['target']!r}" for name, spec in build.items()
            if isinstance(spec, dict) and spec.get("target") not in (None, wanted)]


def test_migrate(step_compose: Compose, target: Target, evidence: Evidence,
                 operation: OperationRecord, deploy_facts: DeployFacts) -> None:
    """Migrate the database."""
    settings = target.deploy
    database = settings.database_service
    started = deploy.start_database(step_compose, database)
    if not started.ok:
        fail(f"cannot start the database service {database!r}: {started.describe()}")
    waited = deploy.wait_database(step_compose, database, settings.database_timeout_s)
    evidence.add_text("database wait", waited.describe())
    if not waited.done:
        _attach_logs(step_compose, target, evidence, [database])
        fail(f"database service {database!r} not ready: {waited.describe()} "
             "(its logs are attached; no app container was changed)")
    result = deploy.migrate(step_compose, settings.migration_service,
                            settings.migration_command)
    deploy_facts.migrations = deploy.applied_migrations(result.stdout)
    operation.data["migrations_applied"] = deploy_facts.migrations
    if not result.ok:
        fail(f"migration failed, the deploy stops before any app container changes: "
             f"{result.describe()} (fix the migration, then rerun)")


def test_start_services(step_compose: Compose, operation: OperationRecord,
                        deploy_facts: DeployFacts) -> None:
    """Start the services."""
    try:
        deploy_facts.built = tagged_image_ids(step_compose, step_compose.services())
    except ComposeError as exc:
        fail(f"an image to start is missing: {exc} (build it, or drop --no-build)")
    operation.data["images_to_run"] = deploy_facts.built
    deploy_facts.cutover_at = _now()
    result = deploy.start_services(step_compose)
    if not result.ok:
        fail(f"starting the services failed: {result.describe()}")


def test_wait_healthy(step_compose: Compose, target: Target, evidence: Evidence,
                      operation: OperationRecord) -> None:
    """Wait until the health URL answers healthy."""
    settings = target.deploy
    polls: list[dict[str, object]] = []
    operation.data["health_polls"] = polls  # the report's timeline draws each one
    result, answer = deploy.wait_healthy(settings.health_url, settings.health_expect,
                                         settings.health_timeout_s, polls=polls)
    evidence.add_text("health wait", result.describe())
    evidence.add_text(f"last GET {settings.health_url}", answer.evidence())
    if not result.done:
        _attach_logs(step_compose, target, evidence, _services_not_up(step_compose))
        fail(f"{settings.health_url} did not answer healthy within "
             f"{settings.health_timeout_s:.0f}s ({result.attempts} probes); last response: "
             f"{answer.describe()} (container logs attached)")


def test_verify(step_compose: Compose, target: Target, evidence: Evidence,
                deploy_facts: DeployFacts) -> None:
    """Verify health, readiness, containers and images."""
    settings = target.deploy
    problems: list[str] = []
    for url, expect in ((settings.health_url, settings.health_expect),
                        (settings.ready_url, settings.ready_expect)):
        answer = http_checks.get(url)
        evidence.add_text(f"GET {url}", answer.evidence())
        problems += [f"{url}: {p}" for p in http_checks.mismatches(answer, expect)]
    waited, not_up = deploy.wait_services_up(step_compose, settings.health_timeout_s)
    evidence.add_text("services", waited.describe())
    problems += [f"service {p.service}: {p.problem}" for p in not_up]
    running = current_release(step_compose).image_ids()
    problems += deploy.image_mismatches(running, deploy_facts.built)
    if problems:
        _attach_logs(step_compose, target, evidence, [p.service for p in not_up])
        fail("verification failed:\n  " + "\n  ".join(problems))


def test_record_new_release(step_compose: Compose, target: Target, pytestconfig: pytest.Config,
                            operation: OperationRecord, deploy_facts: DeployFacts,
                            evidence: Evidence) -> None:
    """Record the new release."""
    after = current_release(step_compose)
    # From the moment the new containers began to start: a rollback exports every row the
    # new release may have written.
    cutover_at = deploy_facts.cutover_at or _now()
    version = _version(target)
    release = {"version": version, "config_sha256": after.config_sha256,
               "cutover_at": cutover_at}
    operation.data["release_after"] = release
    operation.data["images_after"] = after.rows()
    before = deploy_facts.before
    folder = run_dir(pytestconfig)
    path = write_last_deploy(target.stack.state_path, {
        **release,
        "target": target.target.name,
        "project": target.stack.project_name,
        "ticket": pytestconfig.getoption("ticket") or "",
        "operator": operator_name(),
        "run_dir": str(folder) if folder else "",
        "migrations_applied": deploy_facts.migrations,
        "services": after.rows(),
        "previous": {**operation.data.get("release_before", {}),
                     "services": before.rows() if before else []},
    })
    evidence.add_text("release record", f"{path}: {version}, cutover at {cutover_at}")


def test_post_deploy_hook(operator_hook, deploy_facts: DeployFacts) -> None:
    """Run the post-deploy hook."""
    operator_hook("post_deploy", release=getattr(deploy_facts, "release_id", ""),
                  previous_release=getattr(deploy_facts, "previous_release_id", ""))


def test_cleanup(step_compose: Compose, evidence: Evidence) -> None:
    """Remove dangling images."""
    result = deploy.prune_dangling(step_compose)
    if not result.ok:
        evidence.warn(f"cleanup failed, dangling images are left: {result.describe()}",
                      DeployWarning)


@pytest.mark.finalizer
def test_release_lock(deploy_lock: LockHolder, evidence: Evidence) -> None:
    """Release the deploy lock."""
    if deploy_lock.held is None:
        evidence.add_text("deploy lock", "not held by this run: nothing to release")
        return
    if not deploy_lock.release():
        fail(f"deploy lock {deploy_lock.path} was replaced by another process meanwhile; "
             "left alone (check who holds it)")
    evidence.add_text("deploy lock", f"released {deploy_lock.path}")
