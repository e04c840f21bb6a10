"""The deploy's record in the target's state dir: what a rollback and a later deploy read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from operations.core.files import private_dir, write_private_text

LAST_DEPLOY_NAME = "last-deploy.json"


def write_last_deploy(state_dir: Path, record: dict[str, Any]) -> Path:
    """Write `last-deploy.json` atomically, owner-only (the state dir too); a rollback takes
    `cutover_at` from it."""
    private_dir(state_dir)
    text = json.dumps(record, indent=2, default=str) + "\n"
    return write_private_text(state_dir / LAST_DEPLOY_NAME, text)
