"""``aigov coverage``: framework controls covered by the policies, and how a run stands."""

from __future__ import annotations

import os
from pathlib import Path

import click

from aigov.cli.options import (
    LazyChoice,
    _chosen_policy_paths,
    db_option,
    policies_option,
    write_output,
)


def _framework_ids() -> list[str]:
    from aigov.results.coverage import load_frameworks

    return list(load_frameworks())


def _formats() -> list[str]:
    from aigov.reports.coverage import FORMATS

    return list(FORMATS)


@click.command()
@db_option
@policies_option
@click.option(
    "--framework",
    "frameworks",
    multiple=True,
    type=LazyChoice(_framework_ids),
    metavar="ID",
    help="Only this framework (repeatable): eu-ai-act, nist-ai-rmf, nist-ai-600-1, "
    "iso-42001. Default: all.",
)
@click.option(
    "--format",
    "fmt",
    type=LazyChoice(_formats),
    default="text",
    show_default=True,
    metavar="FORMAT",
    help="text, json, html, oscal (OSCAL assessment results of the run) or oscal-component "
    "(the mapping as an OSCAL component definition).",
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@click.option(
    "--run",
    "run",
    metavar="RUN",
    help="The audit run to report on (id, prefix, latest, latest~N). Default: the latest "
    "recorded run, if any.",
)
@click.option("--no-run", is_flag=True, help="The mapping only: read no audit run.")
def coverage(
    db: str | None,
    policy_paths: tuple[Path, ...],
    frameworks: tuple[str, ...],
    fmt: str,
    output: str | None,
    run: str | None,
    no_run: bool,
) -> None:
    """Framework coverage: for each control of the EU AI Act, NIST AI RMF, NIST AI 600-1
    and ISO/IEC 42001 catalogues, the policies that implement it and, for an audit run, the
    outcomes per control. Controls no policy implements are listed as not covered.

    A report, not a gate: exit 0 when it was written, 2 on an error.

    \b
    aigov coverage --framework eu-ai-act
    aigov coverage --format oscal -o assessment-results.json
    aigov coverage --format oscal-component -o component-definition.json
    """
    from aigov.api.coverage import coverage as build_coverage
    from aigov.api.coverage import coverage_run
    from aigov.errors import MissingDatabaseError
    from aigov.registry.store import open_registry
    from aigov.reports.coverage import FORMATS

    if run is not None and no_run:
        raise click.UsageError("--run and --no-run exclude each other")
    result = None
    if not no_run:
        explicit_db = db is not None or bool(os.environ.get("AIGOV_DB"))
        try:
            registry = open_registry(db)
        except MissingDatabaseError:
            if run is not None or explicit_db:
                raise
            registry = None
            click.echo("no registry database (./aigov.db): the mapping only", err=True)
        if registry is not None:
            with registry:
                result = coverage_run(registry, run)
            if result is None:
                click.echo("no audit run recorded: the mapping only", err=True)
    found = build_coverage(
        result, policy_paths=_chosen_policy_paths(policy_paths), frameworks=list(frameworks) or None
    )
    report = found.report
    mapped_now = result is not None and report.mapping == "policy set"
    if mapped_now and result is not None and report.policy_digest != result.policy_digest:
        click.echo(
            "note: the run was evaluated with another policy set "
            f"({result.policy_digest[:12]}); its outcomes are mapped by the policies "
            f"loaded now ({(report.policy_digest or '')[:12]}), by policy id",
            err=True,
        )
    write_output(FORMATS[fmt].render(report, found.result), output)
