"""The preflight rules: facts in, a verdict out. Each problem names the resource, the
evidence and the fix, e.g. `secret 'jwt_secret' is empty: <path> (write the value, then
rerun)`. The check items in checks/preflight/ only pick a resource and report the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from operations.config import Target
from operations.core.commands import CommandResult
from operations.engine.compose import PROJECT_LABEL
from operations.preflight.compose import parse_env_text, undefined_variables
from operations.preflight.facts import Disk, PreflightFacts

GIB_IN_KIB = 1024 * 1024
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    commands: list[CommandResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was seen, for the report row
    # Why the check does not apply to this target (nothing configured or derived to check).
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def free_disk(target: Target, disk: Disk) -> Verdict:
    verdict = Verdict(commands=[disk.command], notes=[disk.note] if disk.note else [])
    need = target.preflight.min_free_disk_gb
    if disk.facts is None:
        error = disk.command.stderr.strip() or "no output"
        verdict.problems.append(
            f"cannot measure free disk at {disk.path}: {error} (create the path, or check "
            "that `df` works on the host)"
        )
        return verdict
    free = disk.facts.free_kib / GIB_IN_KIB
    verdict.notes.append(
        f"{free:.1f} GiB free of {disk.facts.size_kib / GIB_IN_KIB:.1f} GiB on "
        f"{disk.facts.filesystem} (mounted on {disk.facts.mount}) holding {disk.path}; "
        f"need {need:g} GiB"
    )
    if free < need:
        verdict.problems.append(
            f"low disk: {free:.1f} GiB free on {disk.facts.mount} holding {disk.path}, need "
            f"{need:g} GiB (free space there, e.g. `docker system prune`, or lower "
            f"[preflight] min_free_disk_gb in {target.source})"
        )
    return verdict


def docker_daemon(facts: PreflightFacts) -> Verdict:
    answer = facts.version()
    if answer.error:
        return Verdict(problems=[
            f"docker daemon unreachable: {answer.error} (start it, e.g. `systemctl start "
            "docker` or scripts/bootstrap-engine, or fix DOCKER_HOST)"
        ])
    version: dict[str, Any] = answer.value
    return Verdict(notes=[
        f"docker engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}, "
        f"{version.get('Os', '?')}/{version.get('Arch', '?')}) at {facts.engine.endpoint.url}"
    ])


def compose_plugin(facts: PreflightFacts) -> Verdict:
    verdict = Verdict()
    cli = facts.docker_cli()
    if cli is None:
        verdict.problems.append(
            "docker CLI not found on PATH (install the docker CLI: deploys run `docker compose`)"
        )
    if facts.plugin is None:
        verdict.problems.append(
            "Docker Compose v2 plugin not found in the CLI plugin directories (install it as "
            "/usr/local/lib/docker/cli-plugins/docker-compose, e.g. scripts/bootstrap-engine)"
        )
        return verdict
    result = facts.compose_version()
    assert result is not None
    verdict.commands.append(result)
    version = result.stdout.strip()
    if not result.ok or not version.lstrip("v").startswith("2."):
        verdict.problems.append(
            f"Docker Compose plugin {facts.plugin} is not Compose v2: {result.describe()} "
            "(install the Compose v2 plugin)"
        )
    else:
        verdict.notes.append(f"docker CLI {cli}; Compose {version} ({facts.plugin})")
    return verdict


def compose_file(facts: PreflightFacts, name: str) -> Verdict:
    files = facts.files()
    path = str(facts.stack.dir / name)
    found = files.found.get(path)
    verdict = Verdict(commands=list(files.commands[:1]))
    if found is None:
        verdict.problems.append(
            f"compose file missing: {path} (restore it, or fix [stack] compose_files in "
            f"{facts.target.source})"
        )
    elif not found.is_file:
        verdict.problems.append(f"compose file is not a file: {path} is a {found.kind}")
    elif found.size == 0:
        verdict.problems.append(f"compose file is empty: {path} (restore its content)")
    return verdict


def compose_config(facts: PreflightFacts) -> Verdict:
    result = facts.compose_config()
    verdict = Verdict(commands=[result])
    if not result.ok:
        error = (result.stderr.strip() or result.stdout.strip())[-2000:]
        verdict.problems.append(
            f"`docker compose config` failed ({_status(result)}) for "
            f"{', '.join(p.name for p in facts.stack.compose_paths)}:\n{error}\n"
            "(fix the compose files where compose's error above points)"
        )
    return verdict


def _status(result: CommandResult) -> str:
    return "timed out" if result.returncode is None else f"exit {result.returncode}"


def compose_variables(facts: PreflightFacts) -> Verdict:
    texts, notes = facts.compose_texts()
    missing = undefined_variables(texts, facts.defined_variables())
    verdict = Verdict(notes=notes)
    env_file = facts.stack.env_path
    for name, files in missing.items():
        verdict.problems.append(
            f"variable {name} is used without a default in {', '.join(files)} and is not "
            f"defined (add {name}=<value> to {env_file}, or write ${{{name}:-default}})"
        )
    if not missing:
        verdict.notes.append(
            "every ${VAR} without a default in " + ", ".join(n for n, _ in texts) + " is defined"
        )
    return verdict


def secrets_dir(facts: PreflightFacts) -> Verdict:
    if not facts.stack.secrets_dir:
        return Verdict(skipped="no [stack] secrets_dir: the secret files are those the "
                               "compose files name, each checked on its own")
    files = facts.files()
    path = str(facts.stack.secrets_path)
    found = files.found.get(path)
    verdict = Verdict(commands=list(files.commands[:1]))
    if found is None:
        verdict.problems.append(
            f"secrets dir missing: {path} (create it with `mkdir -m 700 {path}` and write "
            "the secrets into it)"
        )
    elif not found.is_dir:
        verdict.problems.append(f"secrets dir is not a directory: {path} is a {found.kind}")
    return verdict


def secret(facts: PreflightFacts, name: str) -> Verdict:
    files = facts.files()
    path = facts.secret_files().get(name)
    if path is None:
        return Verdict(problems=[f"secret '{name}' is no longer in the target or the compose "
                                 "files' `secrets:` (rerun to check the current ones)"])
    found = files.found.get(path)
    verdict = Verdict(commands=list(files.commands))
    if found is None:
        verdict.problems.append(
            f"secret '{name}' is missing: {path} (write the value to it, then "
            f"`chmod 600 {path}`)"
        )
        return verdict
    if not found.is_file:
        verdict.problems.append(f"secret '{name}' is not a file: {path} is a {found.kind}")
        return verdict
    if found.size == 0:
        verdict.problems.append(f"secret '{name}' is empty: {path} (write the value, then rerun)")
    elif not files.nonblank.get(path, False):
        verdict.problems.append(
            f"secret '{name}' is blank (whitespace only): {path} (write the value, then rerun)"
        )
    if found.mode & 0o077:
        verdict.problems.append(
            f"secret '{name}' is readable by others than its owner {found.owner}: mode "
            f"{found.mode:04o} on {path} (fix: `chmod 600 {path}`)"
        )
    verdict.notes.append(f"{path}: {found.size} bytes, mode {found.mode:04o}, owner {found.owner}")
    return verdict


def env_file(facts: PreflightFacts) -> Verdict:
    result = facts.env_text()
    path = facts.stack.env_path
    required = facts.stack.required_env
    if not result.ok and not facts.stack.env_file and not required:
        return Verdict(skipped=f"no [stack] env_file and no {path.name} in {path.parent}: "
                               "compose reads no env file (variables: see the compose "
                               "variables check)")
    if not result.ok:
        error = result.stderr.strip() or f"exit {result.returncode}"
        return Verdict(commands=[_without_output(result)], problems=[
            f"env file missing or unreadable: {path}: {error} (create it with the required "
            f"variables: {', '.join(required) or 'none configured'})"
        ])
    values = parse_env_text(result.stdout)
    verdict = Verdict(commands=[_without_output(result)])
    for name in required:
        if name not in values:
            verdict.problems.append(
                f"env file {path}: required variable {name} is missing (add {name}=<value>)"
            )
        elif not values[name].strip():
            verdict.problems.append(
                f"env file {path}: required variable {name} is empty (give it a value)"
            )
    verdict.notes.append(
        f"{path}: {len(values)} variables; required present: "
        + ", ".join(n for n in required if values.get(n, "").strip())
    )
    return verdict


def _without_output(result: CommandResult) -> CommandResult:
    """The env file's values are not evidence: names are enough (and values may be secret)."""
    return CommandResult(result.argv, result.returncode, "", result.stderr, result.duration_s)


def port(facts: PreflightFacts, number: int) -> Verdict:
    """Free, or held only by this stack's own containers (a redeploy replaces them)."""
    listeners, containers = facts.listeners(), facts.containers()
    verdict = Verdict(commands=[listeners.command])
    project = facts.stack.project_name
    publishing = [c for c in containers.value or [] if number in _public_ports(c)]
    own = [c for c in publishing if _label(c, PROJECT_LABEL) == project]
    foreign = [c for c in publishing if c not in own]
    if foreign:
        verdict.problems.append(
            f"port {number} is published by another container: "
            f"{', '.join(map(_describe_container, foreign))} (stop it, or give this stack "
            f"another port in {facts.stack.env_path} and [preflight] ports)"
        )
    held = [entry for entry in listeners.found if entry.port == number]
    strangers: list[str] = []
    if held:
        owners, note = facts.socket_owners([entry.inode for entry in held])
        verdict.notes += [note] if note else []
        for entry in held:
            owner = owners.get(entry.inode)
            if publishing and owner is not None and owner.name == "docker-proxy":
                continue  # the engine's proxy for a container named above
            who = f"{owner.name} (pid {owner.pid})" if owner else "a process this user cannot see"
            strangers.append(f"{who} on {entry.address}")
    if strangers:
        unknown = f"; the engine did not answer ({containers.error})" if containers.error else ""
        verdict.problems.append(
            f"port {number} is in use by {', '.join(strangers)}{unknown} (stop it, or give "
            f"this stack another port in {facts.stack.env_path} and [preflight] ports)"
        )
    if verdict.ok:
        verdict.notes.append(
            f"port {number} is held by this stack: {', '.join(map(_describe_container, own))}"
            if own else f"port {number} is free"
        )
    return verdict


def _public_ports(container: dict[str, Any]) -> set[int]:
    return {int(p["PublicPort"]) for p in container.get("Ports") or [] if p.get("PublicPort")}


def _label(container: dict[str, Any], name: str) -> str:
    return str((container.get("Labels") or {}).get(name, ""))


def _describe_container(container: dict[str, Any]) -> str:
    name = ",".join(n.lstrip("/") for n in container.get("Names") or []) or container["Id"][:12]
    project = _label(container, PROJECT_LABEL)
    service = _label(container, COMPOSE_SERVICE_LABEL)
    owner = f" (compose project {project}, service {service})" if project else ""
    return f"container {name}{owner}"
