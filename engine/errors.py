"""Errors that carry where the bad input is: file, line, record and field."""

from __future__ import annotations

from dataclasses import dataclass


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
            parts.append(self.record)
        if self.field:
            parts.append(f"field '{self.field}'")
        return ": ".join(parts) + f": {self.message}"


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
