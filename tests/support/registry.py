"""A real image registry on loopback: Debian's `docker-registry` (distribution 2.8).

`local_registry(root)` starts one on a free `127.0.0.1:<port>` with its own config file and
storage under `root`, and stops it by its pid at the end. Docker treats every registry on
127.0.0.0/8 as insecure (plain HTTP) without configuration, so no daemon.json is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.demo import free_ports

BINARY = "docker-registry"
START_TIMEOUT_S = 20.0
CONFIG = """version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class RegistryUnavailable(Exception):
    """No registry binary here and none can be installed (not root on Debian)."""


@dataclass
class Registry:
    host: str  # 127.0.0.1:<port>, the prefix of the image references it serves
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, name: str, tag: str) -> str:
        return f"{self.host}/{name}:{tag}"

    def is_up(self) -> bool:
        try:
            return requests.get(f"{self.url}/v2/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def manifest_digest(self, name: str, tag: str) -> str:
        """What the registry itself says the tag's manifest digest is."""
        answer = requests.head(f"{self.url}/v2/{name}/manifests/{tag}", timeout=5, headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        answer.raise_for_status()
        return answer.headers["Docker-Content-Digest"]

    def stop(self) -> None:
        """Stop this registry (its own pid only); idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def ensure_binary() -> str:
    """The registry binary; installs Debian's package when missing (root on Debian)."""
    found = shutil.which(BINARY)
    if found:
        return found
    if os.geteuid() != 0 or not Path("/etc/debian_version").is_file() or not shutil.which(
            "apt-get"):
        raise RegistryUnavailable(f"{BINARY} is missing and cannot be installed here (needs "
                                  "root on Debian): apt-get install docker-registry")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    marker = Path("/var/lib/cutover-apt-updated")  # shared with scripts/bootstrap-engine
    if not marker.is_file():
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True,
                       timeout=600, env=env)
        marker.touch()
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", BINARY],
                   check=True, capture_output=True, timeout=600, env=env)
    found = shutil.which(BINARY)
    if not found:
        raise RegistryUnavailable(f"apt-get installed {BINARY} but it is not on PATH")
    return found


def start(root: Path) -> Registry:
    """A registry with its config and storage in `root`, answering on a free loopback port."""
    binary = ensure_binary()
    root.mkdir(parents=True, exist_ok=True)
    [port] = free_ports(1)
    config = root / "config.yml"
    config.write_text(CONFIG.format(storage=root / "storage", port=port))
    log = root / "registry.log"
    with log.open("ab") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    registry = Registry(host=f"127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not registry.is_up():
        if process.poll() is not None or time.monotonic() > deadline:
            registry.stop()
            raise RuntimeError(f"registry on {registry.host} did not answer /v2/ within "
                               f"{START_TIMEOUT_S:.0f} s (exit {process.poll()}): "
                               f"{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return registry


@contextmanager
def local_registry(root: Path) -> Iterator[Registry]:
    registry = start(root)
    try:
        yield registry
    finally:
        registry.stop()


def push(image: str, reference: str) -> str:
    """Tag a local image as `reference` and push it; the pushed manifest's digest."""
    subprocess.run(["docker", "tag", image, reference], check=True, capture_output=True,
                   timeout=60)
    done = subprocess.run(["docker", "push", reference], capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError(f"docker push {reference} failed: {done.stderr or done.stdout}")
    for word in done.stdout.split():
        if word.startswith("sha256:"):
            return word
    raise AssertionError(f"docker push {reference} printed no digest: {done.stdout}")


def remove_local(*references: str) -> None:
    """Forget tags on the engine (the image stays while another tag or container uses it)."""
    subprocess.run(["docker", "image", "rm", *references], capture_output=True, timeout=120,
                   check=False)
