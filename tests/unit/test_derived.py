"""Values derived from `docker compose config --format json`, as compose prints it."""

from __future__ import annotations

from operations.preflight.derived import derive

CONFIG = {
    "services": {
        "web": {"build": {"context": "."}, "ports": [
            {"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "18901",
             "protocol": "tcp"},
            {"mode": "ingress", "target": 81, "published": "9000-9001", "protocol": "tcp"},
            {"mode": "ingress", "target": 53, "published": "5353", "protocol": "udp"},
            {"mode": "ingress", "host_ip": "127.0.0.1", "target": 82, "protocol": "tcp"},
        ]},
        "cache": {"image": "registry.local/cache:1", "ports": [
            {"mode": "ingress", "target": 6379, "published": 6379}]},
    },
    "secrets": {
        "db_password": {"name": "p_db_password", "file": "/srv/stack/secrets/db_password"},
        "token": {"name": "p_token", "environment": "TOKEN"},
        "shared": {"name": "shared", "external": True},
    },
}


def test_published_tcp_host_ports_not_ephemeral_or_udp() -> None:
    assert derive(CONFIG).ports == (6379, 9000, 9001, 18901)


def test_file_secrets_only() -> None:
    assert derive(CONFIG).secrets == {"db_password": "/srv/stack/secrets/db_password"}


def test_built_versus_pulled() -> None:
    derived = derive(CONFIG)
    assert (derived.built, derived.pulled) == (("web",), ("cache",))


def test_an_empty_config_derives_nothing() -> None:
    derived = derive({"services": {}})
    assert derived.ports == () and derived.secrets == {} and derived.built == ()
