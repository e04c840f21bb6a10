"""Where the cutover time comes from, and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from operations.deploy.history import LAST_DEPLOY_NAME
from operations.rollback.steps import RollbackError, resolve_cutover

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def test_given_value_wins_over_the_deploy_record(tmp_path):
    (tmp_path / LAST_DEPLOY_NAME).write_text(json.dumps({"cutover_at": "2026-01-01T00:00:00Z"}))
    found = resolve_cutover("2026-01-23T12:00:00+01:00", "--cutover-timestamp", tmp_path, NOW)
    assert found.at == datetime(2026, 1, 23, 11, 0, tzinfo=UTC)
    assert found.source == "--cutover-timestamp"


def test_default_is_the_last_deploy_record(tmp_path):
    (tmp_path / LAST_DEPLOY_NAME).write_text(
        json.dumps({"cutover_at": "2026-01-23T12:00:00Z", "other": 1}))
    found = resolve_cutover(None, "", tmp_path, NOW)
    assert found.at == datetime(2026, 1, 23, 12, 0, tzinfo=UTC)
    assert found.source == str(tmp_path / LAST_DEPLOY_NAME)


@pytest.mark.parametrize(("content", "expected"), [
    (None, "no deploy record"),
    ("{not json", "cannot read"),
    ("[1, 2]", "no 'cutover_at'"),
    ('{"cutover_at": 12}', "no 'cutover_at'"),
    ('{"cutover_at": "2026-01-23 12:00"}', "has no zone"),
    ('{"cutover_at": "yesterday"}', "is not a timestamp"),
])
def test_unusable_deploy_records_say_how_to_fix(tmp_path, content, expected):
    if content is not None:
        (tmp_path / LAST_DEPLOY_NAME).write_text(content)
    with pytest.raises(RollbackError, match=expected) as raised:
        resolve_cutover(None, "", tmp_path, NOW)
    assert "ISO 8601 with a zone" in str(raised.value)


def test_a_future_cutover_is_refused(tmp_path):
    with pytest.raises(RollbackError, match="in the future"):
        resolve_cutover("2026-03-01T00:00:00Z", "$CUTOVER_TIMESTAMP", tmp_path, NOW)
