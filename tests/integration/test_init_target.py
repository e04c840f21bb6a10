"""scripts/init-target: a first cutover.toml for an existing stack, which passes preflight."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support import plainweb
from tests.support.demo import REPO, make_demo_target
from tests.support.notes import make_notes_copy

SCRIPT = REPO / "scripts" / "init-target"

def init_target(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)


def preflight(target: Path, reports: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CUTOVER_REPORTS_DIR": str(reports), "COLUMNS": "200"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-m", "preflight", "-rA",
                           f"--target={target}"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)


def plain_stack(root: Path) -> tuple[Path, int]:
    """The shared one-service stack, without its target file: init-target writes one."""
    stack, port = plainweb.plain_stack(root)
    (stack / "cutover.toml").unlink()
    return stack, port


def test_a_one_service_stack_gets_a_file_that_passes_preflight(tmp_path: Path) -> None:
    stack, port = plain_stack(tmp_path)
    done = init_target(str(stack))
    assert done.returncode == 0, done.stderr
    path = stack / "cutover.toml"
    target = tomllib.loads(path.read_text())
    assert target["stack"] == {"project_dir": ".", "project_name": "plainweb",
                               "compose_files": ["compose.yaml"]}
    assert target["deploy"] == {"health_url": f"http://127.0.0.1:{port}/healthz"}
    text = path.read_text()
    assert f"# ports = [{port}]" in text and '# build_services = ["web"]' in text
    checked = preflight(path, tmp_path / "reports")
    assert checked.returncode == 0, checked.stdout
    assert f"PASSED checks/preflight/test_ports.py::test_port[port {port}]" in checked.stdout
    assert "SKIPPED [1] checks/preflight/test_env.py" in checked.stdout


def test_it_refuses_to_overwrite(tmp_path: Path) -> None:
    stack, _ = plain_stack(tmp_path)
    (stack / "cutover.toml").write_text("# mine\n")
    done = init_target(str(stack))
    assert done.returncode == 1 and "exists; not overwritten" in done.stderr
    assert (stack / "cutover.toml").read_text() == "# mine\n"


def test_without_a_healthcheck_it_says_what_to_fill_in(tmp_path: Path) -> None:
    stack, _ = plain_stack(tmp_path)
    compose = stack / "compose.yaml"
    compose.write_text(compose.read_text().split("    healthcheck:")[0])
    out = tmp_path / "elsewhere" / "target.toml"
    out.parent.mkdir()
    assert init_target(str(stack), "--output", str(out)).returncode == 0
    target = tomllib.loads(out.read_text())
    assert target["stack"]["project_dir"] == "../plainweb" and "deploy" in target
    assert "health_url" not in target["deploy"]
    assert '# health_url = "http://127.0.0.1:<port>/<path>"' in out.read_text()


def test_the_demo_stack_gets_a_file_that_passes_preflight(tmp_path: Path) -> None:
    demo = make_demo_target(tmp_path)  # never started: nothing to tear down
    out = tmp_path / "init.toml"
    done = init_target(str(demo.stack_dir), "--output", str(out))
    assert done.returncode == 0, done.stderr
    target = tomllib.loads(out.read_text())
    assert target["stack"]["env_file"] == ".env.production"
    assert "compose.production.yaml" in out.read_text()  # named as another file found
    assert "jwt_secret = secrets/jwt_secret" in out.read_text()
    checked = preflight(out, tmp_path / "reports")
    assert checked.returncode == 0, checked.stdout
    assert "PASSED checks/preflight/test_secrets.py::test_secret[jwt_secret]" in checked.stdout


def test_the_notes_example_gets_a_file_that_passes_preflight(tmp_path: Path,
                                                               monkeypatch) -> None:
    """The second example (a pulled image, a one-shot init job), never started."""
    copy = make_notes_copy(tmp_path, registry="127.0.0.1:5999")
    for name, value in copy.env("v1").items():
        monkeypatch.setenv(name, value)  # its compose file reads them, as an operator's shell
    (copy.stack / "cutover.toml").unlink()  # the example's own: init-target writes a new one
    done = init_target(str(copy.stack))
    assert done.returncode == 0, done.stderr
    text = (copy.stack / "cutover.toml").read_text()
    assert '# build_services = ["init"]' in text, text
    checked = preflight(copy.stack / "cutover.toml", tmp_path / "reports")
    assert checked.returncode == 0, checked.stdout
    assert f"PASSED checks/preflight/test_ports.py::test_port[port {copy.port}]" in checked.stdout
