"""The running release can be put back: a deploy that fails can revert to it."""

from __future__ import annotations

import pytest

from fixtures.evidence import Evidence, fail
from operations.config import Target
from operations.deploy import releases

pytestmark = pytest.mark.preflight


def test_running_release_restorable(target: Target, evidence: Evidence) -> None:
    """running release restorable"""
    corrupt = releases.unreadable(target.stack.state_path)
    if corrupt:
        fail(f"{corrupt}; a deploy would lose the kept releases (restore the file from a "
             "backup, or move it aside to start a new history)")
    current = releases.serving(releases.load(target.stack.state_path))
    if current is None:
        evidence.add_text("running release", "none recorded in "
                          f"{target.stack.state_path / releases.HISTORY_NAME}: a first "
                          "deploy has nothing to revert to, so nothing to prove")
        return
    evidence.add_text("running release", current.describe())
    missing = current.missing_images()
    if missing:
        fail(f"the running release {current.id} is not restorable: its images were removed "
             f"({'; '.join(missing)}); a failed deploy could not revert to it (rebuild and "
             "redeploy it first)")
