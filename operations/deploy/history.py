"""The deploy's record in the target's state dir: what a rollback and a later deploy read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LAST_DEPLOY_NAME = "last-deploy.json"


def write_last_deploy(state_dir: Path, record: dict[str, Any]) -> Path:
    """Write `last-deploy.json` atomically; a rollback takes `cutover_at` from it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LAST_DEPLOY_NAME
    temporary = state_dir / f".{LAST_DEPLOY_NAME}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path
