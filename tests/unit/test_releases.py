"""Release identity and history: ids, tags, kept releases, and what a put-back keeps."""

from __future__ import annotations

import stat
from pathlib import Path

from operations.config import Proxy
from operations.deploy import releases
from operations.deploy.proxy import upstreams_env, upstreams_variable


def _record(release: str, outcome: str = releases.SERVING, at: str = "t",
            migrations: tuple[str, ...] = ()) -> releases.ReleaseRecord:
    return releases.ReleaseRecord(
        id=release, at=at, operator="ops", ticket="CHG-1", config_sha256="c",
        images={"web": releases.ServiceImage("p-web", f"sha256:{release}")},
        migrations_applied=migrations, outcome=outcome)


def test_the_release_id_is_the_variable_else_revision_and_config_hash() -> None:
    assert releases.release_id("2.0.0", "abc", "f" * 64) == "2.0.0"
    assert releases.release_id("", "0123456789abcdef", "fedcba98" + "0" * 56) \
        == "0123456789ab-fedcba98"
    assert releases.image_tag("v2/with space+plus") == "v2_with_space_plus"


def test_a_new_release_replaces_the_serving_one_and_reverted_ones_are_not_kept() -> None:
    history = releases.record_release([], _record("1"))
    history = releases.record_release(history, _record("2"))
    history = releases.record_reverted(history, _record("3-broken", "reverted: unhealthy"))
    assert [r.outcome for r in history] == ["replaced", "serving", "reverted: unhealthy"]
    assert releases.serving(history) is not None and releases.serving(history).id == "2"
    assert [r.id for r in releases.kept(history, 5)] == ["2", "1"]
    assert [r.id for r in releases.kept(history, 1)] == ["2"]
    assert releases.find(history, "previous", 5).id == "1"  # type: ignore[union-attr]
    assert releases.find(history, "3-broken", 5) is None
    assert releases.find(history, "1", 1) is None  # beyond keep_releases: pruned


def test_a_release_put_back_counts_once_by_its_newest_record() -> None:
    history = releases.record_release([], _record("1", at="a"))
    history = releases.record_release(history, _record("2", at="b"))
    history = releases.record_release(history, _record("1", at="c"))
    kept = releases.kept(history, 5)
    assert [(r.id, r.at) for r in kept] == [("1", "c"), ("2", "b")]
    assert releases.find(history, "previous", 5).id == "2"  # type: ignore[union-attr]


def test_putting_back_an_old_release_names_the_migrations_it_keeps() -> None:
    history = [_record("1", releases.REPLACED, migrations=("0001.sql",)),
               _record("2", migrations=("0002.sql",))]
    assert releases.migrations_since(history, history[0]) == ["0002.sql"]
    assert releases.migrations_since(history, history[1]) == []


def test_the_history_round_trips_owner_only(tmp_path: Path) -> None:
    history = releases.record_release([], _record("1"))
    path = releases.save(tmp_path / "state", history)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert releases.load(tmp_path / "state") == history
    assert releases.protected_images(history) == {"sha256:1"}
    assert releases.load(tmp_path / "missing") == []


def test_the_proxy_gets_one_variable_per_proxied_service() -> None:
    proxy = Proxy(service="caddy", reload_command=("reload",),
                  upstreams={"backend": 3000, "admin-ui": 8080})
    assert upstreams_variable("admin-ui") == "CUTOVER_UPSTREAMS_ADMIN_UI"
    env = upstreams_env(proxy, {"backend": ["p-backend-1", "p-backend-2"], "admin-ui": []})
    assert env == {"CUTOVER_UPSTREAMS_BACKEND": "p-backend-1:3000 p-backend-2:3000"}
