"""``aigov policy``: list, validate and test policies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aigov.cli.options import _policy_paths, as_of_option, format_option, policy_paths_arguments
from aigov.console import counted
from aigov.exit_codes import EXIT_FINDINGS, EXIT_OK


@click.group()
def policy() -> None:
    """List, validate and test policies."""


@policy.command("list")
@policy_paths_arguments
@format_option("table", "json")
def policy_list(paths: tuple[Path, ...], policy_paths: tuple[Path, ...], fmt: str) -> None:
    """List the policies in PATHS (default: the shipped library): id, severity, family,
    title, reference."""
    from aigov.console import table
    from aigov.evaluate.outcomes import policy_catalogue
    from aigov.policy.loader import load_policies

    catalogue = policy_catalogue(load_policies(_policy_paths(paths + policy_paths)))
    if fmt == "json":
        click.echo(json.dumps([p.model_dump(mode="json") for p in catalogue], indent=2))
        return
    rows = [
        (
            p.id,
            p.severity.value,
            p.family.value,
            p.title,
            (p.references[0].get("section") or p.references[0]["title"]) if p.references else "",
        )
        for p in catalogue
    ]
    click.echo(table(["ID", "SEVERITY", "FAMILY", "TITLE", "REFERENCE"], rows))


@policy.command("validate")
@policy_paths_arguments
@as_of_option
def policy_validate(paths: tuple[Path, ...], policy_paths: tuple[Path, ...], as_of: Any) -> None:
    """Validate the policies in PATHS (default: the shipped library) and compile them for
    the engine.

    Every problem is reported with file:line, policy id and field; exit 2 if any."""
    import datetime as dt

    from aigov.compile.compiler import compile_policies
    from aigov.policy.loader import load_policies

    policy_set = load_policies(_policy_paths(paths + policy_paths))
    compiled = compile_policies(policy_set, as_of or dt.date.today())
    click.echo(
        f"{counted(len(policy_set.policies), 'policy')} and "
        f"{counted(len(policy_set.derivations), 'derivation')} "
        f"{'is' if len(policy_set.policies) + len(policy_set.derivations) == 1 else 'are'} valid "
        f"({counted(compiled.rule_count, 'engine rule')} in "
        f"{counted(len(compiled.shards), 'ruleset')})"
    )


@policy.command("test")
@policy_paths_arguments
@click.option(
    "--require-tests",
    is_flag=True,
    help="Fail unless every policy has a failing and a passing case.",
)
@format_option("text", "json")
def policy_test(
    paths: tuple[Path, ...], policy_paths: tuple[Path, ...], require_tests: bool, fmt: str
) -> None:
    """Run the policy tests (*.test.yaml next to the policies) in PATHS (default: the
    shipped library).

    Exit 0 when every case passes, 1 when a case fails (or, with --require-tests, a policy
    lacks cases, or no case ran at all), 2 for invalid policies or tests."""
    from aigov.api.policy_tests import run_policy_tests
    from aigov.reports.policy_tests import render_json, render_text, warnings

    report = run_policy_tests(_policy_paths(paths + policy_paths), require_tests=require_tests)
    if fmt == "json":
        click.echo(render_json(report))
    else:
        click.echo(render_text(report))
        for warning in warnings(report):
            click.echo(warning, err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_FINDINGS)
