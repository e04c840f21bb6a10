"""How each service will be switched: zero-downtime, or stop-first where it cannot run twice.

A stop-first service is not a failure (the deploy may go on), but the interruption is
named here, with its fix, before anything is touched.
"""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.evidence import Evidence
from fixtures.host import FACTS_KEY
from fixtures.target import TARGET_KEY, config_cache
from operations.config import Target
from operations.deploy.plan import single_instance_reason
from operations.engine.compose import Compose, ComposeError

pytestmark = pytest.mark.preflight


class SwitchWarning(UserWarning):
    """A service will be interrupted while it is switched (it cannot run twice)."""


def _services(config: pytest.Config) -> dict[str, Any]:
    """The compose services: from the config the preflight facts read at start-up (the
    ports check waits for the same answer), else the run's cached `compose config`."""
    facts = config.stash.get(FACTS_KEY, None)
    if facts is not None:
        parsed = facts.compose_json()
        return dict((parsed or {}).get("services") or {})
    compose = Compose(config.stash[TARGET_KEY].stack, cache=config_cache(config))
    try:
        return dict(compose.config_json().get("services") or {})
    except ComposeError:
        return {}  # `docker compose config passes` reports why


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "switched_service" in metafunc.fixturenames:
        services = sorted(_services(metafunc.config))
        metafunc.parametrize("switched_service", services or ["(no services)"])


def test_switch_strategy(switched_service: str, target: Target, pytestconfig: pytest.Config,
                         evidence: Evidence) -> None:
    """service {switched_service} can be switched without downtime"""
    spec = _services(pytestconfig).get(switched_service)
    if spec is None:
        pytest.skip("no service to judge: `docker compose config passes` says why")
    reason = single_instance_reason(switched_service, spec, target)
    proxy = target.deploy.proxy
    if reason is None:
        how = ("beside its old containers, then the proxy moves to it"
               if proxy and switched_service in proxy.upstreams else
               "beside its old containers, which stop once it is healthy")
        evidence.add_text("switch", f"{switched_service}: zero-downtime ({how})")
        return
    evidence.add_text("switch", f"{switched_service}: stop-first, because {reason}")
    evidence.warn(f"service {switched_service!r} cannot run twice ({reason}): when it changes "
                  "it is switched stop-first and is interrupted while it restarts",
                  SwitchWarning)
