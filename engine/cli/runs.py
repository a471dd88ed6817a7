"""``aigov runs``: list, show and compare recorded audit runs."""

from __future__ import annotations

import datetime as dt
import json

import click

from aigov.cli.options import (
    IsoDateType,
    _format_choice,
    _print_diff,
    db_option,
    format_option,
    write_output,
)


@click.group()
def runs() -> None:
    """Inspect and compare recorded audit runs."""


@runs.command("list")
@db_option
@format_option("table", "json")
def runs_list(db: str | None, fmt: str) -> None:
    """List recorded runs, oldest first."""
    from aigov.api.runs import list_runs
    from aigov.console import table
    from aigov.registry.store import open_registry

    with open_registry(db) as registry:
        items = list_runs(registry)
    if fmt == "json":
        click.echo(json.dumps([r.model_dump(mode="json") for r in items], indent=2))
        return
    rows = [
        (
            r.id,
            r.started_at.isoformat(),
            r.as_of.isoformat(),
            r.model_count,
            r.counts.get("fail", 0),
            r.counts.get("review", 0),
            r.policy_digest[:12],
            r.registry_digest[:12],
        )
        for r in items
    ]
    click.echo(
        table(["RUN", "STARTED", "AS OF", "MODELS", "FAIL", "REVIEW", "POLICIES", "REGISTRY"], rows)
    )


@runs.command("show")
@db_option
@click.argument("run")
@click.option(
    "--format",
    "fmt",
    type=_format_choice(),
    default="text",
    show_default=True,
    help="Report format of the stored run (as `aigov report` renders it).",
)
def runs_show(db: str | None, run: str, fmt: str) -> None:
    """Show a recorded run (RUN: id, unique prefix, latest or latest~N)."""
    from aigov.api.runs import load_run
    from aigov.registry.store import open_registry
    from aigov.reports import render

    with open_registry(db) as registry:
        result = load_run(registry, run)
    if fmt == "text" and result.run:
        click.echo(f"run {result.run.id} started {result.run.started_at.isoformat()}")
    write_output(render(fmt, result), None)


@runs.command("diff")
@db_option
@click.argument("run_a")
@click.argument("run_b")
@format_option("text", "json")
def runs_diff(db: str | None, run_a: str, run_b: str, fmt: str) -> None:
    """Compare two runs: findings new, resolved, persisting, newly waived, waiver expired."""
    from aigov.api.runs import load_run
    from aigov.registry.store import open_registry
    from aigov.results.diff import diff_results

    with open_registry(db) as registry:
        diff = diff_results(load_run(registry, run_a), load_run(registry, run_b))
    _print_diff(diff, fmt)


@runs.command("baseline")
@db_option
@click.argument("run")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the baseline to FILE (default: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    help="File format (default: json for an -o FILE ending in .json, else yaml).",
)
@click.option(
    "--expires-at",
    type=IsoDateType(),
    help="Last day every entry applies; after it the findings count again.",
)
@click.option("--reason", metavar="TEXT", help="Why these findings are accepted (kept per entry).")
def runs_baseline(
    db: str | None,
    run: str,
    output: str | None,
    fmt: str | None,
    expires_at: dt.date | None,
    reason: str | None,
) -> None:
    """Write a baseline file from recorded run RUN: every fail, review and indeterminate
    finding of that run, as it was, for 'aigov audit --baseline FILE'.

    \b
    aigov runs baseline latest -o aigov-baseline.yaml --expires-at 2025-12-31
    """
    from aigov.api.baseline import dump_baseline, run_baseline
    from aigov.registry.store import open_registry

    chosen = fmt or ("json" if output and output.lower().endswith(".json") else "yaml")
    with open_registry(db) as registry:
        baseline = run_baseline(registry, run, expires_at=expires_at, reason=reason)
    write_output(dump_baseline(baseline, chosen), output)
