"""The rollback, as ordered steps: each test is one step, its docstring's first line its name.

The phase gate runs them in file order after the rollback checks (checks/rollback/),
blocks them all when a check failed, and marks the rest `not run` after a failed step or
a "no" from the operator. The rollback deletes nothing: it stops services, exports the
rows created since the cutover, backs up the database, and tells people.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import psycopg
import pytest

from fixtures.evidence import fail
from fixtures.extensions import notify_all
from fixtures.gate import operator_name
from fixtures.operation import MARKDOWN_NAMES, save
from fixtures.reporting import run_dir
from fixtures.rollback import require_cutover
from operations.db.engines import backup_name, open_engine
from operations.db.protocol import DatabaseError
from operations.rollback import notify
from operations.rollback.backup import BackupError
from operations.rollback.confirm import NoTerminal
from operations.rollback.export import ExportError
from operations.rollback.steps import RollbackError, stop_services

OPERATION = "rollback"
pytestmark = pytest.mark.rollback


class RollbackWarning(UserWarning):
    """The rollback went on despite a problem (a failed notification, a fallback count)."""


def _confirm(confirmer, operation, question: str) -> None:
    """Ask; a "no" ends the rollback here: this step fails, the rest are not run."""
    __tracebackhide__ = True
    try:
        answer = confirmer.ask(question)
    except NoTerminal as exc:
        fail(str(exc))
    operation.data["confirmations"] = [a.as_dict() for a in confirmer.answers]
    if not answer.confirmed:
        operation.data["declined"] = answer.as_dict()
        fail(f"declined: the operator answered no ({answer.how}) to {question!r}; "
             "the rollback ends here and nothing more is changed")


def _manifest_path(pytestconfig) -> Path:
    folder = run_dir(pytestconfig)
    return (folder / MARKDOWN_NAMES["rollback"]) if folder else Path(MARKDOWN_NAMES["rollback"])


def test_confirm(target, cutover_time, confirmer, operation, rollback_export_dir,
                 rollback_reason, announce, rollback_facts):
    """Confirm the rollback with the operator."""
    cutover = require_cutover(cutover_time)
    rollback_facts.cutover_at = cutover.at.isoformat()
    operation.data["cutover_timestamp"] = rollback_facts.cutover_at
    operation.data["cutover_timestamp_source"] = cutover.source
    operation.data["reason"] = rollback_reason
    operation.data["export_dir"] = str(rollback_export_dir)
    try:
        # Before anything is touched: a run that cannot ask must not start.
        confirmer.require_terminal()
    except NoTerminal as exc:
        fail(str(exc))
    rollback = target.rollback
    data = (f"  export rows of {', '.join(rollback.tables)} created after "
            f"{cutover.at.isoformat()} (from {cutover.source})\n"
            f"  back up database {rollback.database.name!r} to {rollback_export_dir}\n"
            if rollback.database else "  no [rollback.database]: nothing is exported\n")
    announce(f"Rollback of {target.target.name}; reason: {rollback_reason}\n"
             f"  stop {', '.join(rollback.stop_services)}\n"
             f"{data}  nothing is deleted")
    _confirm(confirmer, operation, f"Proceed with the rollback of {target.target.name}?")


def test_acquire_lock(deploy_lock, pytestconfig, operation, evidence):
    """Acquire the target's lock."""
    # The deploy's lock: a rollback never runs beside a deploy or another rollback.
    deploy_lock.take(pytestconfig, operation, evidence, OPERATION, RollbackWarning)


def test_pre_rollback_hook(operator_hook):
    """Run the pre-rollback hook."""
    operator_hook("pre_rollback")


def test_stop_services(target, confirmer, operation, evidence, step_compose):
    """Stop the services."""
    services = target.rollback.stop_services
    _confirm(confirmer, operation, f"Stop {', '.join(services)}?")
    try:
        stopped = stop_services(step_compose, services)
    except RollbackError as exc:
        fail(str(exc))
    operation.data["services"] = [s.as_dict() for s in stopped]
    evidence.add_text("services", "\n".join(f"{s.service}: {s.action} (was {s.before})"
                                            for s in stopped))


def test_export(target, cutover_time, confirmer, operation, evidence, db_engine,
                rollback_export_dir, rollback_facts):
    """Export the rows created since the cutover."""
    cutover = require_cutover(cutover_time)
    rollback = target.rollback
    _confirm(confirmer, operation,
             f"Export rows of {', '.join(rollback.tables)} created after "
             f"{cutover.at.isoformat()} to {rollback_export_dir}?")
    try:
        exported = db_engine.export(rollback.tables, rollback.timestamp_column, cutover.at,
                                    rollback_export_dir,
                                    warn=partial(evidence.warn, category=RollbackWarning))
    except (DatabaseError, ExportError, OSError) as exc:
        fail(f"export to {rollback_export_dir} failed: {exc}")
    except psycopg.Error as exc:
        fail(f"export to {rollback_export_dir} failed: database error: "
             f"{str(exc).strip()} (the database is unchanged; fix and rerun)")
    rollback_facts.tables = [(e.table, e.rows) for e in exported]
    operation.data["tables"] = [e.as_dict() for e in exported]
    evidence.add_text("export", "\n".join(f"{e.table}: {e.rows} rows, {e.bytes} bytes, "
                                          f"sha256 {e.sha256}, {e.file}" for e in exported))


def test_backup(target, operation, evidence, rollback_export_dir, step_compose,
                db_engine_name):
    """Back up the whole database."""
    database = target.rollback.database
    if database is None:
        pytest.skip("no [rollback.database] in the target: no database to back up")
    postgres = db_engine_name == "postgresql"
    tool = "pg_dump" if postgres else f"{db_engine_name} dump"
    if not target.deploy.database_service:
        fail(f"[rollback.database] is set but [deploy] database_service is not: {tool} "
             f"runs in the database's container (set it in {target.source})")
    path = rollback_export_dir / backup_name(db_engine_name, database)
    engine = open_engine(db_engine_name, database, lambda: None)  # the dump needs no driver
    try:
        backup = engine.backup(step_compose, target.deploy.database_service, path,
                               record=evidence.commands)
    except BackupError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"backup to {path} failed: {exc} (check the export directory)")
    operation.data["backup"] = backup.as_dict()
    proof = (f"{backup.toc_entries} archive entries (pg_restore --list)" if postgres else
             "restored into a scratch database, equal row counts: "
             + ", ".join(f"{t} {n}" for t, n in backup.table_rows.items()))
    evidence.add_text("backup", f"{backup.file}: {backup.bytes} bytes, sha256 {backup.sha256},"
                                f" {proof}")


def test_dns_guidance(target, confirmer, operation, evidence, announce):
    """Give the DNS guidance."""
    guidance = target.rollback.dns_guidance.strip()
    if not guidance:
        operation.data["dns_guidance"] = "(none configured in [rollback] dns_guidance)"
        evidence.add_text("DNS guidance", "none configured")
        return
    operation.data["dns_guidance"] = guidance
    evidence.add_text("DNS guidance", guidance)
    announce(f"DNS guidance:\n{guidance}")
    _confirm(confirmer, operation, "Have the DNS changes been initiated?")


def test_notify(target, pytestconfig, operation, evidence, rollback_reason, rollback_facts):
    """Notify the team."""
    variable = target.notify.slack_webhook_env
    summary = notify.RollbackSummary(
        target=target.target.name, operator=operator_name(), reason=rollback_reason,
        cutover_timestamp=rollback_facts.cutover_at, tables=rollback_facts.tables,
        manifest=str(_manifest_path(pytestconfig)), ticket=operation.ticket,
    )
    # Slack is the built-in channel; a team's conftest may add others (fixtures/hookspecs.py).
    deliveries = notify_all(pytestconfig, "rollback", summary)
    if not deliveries:
        operation.data["notification"] = f"not sent: ${variable} is not set"
        pytest.skip(f"notification not sent: ${variable} is not set")
    operation.data["notification"] = "; ".join(d.describe() for d in deliveries)
    evidence.add_text("notification", "\n".join(d.describe() for d in deliveries))
    for failed in (d for d in deliveries if not d.sent):
        evidence.warn(f"notification {failed.describe()} failed; the rollback goes on: tell "
                      "the team by hand", RollbackWarning)


def test_post_rollback_hook(operator_hook):
    """Run the post-rollback hook."""
    operator_hook("post_rollback")


@pytest.mark.finalizer
def test_release_lock(deploy_lock, evidence):
    """Release the target's lock."""
    deploy_lock.give_back(evidence)


@pytest.mark.finalizer
def test_write_manifest(pytestconfig, operation, redactor):
    """Write the rollback manifest."""
    folder = run_dir(pytestconfig)
    if folder is None:
        fail("no run directory: the manifest has nowhere to go (run `pytest -m rollback`)")
    save(pytestconfig)
    for name in ("manifest.json", MARKDOWN_NAMES["rollback"]):
        path = folder / name
        if not path.is_file():
            fail(f"manifest {path} was not written (check the reports directory)")
        if redactor.contains_secret(path.read_text(encoding="utf-8")):
            fail(f"manifest {path} holds a secret value (a redaction bug; do not share it)")
