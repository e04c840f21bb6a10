"""An inline SVG timeline of an operation's steps, for the HTML report.

Bars are placed by start time and sized by duration; colour says the outcome. Health polls,
when a step recorded them, are ticks under that step's bar (green: healthy answer).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from operations.record.manifest import OperationRecord

COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "blocked": "#ef6c00",
           "not run": "#9e9e9e", "skipped": "#90a4ae", "interrupted": "#6a1b9a",
           "running": "#1565c0"}
_ROW, _LABEL, _WIDTH, _MIN_BAR = 22, 230, 520, 2.0


def _offset(start: datetime, stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - start).total_seconds()


def render_svg(record: OperationRecord) -> str:
    """The timeline as one <svg> element (no external references)."""
    if not record.steps:
        return ""
    start = datetime.fromisoformat(record.steps[0].started_at)
    ends = [_offset(start, s.started_at) + s.duration_s for s in record.steps]
    total = max(max(ends), 0.001)
    scale = _WIDTH / total
    polls: list[dict[str, Any]] = list(record.data.get("health_polls", []))
    height = _ROW * (len(record.steps) + 1) + (14 if polls else 0) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="cutover-timeline" role="img" '
             f'width="{_LABEL + _WIDTH + 90}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><title>{escape(record.operation)} timeline</title>']
    for row, step in enumerate(record.steps):
        y = 6 + row * _ROW
        x = _LABEL + _offset(start, step.started_at) * scale
        width = max(step.duration_s * scale, _MIN_BAR)
        colour = COLOURS.get(step.outcome, "#607d8b")
        parts.append(f'<text x="4" y="{y + 13}">{escape(step.name[:34])}</text>')
        parts.append(f'<rect class="step {escape(step.outcome)}" x="{x:.1f}" y="{y}" '
                     f'width="{width:.1f}" height="16" fill="{colour}">'
                     f'<title>{escape(step.name)}: {escape(step.outcome)}, '
                     f'{step.duration_s:.2f}s</title></rect>')
        parts.append(f'<text x="{x + width + 4:.1f}" y="{y + 13}">{step.duration_s:.1f}s '
                     f'{escape(step.outcome)}</text>')
    if polls:
        parts.append(_poll_ticks(record, polls, start, scale))
    axis_y = 6 + len(record.steps) * _ROW + (14 if polls else 0)
    parts.append(f'<text x="{_LABEL}" y="{axis_y + 12}">0s</text>'
                 f'<text x="{_LABEL + _WIDTH - 30}" y="{axis_y + 12}">{total:.1f}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def _poll_ticks(record: OperationRecord, polls: list[dict[str, Any]], start: datetime,
                scale: float) -> str:
    """Each poll as a tick; `at` is an ISO time, `ok` whether the answer was healthy."""
    y = 6 + len(record.steps) * _ROW
    ticks = [f'<text x="4" y="{y + 10}">health polls ({len(polls)})</text>']
    for poll in polls:
        x = _LABEL + _offset(start, str(poll["at"])) * scale
        colour = COLOURS["passed"] if poll.get("ok") else COLOURS["failed"]
        ticks.append(f'<line class="poll" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 12}" '
                     f'stroke="{colour}"><title>{escape(str(poll.get("result", "")))}'
                     f'</title></line>')
    return "".join(ticks)
