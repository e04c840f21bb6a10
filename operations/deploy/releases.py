"""Release identity and history: `<state_dir>/releases.json`, newest last.

A release is named by the value of `[deploy] release_env` (e.g. APP_VERSION), else by the
stack's git revision and the config hash. Every built image is also tagged with that id,
so a kept release can be put back without a build; `keep_releases` releases that served
are kept, and cleanup removes no image one of them needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from operations.core.files import private_dir, write_private_text
from operations.engine.docker import image_exists

HISTORY_NAME = "releases.json"
SERVING = "serving"
REPLACED = "replaced"
# Outcomes of releases that never served: not kept, their images not protected.
REVERTED_PREFIX = "reverted"
FAILED_PREFIX = "failed"  # a first deploy that failed: nothing to revert to
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class ServiceImage:
    image: str  # the name compose runs it as, e.g. <project>-backend
    image_id: str
    digests: tuple[str, ...] = ()
    tag: str = ""  # <image>:<release tag>, for built images


@dataclass(frozen=True)
class ReleaseRecord:
    id: str
    at: str
    operator: str
    ticket: str
    config_sha256: str
    images: dict[str, ServiceImage]
    migrations_applied: tuple[str, ...] = ()
    outcome: str = SERVING
    run_dir: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def served(self) -> bool:
        return not self.outcome.startswith((REVERTED_PREFIX, FAILED_PREFIX))

    def missing_images(self) -> list[str]:
        """Images of this release that are no longer on the engine."""
        return [f"{service}: {image.image_id[:19]}" for service, image in
                sorted(self.images.items()) if not image_exists(image.image_id)]

    def describe(self) -> str:
        who = f"by {self.operator}" + (f", ticket {self.ticket}" if self.ticket else "")
        return f"{self.id} ({self.at}, {who}, {self.outcome})"


def release_id(env_value: str, git_revision: str, config_sha256: str) -> str:
    """The release's name: the release variable's value, else revision + config hash."""
    if env_value:
        return env_value
    revision = git_revision[:12] or "norev"
    return f"{revision}-{config_sha256[:8]}"


def image_tag(release: str) -> str:
    """A Docker tag for the release id (tags allow [A-Za-z0-9_.-], 128 characters)."""
    return _TAG_UNSAFE.sub("_", release)[:128] or "release"


def load(state_dir: Path) -> list[ReleaseRecord]:
    """The history, oldest first; a missing or unreadable file is an empty history."""
    try:
        raw = json.loads((state_dir / HISTORY_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    rows = raw.get("releases") if isinstance(raw, dict) else None
    return [_record(row) for row in rows or [] if isinstance(row, dict)]


def unreadable(state_dir: Path) -> str:
    """Why an existing history file cannot be read ("" when it reads, or is absent): `load`
    reads it as empty, and a deploy would then write a new history over it."""
    path = state_dir / HISTORY_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as exc:
        return f"release history {path} is unreadable: {exc}"
    rows = raw.get("releases") if isinstance(raw, dict) else None
    if not isinstance(rows, list) or not all(
            isinstance(row, dict) and isinstance(row.get("images", {}), dict) for row in rows):
        return f"release history {path} is not a list of releases under 'releases'"
    return ""


def _record(row: Mapping[str, Any]) -> ReleaseRecord:
    images = {str(service): ServiceImage(image=str(spec.get("image", "")),
                                         image_id=str(spec.get("image_id", "")),
                                         digests=tuple(spec.get("digests") or ()),
                                         tag=str(spec.get("tag", "")))
              for service, spec in (row.get("images") or {}).items()}
    return ReleaseRecord(
        id=str(row.get("id", "")), at=str(row.get("at", "")),
        operator=str(row.get("operator", "")), ticket=str(row.get("ticket", "")),
        config_sha256=str(row.get("config_sha256", "")), images=images,
        migrations_applied=tuple(row.get("migrations_applied") or ()),
        outcome=str(row.get("outcome", SERVING)), run_dir=str(row.get("run_dir", "")),
        notes=tuple(row.get("notes") or ()),
    )


def save(state_dir: Path, history: Sequence[ReleaseRecord]) -> Path:
    private_dir(state_dir)
    text = json.dumps({"releases": [asdict(r) for r in history]}, indent=2) + "\n"
    return write_private_text(state_dir / HISTORY_NAME, text)


def record_release(history: Sequence[ReleaseRecord], new: ReleaseRecord) -> list[ReleaseRecord]:
    """The history with `new` appended; a release that served before it is `replaced`."""
    updated = [_replace_outcome(r, REPLACED) if r.outcome == SERVING else r for r in history]
    return [*updated, new]


def record_reverted(history: Sequence[ReleaseRecord],
                    new: ReleaseRecord) -> list[ReleaseRecord]:
    """The history with a release that was taken out again: the serving one stays."""
    return [*history, new]


def _replace_outcome(record: ReleaseRecord, outcome: str) -> ReleaseRecord:
    return ReleaseRecord(**{**record.__dict__, "outcome": outcome})


def serving(history: Sequence[ReleaseRecord]) -> ReleaseRecord | None:
    return next((r for r in reversed(history) if r.outcome == SERVING), None)


def kept(history: Sequence[ReleaseRecord], keep: int) -> list[ReleaseRecord]:
    """The newest `keep` releases that served (newest first, each id once: a release put
    back again counts by its newest record): these stay restorable."""
    found: dict[str, ReleaseRecord] = {}
    for record in reversed(history):
        if record.served and record.id not in found:
            found[record.id] = record
    return list(found.values())[:keep]


def find(history: Sequence[ReleaseRecord], wanted: str, keep: int) -> ReleaseRecord | None:
    """A kept release by id; `previous` is the newest kept one before the serving one."""
    candidates = kept(history, keep)
    if wanted == "previous":
        current = serving(history)
        older = [r for r in candidates if current is None or r.id != current.id]
        return older[0] if older else None
    return next((r for r in candidates if r.id == wanted), None)


def protected_images(history: Iterable[ReleaseRecord]) -> set[str]:
    return {image.image_id for record in history for image in record.images.values()}


def migrations_since(history: Sequence[ReleaseRecord], release: ReleaseRecord) -> list[str]:
    """Migrations applied by releases deployed after `release`: putting it back keeps them."""
    later = False
    found: list[str] = []
    for record in history:
        if later:
            found += record.migrations_applied
        later = later or record is release or (record.id == release.id and record.at ==
                                                release.at)
    return found
