"""`pytest -m releases`: one item per kept release, passing only if it can be put back.

The proof, before a deploy, that a revert will work: every image a kept release ran is
still on the engine, so `pytest -m deploy --release ID` needs no build and no pull.
"""

from __future__ import annotations

import pytest

from fixtures.evidence import Evidence, fail
from fixtures.target import TARGET_KEY
from operations.config import Target
from operations.deploy import releases

pytestmark = pytest.mark.releases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kept" not in metafunc.fixturenames:
        return
    target: Target = metafunc.config.stash[TARGET_KEY]
    kept = releases.kept(releases.load(target.stack.state_path), target.deploy.keep_releases)
    metafunc.parametrize("kept", kept or [None], ids=[r.id for r in kept] or ["(none)"])


def test_release_restorable(kept: releases.ReleaseRecord | None, target: Target,
                            evidence: Evidence) -> None:
    """release {kept} restorable"""
    if kept is None:
        pytest.skip(f"no release recorded yet in {target.stack.state_path} "
                    f"({releases.HISTORY_NAME}): the first deploy records one")
    evidence.add_text("release", "\n".join(
        [kept.describe(), *(f"{s}: {i.image} {i.image_id} {' '.join(i.digests)}".rstrip()
                            for s, i in sorted(kept.images.items()))]))
    missing = kept.missing_images()
    if missing:
        fail(f"release {kept.id} cannot be put back: its images were removed "
             f"({'; '.join(missing)}); redeploy it from source to keep it restorable")
