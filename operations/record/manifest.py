"""The record of one operation (deploy or rollback), written as JSON and as Markdown.

It is rewritten after every step, so an interrupted run still leaves a true manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from operations.core.files import private_dir, write_private_text
from operations.core.redact import Redactor


@dataclass
class StepRecord:
    name: str
    outcome: str  # passed, failed, skipped, blocked, not run, interrupted, running
    started_at: str
    duration_s: float = 0.0
    message: str = ""
    commands: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OperationRecord:
    operation: str
    target: str
    ticket: str
    operator: str
    host: str
    started_at: str
    finished_at: str = ""
    outcome: str = "running"
    waiver: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    # Operation-specific facts: images before and after, migrations, tables, backup...
    data: dict[str, Any] = field(default_factory=dict)

    def redacted(self, redactor: Redactor) -> OperationRecord:
        """A copy with every string in it redacted: what may be serialised and shown."""
        fields = redactor.redact_data(asdict(self))
        assert isinstance(fields, dict)
        steps = [StepRecord(**step) for step in fields.pop("steps")]
        return replace(self, **fields, steps=steps)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False, default=str)

    def to_markdown(self) -> str:
        title = f"{self.operation.upper()} MANIFEST: {self.target}"
        lines = [f"# {title}", ""]
        for label, value in (
            ("Outcome", self.outcome), ("Ticket", self.ticket), ("Operator", self.operator),
            ("Host", self.host), ("Started", self.started_at), ("Finished", self.finished_at),
            ("Preflight waiver", self.waiver),
        ):
            if value:
                lines.append(f"- **{label}:** {value}")
        lines += ["", "## Steps", "", "| # | Step | Outcome | Duration | Note |",
                  "|---|---|---|---|---|"]
        for number, step in enumerate(self.steps, 1):
            note = _cell(step.message.splitlines()[0] if step.message else "")
            lines.append(f"| {number} | {_cell(step.name)} | {step.outcome} | "
                         f"{step.duration_s:.1f}s | {note} |")
        for key, value in self.data.items():
            lines += ["", f"## {key.replace('_', ' ').capitalize()}", "", _markdown_value(value)]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def _markdown_value(value: Any) -> str:
    if isinstance(value, str):
        return f"```\n{value.strip()}\n```" if "\n" in value else value
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        rows += ["| " + " | ".join(_cell(str(row.get(c, ""))) for c in columns) + " |"
                 for row in value]
        return "\n".join(rows)
    if isinstance(value, dict):
        return "\n".join(f"- **{k}:** {_cell(str(v))}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(f"- {_cell(str(v))}" for v in value) or "(none)"
    return str(value)


def write_manifest(
    record: OperationRecord, directory: Path, markdown_name: str, redactor: Redactor
) -> tuple[Path, Path]:
    """Write manifest.json and the Markdown manifest atomically and owner-only (0600 in a
    0700 directory). Values are redacted before they are serialised; the text once more."""
    private_dir(directory)
    shown = record.redacted(redactor)
    json_path, markdown_path = directory / "manifest.json", directory / markdown_name
    write_private_text(json_path, redactor.redact(shown.to_json()))
    write_private_text(markdown_path, redactor.redact(shown.to_markdown()))
    return json_path, markdown_path
