"""The cutover time the export starts from: known, ISO 8601 with a zone, not in the future."""

from __future__ import annotations

import pytest

from fixtures.rollback import require_cutover

pytestmark = pytest.mark.rollback


def test_cutover_timestamp_known(cutover_time, evidence):
    """The cutover timestamp is known and valid."""
    cutover = require_cutover(cutover_time)
    evidence.add_text("cutover timestamp", f"{cutover.at.isoformat()} (from {cutover.source})")
