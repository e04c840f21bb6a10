"""One redactor for the whole run: every secret value read is registered here first.

Values are redacted before they are serialised (`redact_data` on the structure, then
json.dumps or html.escape). As a backstop, `redact` also knows each secret in the forms
it takes on the way out: JSON-escaped, HTML/XML-escaped, URL-encoded, as Python shows it in
a traceback, and one encoding inside another (HTML-escaped JSON, as in report.html).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
# Shorter values would mask ordinary words and numbers all over the reports.
MIN_SECRET_LENGTH = 4
# Each line of a multi-line secret is masked too (a report may indent or split the lines);
# shorter lines would mask ordinary words.
MIN_LINE_LENGTH = 8


def _xml_attribute(value: str) -> str:
    """ElementTree's attribute escaping (JUnit XML): html's, plus newlines and tabs."""
    escaped = html.escape(value, quote=False).replace('"', "&quot;")
    return escaped.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#09;")


ENCODINGS: tuple[Callable[[str], str], ...] = (
    lambda v: json.dumps(v)[1:-1],
    lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    html.escape,
    lambda v: html.escape(v, quote=False),
    _xml_attribute,
    lambda v: quote(v, safe=""),
    quote_plus,
    lambda v: repr(v)[1:-1],
    lambda v: repr(v.encode("utf-8"))[2:-1],
)


def encoded_forms(value: str) -> set[str]:
    """`value` as it is, in every encoding above, and in every encoding of those."""
    forms = {value}
    for _ in range(2):
        forms |= {encode(form) for form in forms for encode in ENCODINGS}
    return forms


class Redactor:
    """Masks every registered secret value in any text that leaves the process."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []

    def register(self, value: str) -> None:
        candidates = {value, value.strip()}
        candidates |= {line.strip() for line in value.splitlines()
                       if len(line.strip()) >= MIN_LINE_LENGTH}
        new = {form for candidate in candidates if len(candidate) >= MIN_SECRET_LENGTH
               for form in encoded_forms(candidate)} - self._values
        if new:
            self._values |= new
            # Longest first, so a secret containing another is masked whole.
            self._ordered = sorted(self._values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def contains_secret(self, text: str) -> bool:
        return any(value in text for value in self._ordered)

    def redact_data(self, data: object) -> object:
        """A copy of `data` (dicts, lists, tuples, strings) with every string redacted; other
        values become their redacted text, as `json.dumps(default=str)` would show them."""
        if isinstance(data, str):
            return self.redact(data)
        if data is None or isinstance(data, bool | int | float):
            return data
        if isinstance(data, dict):
            return {self.redact(str(k)): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(v) for v in data]
        return self.redact(str(data))

    def read_secret(self, path: Path) -> str:
        """Read a secret file; its value is registered before anyone sees it."""
        value = path.read_text(encoding="utf-8")
        self.register(value)
        return value
