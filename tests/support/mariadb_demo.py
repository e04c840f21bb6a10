"""Isolated copies of examples/freshtrack-mariadb for integration tests and bench/export.

Each copy has its own compose project name, a free loopback port, its own secret and a
cutover.toml that points at it.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.demo import REPO, free_ports, run_compose

EXAMPLE = REPO / "examples" / "freshtrack-mariadb"


@dataclass
class MariaDBTarget:
    root: Path
    project: str
    port: int
    password: str

    @property
    def target_file(self) -> Path:
        return self.root / "cutover.toml"

    def connect(self, dbname: str = "freshtrack") -> Any:
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                               password=self.password, database=dbname, charset="utf8mb4",
                               autocommit=True, init_command="SET time_zone = '+00:00'")

    def compose_argv(self, *args: str) -> list[str]:
        return ["docker", "compose", "--project-name", self.project,
                "--project-directory", str(self.root), *args]

    def compose(self, *args: str, timeout: float = 600, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
        return run_compose(self.compose_argv(*args), args, timeout, check)

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--rmi", "local",
                     "--timeout", "5", check=False, timeout=300)


def make_mariadb_target(root: Path, password: str | None = None) -> MariaDBTarget:
    """Copy the example into `root` (which must not exist yet), isolated from other copies."""
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("secrets", ".env", ".cutover"))
    (root / "secrets").mkdir(mode=0o700)
    built = MariaDBTarget(root, f"ct{uuid.uuid4().hex[:10]}", free_ports(1)[0],
                          password or uuid.uuid4().hex)
    secret = root / "secrets" / "db_password"
    secret.write_text(built.password + "\n")
    secret.chmod(0o600)
    (root / ".env").write_text(f"MARIADB_PORT={built.port}\n")
    text = built.target_file.read_text()
    for old, new in (('project_name = "freshtrack-mariadb"', f'project_name = "{built.project}"'),
                     ("port = 3306", f"port = {built.port}")):
        assert old in text, f"the example's cutover.toml no longer has {old!r}"
        text = text.replace(old, new)
    built.target_file.write_text(text)
    return built
