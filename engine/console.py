"""Terminal output helpers: plain tables, colour that respects NO_COLOR, stderr progress, and
:func:`printable`, which makes registry text safe to show."""

from __future__ import annotations

import os
import sys
import time
import unicodedata
from collections.abc import Sequence
from typing import TextIO

import click

# What must never reach a terminal, a CI log or a PR comment raw (Unicode categories): controls
# (Cc: the C0 and C1 controls and DEL - ANSI escape sequences, backspace, carriage return
# overwrite what was printed), format characters (Cf: the bidirectional overrides and isolates
# U+202A-U+202E and U+2066-U+2069, the marks U+200E/U+200F, zero-width characters - text that
# reads other than it is), line and paragraph separators (Zl, Zp) and lone surrogates (Cs).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, *, keep_layout: bool = False) -> str:
    """``text`` with every control, format (bidi, zero-width) and separator character shown
    escaped (``\\x1b``, ``\\u202e``), so that registry text cannot colour, move the cursor,
    erase, reorder or hide what a terminal, a log or a rendered comment shows. With
    ``keep_layout``, newlines and tabs stay (a block of several lines); otherwise they are
    escaped too, so that a value cannot start a line of its own."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(
        char
        if (keep_layout and char in "\n\t") or unicodedata.category(char) not in _UNSAFE_CATEGORIES
        else _escape_char(char)
        for char in value
    )


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun`` in the right number: ``1 file``, ``2 files``, ``0 policies``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or (noun[:-1] + 'ies' if noun.endswith('y') else noun + 's')}"


def colour_enabled(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def style(text: str, colour: str | None = None, *, bold: bool = False, err: bool = False) -> str:
    if not colour_enabled(sys.stderr if err else sys.stdout):
        return text
    return click.style(text, fg=colour, bold=bold)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned plain-text table (no box drawing, so it pastes into tickets cleanly)."""
    cells = [[printable(h) for h in headers]] + [
        [("" if c is None else printable(c)) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Progress:
    """A one-line progress counter on stderr, shown only on an interactive terminal."""

    def __init__(self, label: str, total: int, *, enabled: bool = True):
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = (
            enabled and sys.stderr.isatty() and not os.environ.get("NO_COLOR") and total > 0
        )
        self._last = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or self.done >= self.total:
            self._last = now
            percent = 100 * self.done // max(self.total, 1)
            sys.stderr.write(f"\r{self.label}: {self.done}/{self.total} ({percent}%)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
