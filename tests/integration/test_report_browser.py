"""A deploy report as a person sees it: opened in headless Chromium, offline."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.plugins.test_reports import make_failed_deploy_report
from tests.support.browser import open_page

_DATA_BLOB = re.compile(r'<div id="data-container".*?</div>', re.S)


def _junit_counts(junit: Path) -> dict[str, int]:
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    tests, failures, errors, skipped = (int(suite.get(k, "0")) for k in
                                        ("tests", "failures", "errors", "skipped"))
    return {"passed": tests - failures - errors - skipped, "failed": failures,
            "error": errors, "skipped": skipped}


def _page_counts(dom: str) -> dict[str, int]:
    found = dict(re.findall(r'<span class="(passed|failed|error|skipped)">(\d+) [A-Z]', dom))
    return {name: int(found[name]) for name in ("passed", "failed", "error", "skipped")}


def _assert_reads_right(run_dir: Path, tmp_path: Path, failing_row: str, output: str,
                        title: str) -> None:
    __tracebackhide__ = True
    screenshot = tmp_path / "report.png"
    page = open_page(run_dir / "report.html", tmp_path / "profile", screenshot)
    # Only what the scripts rendered counts, not the JSON the page was built from.
    rendered = _DATA_BLOB.sub("", page.dom)
    assert page.console == [], f"console messages: {page.console}"
    assert _page_counts(rendered) == _junit_counts(run_dir / "junit.xml")
    assert re.search(r"<td>Ticket</td>\s*<td>(<div>)?CHG-42", rendered), "ticket in metadata"
    assert 'id="cutover-timeline"' in rendered
    assert re.search(r"<title[^>]*>cutover deploy report: [^<]+, ticket CHG-42</title>",
                     rendered), "the page title names phase, target and ticket"
    # Rows read as their titles; the node id stays below, smaller.
    row = rendered.index(f'<td class="col-testId">{title}<br><small class="cutover-nodeid">'
                         f'{failing_row}</small></td>')
    next_row = rendered.find('<td class="col-testId">', row + 1)
    assert output in rendered[row:next_row], "the failing row shows the command output"
    assert screenshot.stat().st_size > 10_000


def test_real_deploy_report_reads_right_in_a_real_browser(demo_target, tmp_path):
    """A real deploy of the demo stack whose migration fails: the row shows why."""
    bad = demo_target.stack_dir / "backend" / "migrations" / "0004_broken.sql"
    bad.write_text("CREATE TABLE broken_table (id int,);\n")
    done = demo_target.run_cutover("-m", "deploy", "--ticket", "CHG-42")
    assert done.returncode == 1, done.stdout[-3000:]
    _assert_reads_right(demo_target.latest_run(), tmp_path,
                        "operations/test_deploy.py::test_migrate", "0004_broken.sql",
                        "deploy: Migrate the database")


def test_plugin_deploy_report_reads_right_in_a_real_browser(cutover_project, tmp_path):
    _assert_reads_right(make_failed_deploy_report(cutover_project), tmp_path,
                        "test_deploy.py::test_migrate", "relation orders exists",
                        "deploy: Migrate the database")


def test_console_errors_are_seen(tmp_path):
    """The console check above can fail: a page that throws is caught."""
    page_file = tmp_path / "bad.html"
    page_file.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    page = open_page(page_file, tmp_path / "profile")
    assert any("boom" in line for line in page.console), page.console
