"""The secrets dir, and each required secret: present, not blank, owner-only."""

from __future__ import annotations

import pytest

from operations.preflight import rules as checks

pytestmark = pytest.mark.preflight


def test_secrets_dir(preflight, conclude):
    """secrets dir present"""
    conclude(checks.secrets_dir(preflight))


def test_secret(secret_name, preflight, conclude):
    """secret {secret_name} present, not blank, owner-only"""
    conclude(checks.secret(preflight, secret_name))
