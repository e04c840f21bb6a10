"""Ask the operator on the terminal itself: pytest captures stdin and stdout.

`/dev/tty` is the controlling terminal of the process whatever its stdin is; a run with
none (CI, cron, a detached session) cannot be asked anything, and says so up front.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

TTY_PATH = "/dev/tty"
YES_ANSWERS = frozenset({"yes", "y"})


class NoTerminal(Exception):
    """No terminal to ask on; the message names `--yes`."""


@dataclass(frozen=True)
class Answer:
    question: str
    confirmed: bool
    how: str  # "--yes", "terminal: <what was typed>", "terminal: end of input"

    def as_dict(self) -> dict[str, object]:
        return {"question": self.question, "answer": "yes" if self.confirmed else "no",
                "how": self.how}


@dataclass
class Confirmer:
    """Asks yes/no questions on the terminal, or answers yes to all with `assume_yes`."""

    assume_yes: bool
    tty_path: str = TTY_PATH
    answers: list[Answer] = field(default_factory=list)
    _tty: int | None = None  # file descriptor of the open terminal

    @property
    def has_terminal(self) -> bool:
        return self._tty is not None

    def require_terminal(self) -> None:
        """Open the terminal now, before anything is touched, or raise NoTerminal."""
        if self.assume_yes or self._tty is not None:
            return
        try:
            # A raw descriptor: a terminal is not seekable, so text-mode "r+" refuses it.
            # O_NOCTTY: never make it our controlling terminal as a side effect.
            self._tty = os.open(self.tty_path, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise NoTerminal(
                f"no terminal to ask for confirmation: cannot open {self.tty_path} "
                f"({os.strerror(exc.errno) if exc.errno else exc}); pytest captures stdin, "
                "so prompts go to the terminal only. Run from a terminal, or pass --yes to "
                "confirm every step"
            ) from None

    def ask(self, question: str) -> Answer:
        """Ask once; only "yes"/"y" confirms. End of input is a "no"."""
        if self.assume_yes:
            answer = Answer(question, True, "--yes")
        else:
            self.require_terminal()
            self._write(f"\n{question} (yes/no): ")
            line = self._read_line()
            typed = line.strip()
            how = f"terminal: {typed!r}" if line else "terminal: end of input"
            answer = Answer(question, typed.lower() in YES_ANSWERS, how)
        self.answers.append(answer)
        return answer

    def tell(self, text: str) -> None:
        """Show text on the terminal when there is one (the report gets it anyway)."""
        if self._tty is not None:
            self._write(f"\n{text.rstrip()}\n")

    def close(self) -> None:
        if self._tty is not None:
            os.close(self._tty)
            self._tty = None

    def _write(self, text: str) -> None:
        assert self._tty is not None
        data = text.encode()
        while data:
            data = data[os.write(self._tty, data):]

    def _read_line(self) -> str:
        """One line as typed (a terminal in canonical mode hands over whole lines)."""
        assert self._tty is not None
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self._tty, 1024)
            if not chunk:
                break  # end of input (Ctrl-D): no line, so no "yes"
            line += chunk
        return line.decode(errors="replace")
