"""Post-deploy checks get one item per compose service, named after it."""

from __future__ import annotations

import pytest

from fixtures.gate import run_phases
from fixtures.target import TARGET_KEY, config_cache
from operations.engine.compose import Compose, ComposeError

CONFIG_TIMEOUT_S = 30.0


def _may_run(config: pytest.Config) -> bool:
    """Whether the run has post-deploy items; asking compose costs ~0.4 s otherwise."""
    return "postdeploy" in run_phases(config).phases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "service" not in metafunc.fixturenames:
        return
    if not _may_run(metafunc.config):
        metafunc.parametrize("service", ["(deselected)"])
        return
    compose = Compose(metafunc.config.stash[TARGET_KEY].stack,
                      cache=config_cache(metafunc.config))
    try:
        services = compose.services()
    except ComposeError as exc:
        # The item fails with the evidence instead of the whole collection erroring.
        services = [f"(compose config failed: {exc.result.describe()[:300]})"]
    metafunc.parametrize("service", services)
