"""What the suite relies on beyond public APIs: each test fails loudly when it changes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_atexit_run_exitfuncs_runs_the_handlers_once_before_os_exit():
    """fixtures/private_api.py: the exit handlers run, then the process leaves at once."""
    script = (
        "import atexit, os\n"
        "from fixtures.private_api import exit_without_teardown_at_exit\n"
        "atexit.register(print, 'handler ran', flush=True)\n"
        "exit_without_teardown_at_exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (3, "handler ran\n", ""), (
        "atexit._run_exitfuncs or os._exit changed: fixtures/private_api.py must follow")


def test_only_one_module_imports_pytest_internals():
    found = subprocess.run(
        ["grep", "-rlE", r"^\s*(from|import) _pytest", "fixtures", "operations", "checks"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False).stdout.split()
    assert len(found) <= 1, found


def _addopts() -> list[str]:
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"(?ms)^addopts = \[(.*?)^\]", text)
    assert block, "pyproject.toml has no addopts list"
    return re.findall(r'"([^"]*)"', block.group(1))


@pytest.mark.parametrize("plugin", ["unraisableexception"])
def test_a_builtin_plugin_the_suite_blocks_still_exists_by_that_name(pytester, plugin):
    """`-p no:<name>` of a name pytest no longer has is silently a no-op: say so loudly."""
    addopts = _addopts()
    blocked = {addopts[i + 1] for i, word in enumerate(addopts[:-1]) if word == "-p"}
    if f"no:{plugin}" not in blocked:
        pytest.skip(f"the suite no longer blocks {plugin}")
    config = pytester.parseconfigure()
    assert config.pluginmanager.has_plugin(plugin), f"pytest has no plugin {plugin!r} any more"
    config = pytester.parseconfigure("-p", f"no:{plugin}")
    assert not config.pluginmanager.has_plugin(plugin)
