"""docs/faults.md cannot drift: every test it names exists (file and function; a
parametrize id is allowed), and at least 30 rows are backed by a test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "docs" / "faults.md"
_TEST = re.compile(r"^`(?P<file>tests/[\w/]+\.py)::(?P<name>\w+)(?:\[[^\]`]+\])?`$")


def rows() -> list[list[str]]:
    found = []
    for line in MATRIX.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            found.append(cells)
    return found


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_row_names_an_existing_test_or_says_why_not() -> None:
    problems = []
    for cells in rows():
        test = cells[-1]
        if test.startswith("not tested: "):
            continue
        match = _TEST.match(test)
        if not match:
            problems.append(f"row {cells[0]}: {test!r} is neither `tests/...::name` nor "
                            "'not tested: <why>'")
            continue
        path = REPO / match["file"]
        if not path.is_file() or match["name"] not in _functions(path):
            problems.append(f"row {cells[0]}: {test} does not exist")
    assert not problems, "\n".join(problems)


def test_at_least_30_rows_are_backed_by_tests_and_numbers_are_unique() -> None:
    all_rows = rows()
    backed = [r for r in all_rows if not r[-1].startswith("not tested: ")]
    assert len(backed) >= 30, len(backed)
    numbers = [int(r[0]) for r in all_rows]
    assert numbers == list(range(1, len(numbers) + 1))
    assert all(len(r) == 8 for r in all_rows), [r[0] for r in all_rows if len(r) != 8]


def test_the_check_would_see_a_missing_test() -> None:
    assert not _TEST.match("`tests/unit/x.py::name with space`")
    assert _functions(Path(__file__)) >= {"test_the_check_would_see_a_missing_test"}
    assert "test_no_such_test" not in _functions(REPO / "tests" / "unit" / "test_lock.py")
