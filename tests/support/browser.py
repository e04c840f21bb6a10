"""Headless Chromium (Debian's) for looking at reports as a person would."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\] (.*)$", re.M)


@dataclass(frozen=True)
class Page:
    dom: str  # the DOM after the page's scripts ran
    console: list[str]  # every console message and uncaught error


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise AssertionError("chromium is not installed: run `make test` (it installs it)")
    return found


def open_page(path: Path, profile: Path, screenshot: Path | None = None) -> Page:
    """Load a local file, return its rendered DOM and console; optionally a screenshot."""
    url = path.resolve().as_uri()
    base = [chromium(), *FLAGS, f"--user-data-dir={profile}"]
    done = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    if screenshot is not None:
        shot = subprocess.run([*base, f"--screenshot={screenshot}", "--window-size=1400,1800",
                               url], capture_output=True, text=True, timeout=120, check=False,
                              stdin=subprocess.DEVNULL)
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    return Page(dom=done.stdout, console=_CONSOLE.findall(done.stderr))
