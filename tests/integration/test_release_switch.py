"""The promise of a deploy, on a real engine with the demo's real proxy, under real load.

One private copy of the demo serves the whole module (a deploy of the demo costs seconds,
its first build much more): the tests run in file order from the state the one before
left, and each states what it starts from. The load is bounded and goes to loopback only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.demo import REPO, DemoTarget, make_demo_target
from tests.support.load import Load, LoadResult, mint_token

MIN_REQUESTS = 2000  # the load spans the whole deploy and counts at least this many


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTarget]:
    demo = make_demo_target(tmp_path_factory.mktemp("switch"))
    try:
        demo.set_env("APP_VERSION", "1.0.0")
        first = demo.run_cutover("-m", "deploy")
        assert first.returncode == 0, first.stdout[-3000:]
        yield demo
    finally:
        demo.down()


def _serving(demo: DemoTarget) -> str:
    return str(requests.get(f"{demo.proxy_url}/health", timeout=5).json()["version"])


def _manifest(demo: DemoTarget) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((demo.latest_run() / "manifest.json").read_text())
    return loaded


def _deploy_under_load(demo: DemoTarget, version: str, *args: str,
                       clients: int = 4) -> tuple[subprocess.CompletedProcess[str], LoadResult]:
    """Deploy `version` while clients hit the proxy, from before the start to after the end
    (and on until MIN_REQUESTS were sent, if the deploy was quicker)."""
    token = mint_token(demo)
    demo.set_env("APP_VERSION", version)
    with Load(demo, token, clients=clients) as load:
        time.sleep(0.5)
        run = demo.run_cutover("-m", "deploy", *args)
        time.sleep(0.5)
        deadline = time.monotonic() + 60
        while load.result.requests < MIN_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.1)
    print(f"{version}: {load.result.describe()}; deploy exit {run.returncode}")
    return run, load.result


def _rows_with_ids(demo: DemoTarget, ids: list[int]) -> int:
    listed = ",".join(str(i) for i in ids) or "0"
    done = demo.compose("exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "freshtrack",
                        "-Atc", f"SELECT count(*) FROM sensor_readings WHERE id IN ({listed})")
    return int(done.stdout.strip())


def _backend_containers(demo: DemoTarget) -> dict[str, str]:
    """Container id -> state of the backend containers, running or not."""
    done = subprocess.run(
        ["docker", "ps", "--all", "--filter", f"label=com.docker.compose.project={demo.project}",
         "--filter", "label=com.docker.compose.service=backend",
         "--filter", "label=com.docker.compose.oneoff=False", "--format",
         "{{.ID}} {{.State}}"], capture_output=True, text=True, check=True, timeout=30)
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def test_v1_to_v2_under_load_fails_no_request_and_keeps_every_write(stack: DemoTarget) -> None:
    run, load = _deploy_under_load(stack, "2.0.0")
    assert run.returncode == 0, run.stdout[-3000:]
    assert load.requests >= MIN_REQUESTS
    assert load.failed == 0, load.failures
    assert load.written_ids and _rows_with_ids(stack, load.written_ids) == len(load.written_ids)
    assert _serving(stack) == "2.0.0"
    data = _manifest(stack)["data"]
    assert isinstance(data, dict)
    assert data["serving"] == "2.0.0" and data["previous_release"] == "1.0.0"
    assert any("backend: zero-downtime" in line for line in data["plan"])
    assert len(_backend_containers(stack)) == 1  # the old one was drained and removed


def test_a_broken_release_under_load_is_reverted_without_a_failed_request(
        stack: DemoTarget) -> None:
    """From 2.0.0 serving: 3.0.0-broken never turns healthy and never gets a request."""
    run, load = _deploy_under_load(stack, "3.0.0-broken")
    assert run.returncode == 1
    assert load.failed == 0, load.failures
    assert _serving(stack) == "2.0.0"
    message = re.search(r"reverted: .*", run.stdout)
    assert message and "never turned healthy" in message.group(0)
    assert "serving 2.0.0" in message.group(0)
    data = _manifest(stack)["data"]
    assert isinstance(data, dict)
    assert "never turned healthy" in data["reverted"] and data["serving"] == "2.0.0"
    assert "reverted:" in (stack.latest_run() / "report.html").read_text()
    assert len(_backend_containers(stack)) == 1
    history = json.loads((stack.stack_dir / ".cutover/releases.json").read_text())
    assert history["releases"][-1]["outcome"].startswith("reverted: ")


def test_a_release_failing_under_traffic_is_reverted_within_the_watch_window(
        stack: DemoTarget) -> None:
    """From 2.0.0 serving: 4.0.0-degrading turns healthy, then fails 1 in 4 API requests."""
    text = stack.target_file.read_text()
    stack.target_file.write_text(re.sub(r"(?m)^watch_s = .*$", "watch_s = 10", text))
    try:
        run, load = _deploy_under_load(stack, "4.0.0-degrading")
    finally:
        stack.target_file.write_text(text)
    assert run.returncode == 1
    data = _manifest(stack)["data"]
    assert isinstance(data, dict)
    assert "watch window: proxy error rate" in data["reverted"], data.get("reverted")
    assert _serving(stack) == "2.0.0"
    share = load.failed / load.requests
    print(f"failing-under-traffic release: {load.failed} of {load.requests} requests failed "
          f"({share:.2%}) before the revert; watch: {data['watch']}")
    assert load.failed > 0 and share < 0.01, load.describe()


def test_plan_prints_the_switch_and_touches_nothing(stack: DemoTarget) -> None:
    """From 2.0.0 serving: --plan for 5.0.0 changes no container and no image."""
    stack.set_env("APP_VERSION", "5.0.0")
    before = _backend_containers(stack)
    images = _project_images(stack)
    run = stack.run_cutover("-m", "deploy", "--plan")
    stack.set_env("APP_VERSION", "2.0.0")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "cutover plan for release 5.0.0" in run.stdout
    assert "backend: rebuilt (then zero-downtime if the build gives a new image)" in run.stdout
    assert "revert to: 2.0.0" in run.stdout
    assert _backend_containers(stack) == before
    assert _project_images(stack) == images
    assert _serving(stack) == "2.0.0"


def _project_images(demo: DemoTarget) -> str:
    """The images compose runs for this copy's services (others may build meanwhile)."""
    return subprocess.run(["docker", "images", "--no-trunc", "--format",
                           "{{.Repository}} {{.ID}}", "--filter",
                           f"reference={demo.project}-*:latest"], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def test_release_previous_puts_the_earlier_release_back_in_seconds(stack: DemoTarget) -> None:
    """From 2.0.0 serving: 1.0.0 serves again, zero-downtime, without a build."""
    token = mint_token(stack)
    seen: list[float] = []
    with Load(stack, token) as load:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", f"--target={stack.target_file}", "-m", "deploy",
             "--release", "previous"], cwd=REPO, env=_env(stack), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        while process.poll() is None and time.monotonic() - started < 120:
            if not seen and _serving_quietly(stack) == "1.0.0":
                seen.append(time.monotonic() - started)
            time.sleep(0.02)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output[-3000:]
    assert _serving(stack) == "1.0.0"
    assert load.result.failed == 0, load.result.failures
    print(f"--release previous: 1.0.0 answering through the proxy after {seen[0]:.2f}s")
    assert seen and seen[0] <= 5.0


def _serving_quietly(demo: DemoTarget) -> str | None:
    try:
        return _serving(demo)
    except (requests.RequestException, ValueError, KeyError):
        return None


def _env(demo: DemoTarget) -> dict[str, str]:
    env = {**os.environ, "CUTOVER_REPORTS_DIR": str(demo.reports_dir), "COLUMNS": "200"}
    for name in ("CUTOVER_TARGET", "CUTOVER_TIMESTAMP", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    return env


def test_releases_fails_the_row_of_a_release_whose_image_was_removed(
        stack: DemoTarget) -> None:
    """From 1.0.0 serving, 2.0.0 kept: its backend image removed by hand."""
    history = json.loads((stack.stack_dir / ".cutover/releases.json").read_text())
    kept_v2 = next(r for r in reversed(history["releases"]) if r["id"] == "2.0.0")
    subprocess.run(["docker", "image", "rm", "--force", kept_v2["images"]["backend"]["image_id"]],
                   check=True, capture_output=True, timeout=60)
    run = stack.run_cutover("-m", "releases", "-rA")
    assert run.returncode == 1
    assert re.search(r"FAILED .*test_release_restorable\[2\.0\.0\].*cannot be put back", run.stdout)
    assert re.search(r"PASSED .*test_release_restorable\[1\.0\.0\]", run.stdout)
    refused = stack.run_cutover("-m", "deploy", "--release", "2.0.0")
    assert refused.returncode == 4
    assert "no longer restorable" in refused.stderr and "kept: 1.0.0" in refused.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_switch_leaves_exactly_one_release_serving(stack: DemoTarget,
                                                                signum: int) -> None:
    """From 1.0.0 serving: the run is signalled once the new backend has started."""
    stack.set_env("APP_VERSION", "6.0.0")
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--target={stack.target_file}", "-m", "deploy"],
        cwd=REPO, env=_env(stack), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(_backend_containers(stack)) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0][-3000:]
        time.sleep(0.05)
    process.send_signal(signum)
    output = process.communicate(timeout=180)[0]
    stack.set_env("APP_VERSION", "1.0.0")
    assert process.returncode == 2, output[-3000:]
    containers = _backend_containers(stack)
    assert list(containers.values()) == ["running"], containers
    data = _manifest(stack)["data"]
    assert isinstance(data, dict)
    serving = _serving(stack)
    assert str(data["serving"]).startswith(serving), (data["serving"], serving)
