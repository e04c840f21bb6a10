"""The switch plan: which services change, how each is switched, and in what order."""

from __future__ import annotations

from pathlib import Path

import msgspec

from operations.config import Target
from operations.deploy.plan import (
    NEW,
    REBUILT,
    STOP_FIRST,
    UNCHANGED,
    ZERO_DOWNTIME,
    plan_release,
    single_instance_reason,
    switch_order,
)
from operations.engine.docker import Container


def _target(tmp_path: Path) -> Target:
    return msgspec.convert({
        "target": {"name": "t"},
        "stack": {"project_dir": str(tmp_path), "project_name": "p", "compose_files": ["c.yml"]},
        "deploy": {"database_service": "db", "stop_first": ["cron"],
                   "proxy": {"service": "proxy", "reload_command": ["reload"],
                             "upstreams": {"web": 3000}}},
    }, Target)


def _running(service: str, image: str, config_hash: str, state: str = "running") -> Container:
    return Container(name=f"p-{service}-1", service=service, number=1, state=state, health="",
                     exit_code=0, restarts=0, image_id=image, config_hash=config_hash,
                     host_ports={})


def test_a_service_that_cannot_run_twice_is_named_with_why(tmp_path: Path) -> None:
    target = _target(tmp_path)
    fixed = {"ports": [{"target": 80, "published": "8080", "host_ip": "127.0.0.1"}]}
    assert "127.0.0.1:8080 is fixed" in str(single_instance_reason("web", fixed, target))
    assert "'127.0.0.1::80'" in str(single_instance_reason("web", fixed, target))
    assert "container_name 'web' is fixed" in str(
        single_instance_reason("web", {"container_name": "web"}, target))
    assert "network_mode: host" in str(
        single_instance_reason("web", {"network_mode": "host"}, target))
    assert "database" in str(single_instance_reason("db", {}, target))
    assert "proxy" in str(single_instance_reason("proxy", {}, target))
    assert "stop_first" in str(single_instance_reason("cron", {}, target))
    ephemeral = {"ports": [{"target": 3000, "published": "", "host_ip": "127.0.0.1"}]}
    assert single_instance_reason("web", ephemeral, target) is None


def test_dependencies_switch_before_their_dependants_and_the_proxy_last() -> None:
    services = {"proxy": {"depends_on": {"web": {}}}, "web": {"depends_on": {"db": {}}},
                "db": {}, "a-worker": {"depends_on": {"web": {}}},
                "loop": {"depends_on": {"loop": {}}}}
    order = switch_order(services, "proxy")
    assert order.index("db") < order.index("web") < order.index("a-worker")
    assert order[-1] == "proxy" and "loop" in order and len(order) == len(services)


def test_only_services_with_a_new_image_or_config_change(tmp_path: Path) -> None:
    target = _target(tmp_path)
    services = {"web": {}, "db": {}, "proxy": {}, "cache": {}, "new": {}}
    running = {"web": [_running("web", "img-old", "h-web")],
               "db": [_running("db", "img-db", "h-db-old")],
               "proxy": [_running("proxy", "img-proxy", "h-proxy")],
               "cache": [_running("cache", "img-cache", "h-cache", state="exited")]}
    hashes = {"web": "h-web", "db": "h-db", "proxy": "h-proxy", "cache": "h-cache",
              "new": "h-new"}
    images: dict[str, str | None] = {"web": "img-new", "db": "img-db", "proxy": "img-proxy",
                                     "cache": "img-cache", "new": "img-x"}
    plans = {p.service: p for p in plan_release(target, services, hashes, images, running)}
    assert plans["web"].action == ZERO_DOWNTIME and "new image" in plans["web"].why
    assert plans["web"].old == ("p-web-1",)
    assert plans["db"].action == STOP_FIRST and "config changed" in plans["db"].why
    assert plans["proxy"].action == UNCHANGED and not plans["proxy"].changes
    assert plans["cache"].action == NEW and plans["new"].action == NEW
    assert list(plans)[-1] == "proxy"


def test_under_plan_a_service_to_build_says_how_it_would_switch(tmp_path: Path) -> None:
    plans = plan_release(_target(tmp_path), {"web": {}, "db": {}}, {"web": "h", "db": "h"},
                         {"web": None, "db": None},
                         {"web": [_running("web", "img", "h")], "db": [_running("db", "i", "h")]})
    described = {p.service: p.describe() for p in plans}
    assert described["web"] == "web: rebuilt (then zero-downtime if the build gives a new image)"
    assert described["db"].startswith("db: rebuilt (then stop-first if the build gives a new "
                                      "image; it is the database")
    assert all(p.action == REBUILT for p in plans)
