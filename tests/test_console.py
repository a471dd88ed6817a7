"""Terminal conventions: NO_COLOR, colour only on terminals, progress only on terminals."""

from __future__ import annotations

import io

import pytest

from aigov import console


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert console.colour_enabled(Terminal()) is True
    assert console.colour_enabled(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert console.colour_enabled(Terminal()) is False


def test_progress_goes_to_stderr_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = console.Progress("auditing models", 3)
    progress.advance(3)
    progress.close()
    assert "auditing models: 3/3 (100%)" in terminal.getvalue()
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    console.Progress("auditing models", 3, enabled=False).advance(3)
    monkeypatch.setenv("NO_COLOR", "1")
    console.Progress("auditing models", 3).advance(3)
    assert quiet.getvalue() == ""
    piped = io.StringIO()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr("sys.stderr", piped)
    console.Progress("auditing models", 3).advance(3)
    assert piped.getvalue() == ""
