"""One redactor for the whole run: every secret value read is registered here first."""

from __future__ import annotations

from pathlib import Path

MASK = "[REDACTED]"
# Shorter values would mask ordinary words and numbers all over the reports.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Masks every registered secret value in any text that leaves the process."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []

    def register(self, value: str) -> None:
        for candidate in {value, value.strip()}:
            if len(candidate) >= MIN_SECRET_LENGTH and candidate not in self._values:
                self._values.add(candidate)
                # Longest first, so a secret containing another is masked whole.
                self._ordered = sorted(self._values, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def contains_secret(self, text: str) -> bool:
        return any(value in text for value in self._ordered)

    def read_secret(self, path: Path) -> str:
        """Read a secret file; its value is registered before anyone sees it."""
        value = path.read_text(encoding="utf-8")
        self.register(value)
        return value
