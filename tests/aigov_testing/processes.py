"""Processes as Linux's /proc shows them, for the tests that kill workers mid-run."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> list[int]:
    """The ids of the processes ``pid``'s threads started (that are still running)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cmdline(pid: int) -> bytes:
    """A process's command line (NUL-separated), or nothing once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
