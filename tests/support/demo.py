"""Isolated copies of the demo target for integration tests.

Each copy has its own compose project name, free host ports, secrets, env file and a
cutover.toml that points at it, so copies run side by side with each other and with a demo
stack an operator left running on the default ports.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "examples" / "freshtrack"
PORT_VARIABLES = ("POSTGRES_PORT", "REDIS_PORT", "PROXY_PORT")
# The test copies watch a new release this long (the demo: 10 s); tests may set their own.
TEST_WATCH_S = 2
_NOT_COPIED = shutil.ignore_patterns("secrets", ".env.production", ".cutover", "__pycache__")


def free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out, held together so they are distinct."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_compose(argv: list[str], args: tuple[str, ...], timeout: float,
                check: bool) -> subprocess.CompletedProcess[str]:
    """Run a copy's compose command; with `check`, a failure names `args` and compose's
    stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


@dataclass
class DemoTarget:
    root: Path
    project: str
    ports: dict[str, int]

    @property
    def stack_dir(self) -> Path:
        return self.root / "freshtrack"

    @property
    def target_file(self) -> Path:
        return self.root / "cutover.toml"

    @property
    def env_file(self) -> Path:
        return self.stack_dir / ".env.production"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def backend_url(self) -> str:
        """The running backend container's own loopback port (ephemeral: asked each time)."""
        done = self.compose("port", "backend", "3000", timeout=30)
        return f"http://{done.stdout.strip()}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PROXY_PORT']}"

    def compose_argv(self, *args: str) -> list[str]:
        return [
            "docker", "compose", "--project-name", self.project,
            "--project-directory", str(self.stack_dir),
            "--file", str(self.stack_dir / "docker-compose.yml"),
            "--file", str(self.stack_dir / "compose.production.yaml"),
            "--env-file", str(self.env_file), *args,
        ]

    def compose(self, *args: str, timeout: float = 900, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
        return run_compose(self.compose_argv(*args), args, timeout, check)

    def set_env(self, name: str, value: str) -> None:
        """Change one variable of the copy's env file (e.g. APP_VERSION for a release)."""
        text = self.env_file.read_text()
        line = f"{name}={value}"
        pattern = re.compile(rf"^{re.escape(name)}=.*$", re.M)
        text = pattern.sub(line, text) if pattern.search(text) else text + f"\n{line}\n"
        self.env_file.write_text(text)

    def run_cutover(self, *args: str, timeout: float = 900,
                    env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`pytest <args>` from the repo against this copy, reports under the copy."""
        full_env = {**os.environ, "CUTOVER_REPORTS_DIR": str(self.reports_dir),
                    "COLUMNS": "200", **(env or {})}
        full_env.pop("CUTOVER_TARGET", None)
        full_env.pop("CUTOVER_TIMESTAMP", None)
        full_env.pop("PYTEST_ADDOPTS", None)
        return subprocess.run(
            [sys.executable, "-m", "pytest", f"--target={self.target_file}", *args],
            cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout,
            check=False, stdin=subprocess.DEVNULL,
        )

    def latest_run(self) -> Path:
        return (self.reports_dir / "latest").resolve()

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--rmi", "local",
                     "--timeout", "5", check=False, timeout=300)


def make_demo_target(root: Path) -> DemoTarget:
    """Copy the demo stack and its target file into `root`, isolated from every other copy."""
    project = f"ct{uuid.uuid4().hex[:10]}"
    ports = dict(zip(PORT_VARIABLES, free_ports(len(PORT_VARIABLES)), strict=True))
    demo = DemoTarget(root=root, project=project, ports=ports)
    shutil.copytree(DEMO_DIR, demo.stack_dir, ignore=_NOT_COPIED)
    subprocess.run([str(demo.stack_dir / "scripts" / "make-secrets"), str(demo.stack_dir)],
                   check=True, capture_output=True, text=True, timeout=60)
    for name, port in ports.items():
        demo.set_env(name, str(port))
    demo.target_file.write_text(_target_text(demo))
    return demo


def _target_text(demo: DemoTarget) -> str:
    """The repo's cutover.toml, pointed at the copy: dir, project name, ports, URLs."""
    text = (REPO / "cutover.toml").read_text()
    proxy = demo.ports["PROXY_PORT"]
    replacements = [
        (r'project_dir = "[^"]*"', f'project_dir = "{demo.stack_dir}"'),
        (r'project_name = "[^"]*"', f'project_name = "{demo.project}"'),
        (r"ports = \[[^\]]*\]", "ports = [{}]".format(", ".join(map(str, demo.ports.values())))),
        (r"127\.0\.0\.1:8080/", f"127.0.0.1:{proxy}/"),
        (r"(?m)^watch_s = .*$", f"watch_s = {TEST_WATCH_S}"),
        (r"(?m)^port = 5432$", f"port = {demo.ports['POSTGRES_PORT']}"),
    ]
    for pattern, value in replacements:
        text, count = re.subn(pattern, value, text)
        assert count, f"cutover.toml no longer has {pattern!r}; update tests/support/demo.py"
    return text
