"""Errors that carry where the bad input is: file, line, record and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How much of an input value a message echoes: a 10,000-character id or a 5,000-digit number
# is shown by its start and its length, never in full.
MAX_SHOWN = 200
# A message as a whole is capped too (a safety net for values echoed by third-party text).
MAX_MESSAGE = 2_000


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text``, or its first ``limit`` characters, an ellipsis and its length when longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """The ``repr`` of an input value for a message, clipped to about ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # a value nested too deeply, an int too long to show
        return f"<{type(value).__name__}>"
    return clip(text, limit)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input, located as precisely as the input allows."""

    file: str
    line: int | None
    message: str
    record: str | None = None  # e.g. "model 'deepseek-r1'" or "policy 'HOST-001'"
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.record:
            parts.append(clip(self.record, 2 * MAX_SHOWN))
        if self.field:
            parts.append(f"field '{clip(self.field, 2 * MAX_SHOWN)}'")
        return ": ".join(parts) + f": {clip(self.message, MAX_MESSAGE)}"


class AigovError(Exception):
    """Any error the CLI reports with exit code 2 (usage, input or engine error)."""


class InputError(AigovError):
    """Bad input: every problem found, not just the first."""

    def __init__(self, problems: list[Problem], summary: str = "invalid input"):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.message))
        self.summary = summary
        super().__init__(self.render())

    def render(self) -> str:
        noun = "error" if len(self.problems) == 1 else "errors"
        lines = [f"{self.summary}: {len(self.problems)} {noun}"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class RegistryError(AigovError):
    """The registry database cannot be used (missing, unreadable, wrong schema version)."""


class MissingDatabaseError(RegistryError):
    """The SQLite file named does not exist (and was not to be created)."""


class NotFoundError(AigovError):
    """A record or run named on the command line does not exist."""
