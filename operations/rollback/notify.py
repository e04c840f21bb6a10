"""Tell the team on Slack (incoming webhook) that a rollback happened.

The webhook URL is a credential: it is never logged, never put in a message, and the
caller registers it with the redactor. A failed notification is reported, never raised:
it must not fail a rollback that has already stopped services and saved the data.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

TIMEOUT_S = 5.0
ATTEMPTS = 2  # one retry
RETRY_PAUSE_S = 1.0


@dataclass(frozen=True)
class RollbackSummary:
    target: str
    operator: str
    reason: str
    cutover_timestamp: str
    tables: Sequence[tuple[str, int]]  # (table, rows exported)
    manifest: str
    ticket: str = ""


@dataclass
class NotifyResult:
    sent: bool
    attempts: list[str] = field(default_factory=list)  # what each attempt got; no URL

    def describe(self) -> str:
        return ("sent" if self.sent else "not sent") + ": " + "; ".join(self.attempts)


@dataclass(frozen=True)
class Delivery:
    """One channel's answer to a notice (what a `pytest_cutover_notify` hook returns)."""

    channel: str  # e.g. "Slack via $SLACK_WEBHOOK_URL"; never a URL or a token
    sent: bool
    detail: str = ""

    def describe(self) -> str:
        return f"{self.channel}: {self.detail or ('sent' if self.sent else 'not sent')}"


def payload(summary: RollbackSummary) -> dict[str, object]:
    """Slack message: `text` for notifications and old clients, `blocks` for the layout."""
    counts = ", ".join(f"{table}: {rows}" for table, rows in summary.tables) or "(none)"
    text = (f"Rollback of {summary.target} by {summary.operator}: {summary.reason}. "
            f"Rows exported since {summary.cutover_timestamp}: {counts}. "
            f"Manifest: {summary.manifest}")
    fields = [("Target", summary.target), ("Operator", summary.operator),
              ("Reason", summary.reason), ("Cutover", summary.cutover_timestamp)]
    if summary.ticket:
        fields.append(("Ticket", summary.ticket))
    table_lines = "\n".join(f"• `{table}`: {rows} rows" for table, rows in summary.tables)
    blocks: list[dict[str, object]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Rollback: {summary.target}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}:*\n{value}"}
                                       for name, value in fields]},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*Rows exported since the cutover:*\n"
                                             + (table_lines or "(none)")}},
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": f"Manifest: `{summary.manifest}`"}]},
    ]
    return {"text": text, "blocks": blocks}


def _attempt(url: str, body: bytes, timeout: float) -> str | None:
    """POST once; None when Slack took it, else what went wrong (never the URL)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return f"no answer within {timeout:g}s"
        return f"cannot connect: {type(exc.reason).__name__}"
    except (OSError, ValueError) as exc:
        return f"cannot send: {type(exc).__name__}"


def send(url: str, message: dict[str, object], *, timeout: float = TIMEOUT_S,
         attempts: int = ATTEMPTS, pause: Callable[[float], None] = time.sleep) -> NotifyResult:
    """POST the message to the webhook; one retry; never raises for a network failure."""
    body = json.dumps(message).encode()
    result = NotifyResult(sent=False)
    for number in range(1, attempts + 1):
        problem = _attempt(url, body, timeout)
        result.attempts.append(f"attempt {number}: {problem or 'ok'}")
        if problem is None:
            result.sent = True
            break
        if number < attempts:
            pause(RETRY_PAUSE_S)
    return result
