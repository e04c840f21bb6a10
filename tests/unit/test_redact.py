from __future__ import annotations

import html
import json
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from operations.core.redact import MASK, Redactor
from operations.record.manifest import OperationRecord, StepRecord, write_manifest
from operations.record.timeline import render_svg


def test_registered_values_are_masked_longest_first(tmp_path):
    redactor = Redactor()
    redactor.register("hunter22")
    (tmp_path / "jwt").write_text("hunter22-and-more\n")
    assert redactor.read_secret(tmp_path / "jwt") == "hunter22-and-more\n"
    text = "token=hunter22-and-more pw=hunter22"
    assert redactor.redact(text) == f"token={MASK} pw={MASK}"
    assert redactor.contains_secret(text)


def test_short_values_are_not_registered_so_reports_stay_readable():
    redactor = Redactor()
    redactor.register("ab\n")
    assert redactor.redact("ab cd ab") == "ab cd ab"
    assert not redactor.contains_secret("ab")


# Quotes, a backslash, <&>, a pipe (Markdown tables), spaces, a newline and non-ASCII
# letters: every escaping differs.
CANARY = 'pä"ss\\word <&> x|y\'ß\nzweite Zeile €'


def _every_form(value: str) -> dict[str, str]:
    return {
        "raw": value,
        "json": json.dumps(value)[1:-1],
        "json, non-ASCII kept": json.dumps(value, ensure_ascii=False)[1:-1],
        "html": html.escape(value),
        "html text": html.escape(value, quote=False),
        "html-escaped json": html.escape(json.dumps(value)),
        "url": urllib.parse.quote(value, safe=""),
        "url, plus for spaces": urllib.parse.quote_plus(value),
        "json of url": json.dumps(urllib.parse.quote(value)),
        "repr (tracebacks)": repr(value),
        "bytes repr": repr(value.encode()),
        "xml attribute": ET.tostring(ET.Element("p", value=value), encoding="unicode"),
        "xml text": _xml_text(value),
    }


def _xml_text(value: str) -> str:
    element = ET.Element("p")
    element.text = value
    return ET.tostring(element, encoding="unicode")


def _pieces(value: str) -> list[str]:
    """Fragments of the canary that must not survive: each line, the non-ASCII part."""
    return [line for line in value.splitlines() if len(line) >= 8] + ["pä\"ss"]


@pytest.mark.parametrize("encoding", list(_every_form(CANARY)))
def test_a_secret_is_masked_in_every_encoding_it_can_take(encoding):
    redactor = Redactor()
    redactor.register(CANARY + "\n")  # as read from a secret file
    text = f"before {_every_form(CANARY)[encoding]} after"
    assert redactor.contains_secret(text)
    masked = redactor.redact(text)
    assert MASK in masked
    for form in _every_form(CANARY).values():
        assert form not in masked
    for piece in {*_pieces(CANARY), *(json.dumps(p)[1:-1] for p in _pieces(CANARY))}:
        assert piece not in masked, (encoding, piece, masked)


def test_each_line_of_a_multi_line_secret_is_masked_where_a_report_splits_it():
    redactor = Redactor()
    redactor.register(CANARY)
    indented = "E       " + "\nE       ".join(CANARY.splitlines())  # pytest's failure text
    assert all(line not in redactor.redact(indented) for line in CANARY.splitlines())


def test_redact_data_masks_every_string_before_serialisation():
    redactor = Redactor()
    redactor.register(CANARY)
    data = {"argv": ["psql", f"--password={CANARY}"], "n": 3, "ok": True, "none": None,
            CANARY: {"nested": (CANARY,)}, "path": Path(f"/tmp/{CANARY}")}
    redacted = redactor.redact_data(data)
    assert redacted == {"argv": ["psql", f"--password={MASK}"], "n": 3, "ok": True,
                        "none": None, MASK: {"nested": [MASK]}, "path": f"/tmp/{MASK}"}
    for encoded in (json.dumps(redacted), html.escape(json.dumps(redacted))):
        assert not redactor.contains_secret(encoded)


def test_ordinary_text_is_left_alone():
    redactor = Redactor()
    redactor.register(CANARY)
    text = 'a "quoted" path C:\\dir <b>&amp; x</b> für 100%20 ok'
    assert redactor.redact(text) == text


def _record_with_canary() -> OperationRecord:
    record = OperationRecord(operation="deploy", target="t", ticket=f"CHG {CANARY}",
                             operator="op", host="h", started_at="2026-01-01T00:00:00+00:00")
    record.steps.append(StepRecord(name=f"step {CANARY}", outcome="failed",
                                   started_at="2026-01-01T00:00:01+00:00", duration_s=1.0,
                                   message=f"password was {CANARY}",
                                   commands=[{"argv": ["x", CANARY], "exit": 1}]))
    record.data["hook"] = {"output": f"token {CANARY}"}
    return record


def test_manifests_hold_no_form_of_the_secret_and_stay_valid(tmp_path):
    redactor = Redactor()
    redactor.register(CANARY)
    record = _record_with_canary()
    json_path, markdown_path = write_manifest(record, tmp_path, "DEPLOY_MANIFEST.md", redactor)
    loaded = json.loads(json_path.read_text(encoding="utf-8"))
    assert loaded["steps"][0]["message"] == f"password was {MASK}"
    assert loaded["steps"][0]["commands"][0]["argv"] == ["x", MASK]
    assert loaded["data"] == {"hook": {"output": f"token {MASK}"}}
    for path in (json_path, markdown_path):
        text = path.read_text(encoding="utf-8")
        assert [f for f in _every_form(CANARY).values() if f in text] == [], path.name
        assert all(piece not in text for piece in _pieces(CANARY)), path.name
    assert record.steps[0].message == f"password was {CANARY}", "the live record is kept"


def test_the_timeline_is_drawn_from_the_redacted_record():
    redactor = Redactor()
    redactor.register(CANARY)
    svg = render_svg(_record_with_canary().redacted(redactor))
    assert MASK in svg
    assert [f for f in _every_form(CANARY).values() if f in svg] == []
    assert all(piece not in svg and html.escape(piece) not in svg
               for piece in _pieces(CANARY))
