"""A run diff as text (``aigov runs diff``, ``aigov audit --since``)."""

from __future__ import annotations

from aigov.console import printable
from aigov.results.diff import RunDiff
from aigov.results.findings import Change


def render_diff_text(diff: RunDiff) -> str:
    """Counts per kind of change, then every finding that changed."""
    counts: dict[Change, int] = {
        change: len(diff.of(change)) for change in Change if change != Change.persisting
    }
    counts[Change.persisting] = len(diff.of(Change.persisting))
    lines = [
        f"changes from {diff.before or '?'} to {diff.after or 'this audit'}: "
        + ", ".join(f"{n} {c.value.replace('_', ' ')}" for c, n in counts.items())
    ]
    for entry in diff.changed:
        before = entry.before.value if entry.before else "-"
        after = entry.after.value if entry.after else "pass"
        lines.append(
            f"  {entry.change.value:<15} [{entry.severity.value}] {entry.policy} {entry.model} "
            f"{entry.subject_kind} {entry.subject} ({before} -> {after}): {entry.message}"
        )
    return "\n".join(map(printable, lines)) + "\n"  # one line per entry, controls escaped
