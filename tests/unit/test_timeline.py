from __future__ import annotations

import xml.etree.ElementTree as ET

from operations.record.manifest import OperationRecord, StepRecord
from operations.record.timeline import COLOURS, render_svg

SVG = "{http://www.w3.org/2000/svg}"


def _record() -> OperationRecord:
    record = OperationRecord("deploy", "demo", "CHG-1", "ops", "host", "2026-01-23T12:00:00+00:00")
    record.steps = [
        StepRecord("build", "passed", "2026-01-23T12:00:00+00:00", 30.0),
        StepRecord("wait healthy", "failed", "2026-01-23T12:00:30+00:00", 90.0),
        StepRecord("verify", "not run", "2026-01-23T12:02:00+00:00", 0.0),
    ]
    record.data["health_polls"] = [
        {"at": "2026-01-23T12:00:31+00:00", "ok": False, "result": "503"},
        {"at": "2026-01-23T12:01:00+00:00", "ok": True, "result": "200"},
    ]
    return record


def test_bars_follow_start_and_duration_and_colour_the_outcome():
    svg = ET.fromstring(render_svg(_record()))
    bars = svg.findall(f"{SVG}rect")
    assert [bar.get("fill") for bar in bars] == [COLOURS["passed"], COLOURS["failed"],
                                                 COLOURS["not run"]]
    x = [float(bar.get("x", "0")) for bar in bars]
    widths = [float(bar.get("width", "0")) for bar in bars]
    assert x[0] < x[1] < x[2]
    assert abs(widths[1] / widths[0] - 3.0) < 0.01  # 90 s against 30 s
    assert abs(x[1] + widths[1] - x[2]) < 0.5  # verify starts where the wait ended


def test_health_polls_are_ticks_coloured_by_answer():
    svg = ET.fromstring(render_svg(_record()))
    ticks = svg.findall(f"{SVG}line")
    assert [t.get("stroke") for t in ticks] == [COLOURS["failed"], COLOURS["passed"]]


def test_step_names_are_escaped():
    record = _record()
    record.steps[0].name = "<script>alert(1)</script>"
    assert "<script>" not in render_svg(record)
