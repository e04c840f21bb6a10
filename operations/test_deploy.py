"""The deploy, as ordered steps: each test is one step, its docstring's first line its name.

The phase gate (fixtures/gate.py) runs them in file order after the preflight checks,
blocks them all when a check failed, and marks the rest `not run` after a failed step.

A deploy never leaves production worse than it found it: the new release's containers
start beside the old ones and take traffic only once healthy (operations/deploy/switch.py);
a release that fails its switch, its verification or its watch window is taken out again
and the previous one serves, as one unit.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

from fixtures.deploy import (
    DeployFacts,
    LockHolder,
    SwitchHolder,
    release_to_restore,
    show_plan,
)
from fixtures.evidence import Evidence, fail
from fixtures.extensions import OperatorHook, release_ready
from fixtures.gate import operator_name
from fixtures.reporting import run_dir
from fixtures.target import read_env_file
from operations.config import Engine, Target
from operations.core import http_checks, probes
from operations.db.engines import readiness_argv
from operations.deploy import releases
from operations.deploy import steps as deploy
from operations.deploy.history import write_last_deploy
from operations.deploy.plan import STOP_FIRST, plan_release
from operations.deploy.switch import SwitchError, Switchover
from operations.deploy.watch import AccessLog, watch
from operations.engine import docker
from operations.engine.compose import Compose, ComposeError
from operations.engine.containers import (
    Release,
    current_release,
    image_digests,
    tagged_image_ids,
)
from operations.record.manifest import OperationRecord
from operations.record.versions import git_revision

OPERATION = "deploy"
pytestmark = pytest.mark.deploy


class DeployWarning(UserWarning):
    """A step went on despite a problem (pull or cleanup failed)."""


def _attach_logs(compose: Compose, target: Target, evidence: Evidence,
                 services: list[str]) -> None:
    lines = target.deploy.log_lines_on_failure
    for name, text in deploy.service_logs(compose, services, lines).items():
        evidence.add_text(f"logs {name} (last {lines} lines)", text or "(no output)")


def _attach_container_logs(target: Target, evidence: Evidence, names: list[str]) -> None:
    lines = target.deploy.log_lines_on_failure
    for name in names:
        result = docker.logs(name, lines)
        evidence.add_text(f"logs {name} (last {lines} lines)",
                          (result.stdout + result.stderr) or "(no output)")


def _version(target: Target) -> str:
    """What the health URL says the running version is (one short probe)."""
    if not target.deploy.health_url:
        return "(no health URL)"
    answer = http_checks.get(target.deploy.health_url, timeout=2.0)
    body = answer.json
    if isinstance(body, dict) and "version" in body:
        return str(body["version"])
    return f"(health URL: {answer.describe()})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _plan_only(config: pytest.Config) -> None:
    if config.getoption("plan"):
        pytest.skip("--plan: nothing on the target is touched")


def _release_env_value(target: Target) -> str:
    name = target.deploy.release_env
    if not name:
        return ""
    return os.environ.get(name) or read_env_file(target.stack.env_path).get(name, "")


def test_acquire_lock(deploy_lock: LockHolder, pytestconfig: pytest.Config,
                      operation: OperationRecord, evidence: Evidence) -> None:
    """Acquire the deploy lock."""
    _plan_only(pytestconfig)
    deploy_lock.take(pytestconfig, operation, evidence, OPERATION, DeployWarning)


def test_record_running_release(step_compose: Compose, target: Target, evidence: Evidence,
                                operation: OperationRecord, deploy_facts: DeployFacts,
                                pytestconfig: pytest.Config) -> None:
    """Record the running release."""
    try:
        before = current_release(step_compose)
    except ComposeError as exc:
        fail(f"cannot read the running release of project "
             f"{target.stack.project_name!r}: {exc} (is the Docker engine up?)")
    deploy_facts.before = before
    history = releases.load(target.stack.state_path)
    deploy_facts.previous_release = releases.serving(history) if before.services else None
    restoring = release_to_restore(pytestconfig)
    deploy_facts.release_id = restoring.id if restoring else releases.release_id(
        _release_env_value(target), git_revision(target.stack.dir).split()[0],
        before.config_sha256)
    operation.data["release"] = deploy_facts.release_id
    operation.data["previous_release"] = deploy_facts.previous_release_id or "(none recorded)"
    # What serves until the switch says otherwise: a run cut short before it states this.
    operation.data["serving"] = deploy_facts.previous_release_id or (
        "(unrecorded containers)" if before.services else "(nothing)")
    deploy_facts.version_before = _version(target) if before.services else "(nothing running)"
    operation.data["release_before"] = {
        "version": deploy_facts.version_before,
        "config_sha256": before.config_sha256,
    }
    operation.data["images_before"] = before.rows()
    evidence.add_text("running release", "\n".join(
        [f"release {deploy_facts.previous_release_id or '(none recorded)'}, "
         f"compose config sha256 {before.config_sha256}",
         *(f"{s.service}: {s.container} {s.state} {s.image_id}" for s in before.services)]))
    evidence.add_text("new release", deploy_facts.release_id + (
        f" (putting back kept release {restoring.describe()})" if restoring else ""))


def test_pre_deploy_hook(operator_hook: OperatorHook, deploy_facts: DeployFacts,
                         pytestconfig: pytest.Config) -> None:
    """Run the pre-deploy hook."""
    _plan_only(pytestconfig)
    operator_hook("pre_deploy", release=deploy_facts.release_id,
                  previous_release=deploy_facts.previous_release_id)


def test_pull(step_compose: Compose, evidence: Evidence, pytestconfig: pytest.Config) -> None:
    """Pull the images that are not built here."""
    _plan_only(pytestconfig)
    if release_to_restore(pytestconfig):
        pytest.skip("--release: the kept release's images are on the engine; nothing is "
                    "pulled")
    try:
        to_pull = deploy.images_to_pull(step_compose)
    except ComposeError as exc:
        to_pull, config_failed = {"(compose config failed)": exc.result.describe()}, True
    else:
        config_failed = False  # else let pull say why
    if not to_pull:
        evidence.add_text("pull", "every service has a build: section, so nothing is pulled "
                          "(`docker compose pull --ignore-buildable` would skip them all); "
                          "not run")
        return
    evidence.add_text("images to pull", "\n".join(f"{k}: {v}" for k, v in to_pull.items()))
    result = deploy.pull(step_compose)
    if result.ok:
        return
    failures = [] if config_failed else deploy.pull_failures(step_compose, to_pull)
    _fail_uncached_pulls(failures, evidence)
    evidence.warn(f"pull failed, the cached images are used: {result.describe()}",
                  DeployWarning)


def _fail_uncached_pulls(failures: list[deploy.PullFailure], evidence: Evidence) -> None:
    """A tag the engine does not have cannot be deployed: stop before anything changes."""
    if failures:
        evidence.add_text("pull failures", "\n".join(f.describe() for f in failures))
    missing = [f for f in failures if not f.cached]
    if missing:
        fail(f"pull failed and the tag is not on the engine, nothing was changed: "
             f"{'; '.join(f'{f.service}: {f.image}: {f.error}' for f in missing)} "
             "(start the registry or fix the image reference in the compose file, check "
             "that the tag was pushed, then rerun; or put the image on the engine by hand "
             "with docker pull or docker load)")


def test_build(step_compose: Compose, target: Target, pytestconfig: pytest.Config,
               deploy_facts: DeployFacts, evidence: Evidence) -> None:
    """Build the images."""
    _plan_only(pytestconfig)
    restoring = release_to_restore(pytestconfig)
    if restoring:
        _restore_images(step_compose, restoring, evidence)
        pytest.skip(f"--release {restoring.id}: its kept images are tagged back; "
                    "nothing is built")
    if pytestconfig.getoption("no_build"):
        pytest.skip("--no-build: deploying the images already built")
    from operations.preflight.derived import derive  # the one home of "built here"

    configured = target.deploy.build_services
    try:
        services = list(configured if configured is not None
                        else derive(step_compose.config_json()).built)
    except ComposeError as exc:
        fail(f"cannot tell which services are built here: {exc} (fix the compose files, "
             "or list them in [deploy] build_services)")
    if not services:
        pytest.skip("[deploy] build_services is empty: nothing is built here"
                    if configured is not None else
                    "no service has a build: section: nothing is built here")
    wrong = _wrong_build_targets(step_compose, services, target.deploy.build_target)
    if wrong:
        fail(f"build target is not {target.deploy.build_target!r}: {'; '.join(wrong)} "
             f"(check the compose files listed in {target.source})")
    result = deploy.build(step_compose, services)
    if not result.ok:
        fail(f"build of {', '.join(services)} failed, nothing was changed: "
             f"{result.describe()}")
    tags = deploy.tag_release(step_compose, services, releases.image_tag(
        deploy_facts.release_id))
    deploy_facts.tags = tags
    evidence.add_text("release tags", "\n".join(f"{s}: {t}" for s, t in tags.items()))


def _restore_images(compose: Compose, restoring: releases.ReleaseRecord,
                    evidence: Evidence) -> None:
    """Tag a kept release's images as the names compose runs (no build, no pull)."""
    for service, image in sorted(restoring.images.items()):
        result = docker.tag(image.image_id, image.image, compose.record)
        if not result.ok:
            fail(f"--release {restoring.id}: cannot tag {image.image_id[:19]} as "
                 f"{image.image} for {service}: {result.describe()}")
    evidence.add_text("kept images", "\n".join(
        f"{s}: {i.image} = {i.image_id}" for s, i in sorted(restoring.images.items())))


def _wrong_build_targets(compose: Compose, services: list[str], wanted: str) -> list[str]:
    config: dict[str, Any] = compose.config_json()["services"]
    build = {name: config.get(name, {}).get("build") or {} for name in services}
    return [f"{name} builds {spec['target']!r}" for name, spec in build.items()
            if isinstance(spec, dict) and spec.get("target") not in (None, wanted)]


def test_migrate(step_compose: Compose, target: Target, evidence: Evidence,
                 operation: OperationRecord, deploy_facts: DeployFacts,
                 pytestconfig: pytest.Config, db_engine_name: Engine) -> None:
    """Migrate the database."""
    _plan_only(pytestconfig)
    restoring = release_to_restore(pytestconfig)
    if restoring:
        later = releases.migrations_since(releases.load(target.stack.state_path), restoring)
        note = (f"the schema stays as it is: {', '.join(later)} applied after {restoring.id} "
                "are not undone" if later else "no migration was applied after it")
        deploy_facts.schema_note = note
        operation.data["schema_note"] = note
        pytest.skip(f"--release {restoring.id}: no migration runs ({note})")
    settings = target.deploy
    if not settings.migration_service:
        pytest.skip("no [deploy] migration_service: the target has no migration to run")
    database = settings.database_service
    if not database:
        evidence.add_text("database", "no [deploy] database_service: none is started first")
    else:
        started = deploy.start_database(step_compose, database)
        if not started.ok:
            fail(f"cannot start the database service {database!r}: {started.describe()}")
        waited = deploy.wait_database(step_compose, database, settings.database_timeout_s,
                                      readiness=readiness_argv(db_engine_name))
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


def test_plan(step_compose: Compose, target: Target, evidence: Evidence,
              operation: OperationRecord, deploy_facts: DeployFacts,
              pytestconfig: pytest.Config) -> None:
    """Plan the switch."""
    services: dict[str, Any] = step_compose.config_json().get("services") or {}
    planning = bool(pytestconfig.getoption("plan"))
    try:
        images: dict[str, str | None] = dict(tagged_image_ids(step_compose, list(services)))
    except ComposeError:
        if not planning:
            fail("an image to start is missing (build it, or drop --no-build)")
        images = {}
    if planning and not pytestconfig.getoption("no_build"):
        for name in target.deploy.build_services:
            images[name] = None  # the build decides
    running = {name: docker.service_containers(target.stack.project_name, name)
               for name in services}
    deploy_facts.plans = plan_release(target, services, step_compose.config_hashes(),
                                      images, running)
    deploy_facts.built = {k: v for k, v in images.items() if v}
    lines = [plan.describe() for plan in deploy_facts.plans]
    lines.append(f"revert to: {deploy_facts.previous_release_id or '(no recorded release)'}")
    if deploy_facts.schema_note:
        lines.append(f"schema: {deploy_facts.schema_note}")
    elif planning:
        lines.append(f"migrations: `{target.deploy.migration_service} "
                     f"{' '.join(target.deploy.migration_command)}` runs before the switch")
    operation.data["plan"] = lines
    operation.data["images_to_run"] = deploy_facts.built
    evidence.add_text("plan", "\n".join(lines))
    interrupted = [p for p in deploy_facts.plans if p.action == STOP_FIRST]
    for plan in interrupted:
        evidence.warn(f"{plan.service} is switched stop-first: it is interrupted while it "
                      f"restarts ({plan.why})", DeployWarning)
    if planning:
        show_plan(pytestconfig, f"cutover plan for release {deploy_facts.release_id}", lines)


def test_switch(step_compose: Compose, target: Target, evidence: Evidence,
                operation: OperationRecord, deploy_facts: DeployFacts,
                switch_holder: SwitchHolder, pytestconfig: pytest.Config) -> None:
    """Switch to the new release."""
    _plan_only(pytestconfig)
    if not any(p.changes for p in deploy_facts.plans):
        operation.data["serving"] = deploy_facts.release_id
        pytest.skip("every service runs the new image and config already: nothing to switch")
    switchover = Switchover(step_compose, target, deploy_facts.plans,
                            record=step_compose.record)
    switch_holder.switchover = switchover
    deploy_facts.cutover_at = _now()
    try:
        switchover.switch(lambda: release_ready(pytestconfig, deploy_facts.release_id,
                                                deploy_facts))
    except SwitchError as exc:
        _revert(switchover, str(exc), target, evidence, operation, deploy_facts)
    finally:
        evidence.add_text("switch", "\n".join(switchover.journal))
    operation.data["serving"] = deploy_facts.release_id


def _revert(switchover: Switchover, reason: str, target: Target, evidence: Evidence,
            operation: OperationRecord, facts: DeployFacts) -> None:
    """Take the new release out; fail the step with why, and what serves now."""
    _attach_container_logs(target, evidence, switchover.new_containers())
    if facts.before is None or not facts.before.services:
        facts.reverted = ""
        operation.data["failed_first_deploy"] = reason
        _record_reverted(switchover.compose, target, facts, reason, first=True)
        fail(f"{reason}\n(a first deploy: nothing served before it, so there is nothing to "
             "revert to; its containers are left for inspection, their logs attached; "
             "`docker compose down` removes them)")
    problems = switchover.revert(reason)
    previous = facts.previous_release_id or "the previous containers"
    facts.reverted = reason
    operation.data["reverted"] = reason
    operation.data["serving"] = previous
    _record_reverted(switchover.compose, target, facts, reason)
    evidence.add_text("revert", "\n".join(switchover.journal))
    tail = f"\nproblems during the revert: {'; '.join(problems)}" if problems else ""
    fail(f"reverted: {reason}; serving {previous}{tail} (the new release's logs are "
         "attached)")


def _record_reverted(compose: Compose, target: Target, facts: DeployFacts,
                     reason: str, first: bool = False) -> None:
    """The history keeps what was tried and why it was taken out (never restorable)."""
    images = {service: releases.ServiceImage(image=compose.image_name(service),
                                             image_id=image_id,
                                             tag=facts.tags.get(service, ""))
              for service, image_id in sorted(facts.built.items())}
    record = releases.ReleaseRecord(
        id=facts.release_id, at=_now(), operator=operator_name(), ticket="",
        config_sha256="", images=images, migrations_applied=tuple(facts.migrations),
        outcome=f"{releases.FAILED_PREFIX if first else releases.REVERTED_PREFIX}: "
                f"{reason.splitlines()[0][:300]}")
    history = releases.load(target.stack.state_path)
    releases.save(target.stack.state_path, releases.record_reverted(history, record))


def test_verify(step_compose: Compose, target: Target, evidence: Evidence,
                operation: OperationRecord, deploy_facts: DeployFacts,
                switch_holder: SwitchHolder, pytestconfig: pytest.Config) -> None:
    """Verify health, readiness, containers and images."""
    _plan_only(pytestconfig)
    settings = target.deploy
    problems: list[str] = []
    for probe in settings.all_probes():
        result = probes.run(probe)
        evidence.add_text(f"probe {probe.name}", result.answer.evidence())
        problems += [f"probe {probe.name!r} {probe.url}: {p}" for p in result.problems]
    switchover = switch_holder.switchover
    retired = switchover.old_containers() if switchover else set()
    waited, not_up = deploy.wait_services_up(step_compose, settings.health_timeout_s,
                                             ignore=retired)
    evidence.add_text("services", waited.describe())
    problems += [f"service {p.service}: {p.problem}" for p in not_up]
    running = current_release(step_compose, ignore=retired).image_ids()
    problems += deploy.image_mismatches(running, deploy_facts.built)
    if not problems:
        return
    _attach_logs(step_compose, target, evidence, [p.service for p in not_up])
    reason = "verification failed:\n  " + "\n  ".join(problems)
    if switchover is None:
        fail(reason)
    _revert(switchover, reason, target, evidence, operation, deploy_facts)


def test_watch(target: Target, evidence: Evidence, operation: OperationRecord,
               deploy_facts: DeployFacts, switch_holder: SwitchHolder,
               pytestconfig: pytest.Config) -> None:
    """Watch the new release."""
    _plan_only(pytestconfig)
    settings = target.deploy
    switchover = switch_holder.switchover
    if settings.watch_s <= 0:
        pytest.skip("[deploy] watch_s is 0: no watch window")
    if switchover is None or switchover.state != "switched":
        pytest.skip("nothing was switched: nothing to watch")
    access = _access_log(target)
    try:
        health = next((p for p in settings.all_probes() if p.name == "health"), None)
        result = watch(settings.watch_s, health, switchover.new_containers(), access,
                       settings.max_error_rate)
    finally:
        if access is not None:
            access.close()
    evidence.add_text("watch window", result.describe())
    operation.data["watch"] = result.describe()
    if not result.ok:
        _revert(switchover, f"watch window: {result.reason}", target, evidence, operation,
                deploy_facts)


def _access_log(target: Target) -> AccessLog | None:
    proxy = target.deploy.proxy
    if proxy is None or not proxy.access_log:
        return None
    running = [c for c in docker.service_containers(target.stack.project_name, proxy.service)
               if c.state == "running"]
    return AccessLog(running[0].name) if running else None


def test_record_new_release(step_compose: Compose, target: Target, pytestconfig: pytest.Config,
                            operation: OperationRecord, deploy_facts: DeployFacts,
                            evidence: Evidence, switch_holder: SwitchHolder) -> None:
    """Record the new release."""
    _plan_only(pytestconfig)
    switchover = switch_holder.switchover
    after = current_release(step_compose,
                            ignore=switchover.old_containers() if switchover else ())
    # From the moment the new containers began to start: a rollback exports every row the
    # new release may have written.
    cutover_at = deploy_facts.cutover_at or _now()
    version = _version(target)
    release = {"version": version, "config_sha256": after.config_sha256,
               "cutover_at": cutover_at, "id": deploy_facts.release_id}
    operation.data["release_after"] = release
    operation.data["images_after"] = after.rows()
    folder = run_dir(pytestconfig)
    history = releases.load(target.stack.state_path)
    record = releases.ReleaseRecord(
        id=deploy_facts.release_id, at=_now(), operator=operator_name(),
        ticket=pytestconfig.getoption("ticket") or "", config_sha256=after.config_sha256,
        images=_release_images(step_compose, after, deploy_facts),
        migrations_applied=tuple(deploy_facts.migrations),
        run_dir=str(folder) if folder else "")
    releases.save(target.stack.state_path, releases.record_release(history, record))
    path = write_last_deploy(target.stack.state_path, {
        **release,
        "target": target.target.name,
        "project": target.stack.project_name,
        "ticket": record.ticket,
        "operator": record.operator,
        "run_dir": record.run_dir,
        "migrations_applied": deploy_facts.migrations,
        "services": after.rows(),
        "previous": {"release": deploy_facts.previous_release_id,
                     "version": deploy_facts.version_before,
                     "services": deploy_facts.before.rows() if deploy_facts.before else []},
    })
    evidence.add_text("release record", f"{path}: {deploy_facts.release_id} ({version}), "
                      f"cutover at {cutover_at}")


def _release_images(compose: Compose, after: Release,
                    facts: DeployFacts) -> dict[str, releases.ServiceImage]:
    ids = {s.service: s.image_id for s in after.services}
    digests = image_digests(list(ids.values()), None)
    return {service: releases.ServiceImage(
                image=compose.image_name(service),
                image_id=image_id, digests=digests.get(image_id, ()),
                tag=facts.tags.get(service, ""))
            for service, image_id in sorted(ids.items())}


def test_post_deploy_hook(operator_hook: OperatorHook, deploy_facts: DeployFacts,
                          pytestconfig: pytest.Config) -> None:
    """Run the post-deploy hook."""
    _plan_only(pytestconfig)
    operator_hook("post_deploy", release=deploy_facts.release_id,
                  previous_release=deploy_facts.previous_release_id)


def test_cleanup(step_compose: Compose, target: Target, evidence: Evidence,
                 switch_holder: SwitchHolder, pytestconfig: pytest.Config) -> None:
    """Retire the previous release and remove images no kept release needs."""
    _plan_only(pytestconfig)
    switchover = switch_holder.switchover
    if switchover is not None:
        for problem in switchover.commit(target.deploy.drain_s):
            evidence.warn(f"retiring the previous release: {problem}", DeployWarning)
        evidence.add_text("retire", "\n".join(switchover.journal))
    kept = releases.kept(releases.load(target.stack.state_path), target.deploy.keep_releases)
    removed, problems = deploy.remove_unkept_images(step_compose,
                                                    releases.protected_images(kept))
    evidence.add_text("kept releases", "\n".join(r.describe() for r in kept) or "(none)")
    evidence.add_text("images removed", "\n".join(removed) or "(none)")
    for problem in problems:
        evidence.warn(f"cleanup: {problem}", DeployWarning)
    result = deploy.prune_dangling(step_compose)
    if not result.ok:
        evidence.warn(f"cleanup failed, dangling images are left: {result.describe()}",
                      DeployWarning)


@pytest.mark.finalizer
def test_post_revert_hook(operator_hook: OperatorHook, deploy_facts: DeployFacts) -> None:
    """Run the post-revert hook."""
    if not deploy_facts.reverted:
        pytest.skip("nothing was reverted")
    operator_hook("post_revert", release=deploy_facts.release_id,
                  previous_release=deploy_facts.previous_release_id)


@pytest.mark.finalizer
def test_release_lock(deploy_lock: LockHolder, evidence: Evidence) -> None:
    """Release the deploy lock."""
    deploy_lock.give_back(evidence)
