"""``aigov decisions``: list, show and verify the gate decision log."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aigov.cli.options import db_option, format_option

if TYPE_CHECKING:
    from aigov.api.decisions import DecisionLog


def log_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--decision-log",
        "decision_log",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="AIGOV_DECISION_LOG",
        metavar="FILE",
        help="Read this JSON-lines decision log instead of the registry database's. Also "
        "$AIGOV_DECISION_LOG.",
    )(func)


@contextmanager
def _opened(db: str | None, decision_log: Path | None) -> Iterator[DecisionLog]:
    """The log to read: the file when one is named (no database is opened), else the
    registry database's."""
    from aigov.api.decisions import open_log
    from aigov.registry.store import open_registry

    if decision_log is not None:
        yield open_log(None, decision_log)
        return
    with open_registry(db) as registry:
        yield open_log(registry, None)


@click.group()
def decisions() -> None:
    """Inspect and verify the gate decision log (every 'aigov gate' decision, hash-chained)."""


@decisions.command("list")
@db_option
@log_option
@format_option("table", "json")
def decisions_list(db: str | None, decision_log: Path | None, fmt: str) -> None:
    """List recorded gate decisions, oldest first."""
    from aigov.api.decisions import list_decisions
    from aigov.reports.decisions import render_list

    with _opened(db, decision_log) as log:
        entries = list_decisions(log)
    if fmt == "json":
        click.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
    else:
        click.echo(render_list(entries), nl=False)


@decisions.command("show")
@db_option
@log_option
@click.argument("ref", metavar="N|latest|DIGEST")
@format_option("text", "json")
def decisions_show(db: str | None, decision_log: Path | None, ref: str, fmt: str) -> None:
    """Show one decision: its number, latest, or 8+ characters of its digest."""
    from aigov.api.decisions import find_decision
    from aigov.reports.decisions import render_entry

    with _opened(db, decision_log) as log:
        entry = find_decision(log, ref)
    if fmt == "json":
        click.echo(entry.model_dump_json(indent=2))
    else:
        click.echo(render_entry(entry), nl=False)


@decisions.command("verify")
@db_option
@log_option
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="DIGEST",
    help="A digest kept elsewhere (a CI log; 12+ characters): the log must still hold "
    "that entry (repeatable). Detects a log cut short or rewritten after it.",
)
@format_option("text", "json")
def decisions_verify(
    db: str | None, decision_log: Path | None, anchors: tuple[str, ...], fmt: str
) -> None:
    """Check the hash chain: every entry unchanged, none missing, inserted or moved.

    Exit 0 intact, 1 broken (naming the first broken entry), 2 the log cannot be read."""
    from aigov.api.decisions import verify_log
    from aigov.exit_codes import EXIT_FINDINGS, EXIT_OK
    from aigov.reports.decisions import render_report

    with _opened(db, decision_log) as log:
        report = verify_log(log, anchors)
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
    else:
        click.echo(render_report(report), nl=False)
    sys.exit(EXIT_OK if report.intact else EXIT_FINDINGS)
