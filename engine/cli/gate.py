"""``aigov gate``: ALLOW or DENY one proposed deployment, failing closed."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from aigov.cli.options import (
    LazyChoice,
    _policy_paths,
    as_of_option,
    db_option,
    environments,
    exposures,
    fail_on_option,
    format_option,
    policies_option,
)
from aigov.errors import AigovError, InputError
from aigov.exit_codes import EXIT_ERROR


@click.command()
@db_option
@policies_option
@as_of_option
@fail_on_option
@click.argument("model", required=False)
@click.option("--platform", help="Platform of the proposed deployment, e.g. azure-ai-foundry.")
@click.option("--region", help="Region of the proposed deployment, e.g. eastus.")
@click.option(
    "--environment",
    type=LazyChoice(environments),
    default="prod",
    show_default=True,
)
@click.option(
    "--exposure",
    type=LazyChoice(exposures),
    default="internal",
    show_default=True,
)
@click.option(
    "--guardrail",
    "guardrails",
    multiple=True,
    metavar="NAME",
    help="Guardrail the deployment will have (repeatable).",
)
@click.option("--approval", metavar="ID", help="Approval the deployment is made under.")
@click.option(
    "--deployment",
    "deployment_file",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Read the proposed deployment from a YAML/JSON descriptor "
    "(a registry deployment record) instead.",
)
@click.option(
    "--fail-on-indeterminate",
    is_flag=True,
    help="DENY with exit 3 when a required fact is missing at/above --fail-on.",
)
@format_option("text", "json")
def gate(
    db: str | None,
    policy_paths: tuple[Path, ...],
    as_of: Any,
    fail_on: str,
    model: str | None,
    platform: str | None,
    region: str | None,
    environment: str,
    exposure: str,
    guardrails: tuple[str, ...],
    approval: str | None,
    deployment_file: Path | None,
    fail_on_indeterminate: bool,
    fmt: str,
) -> None:
    """Pre-deployment gate: ALLOW (exit 0) or DENY (exit 1) a proposed deployment.

    The deployment is evaluated as a hypothetical fact; the registry is not changed.
    Fails closed: any error prints 'DENY (error: ...)' and exits 2, never 0.

    \b
    aigov gate deepseek-r1 --platform azure-ai-foundry --region eastus --environment prod
    aigov gate --deployment k8s/model-deployment.yaml
    """
    from aigov.api.gate import gate as run_gate
    from aigov.api.gate import proposed_deployment, read_deployment
    from aigov.registry.store import open_registry

    if deployment_file is not None and (model or platform or region):
        raise click.UsageError("give either --deployment FILE or MODEL --platform --region")
    if deployment_file is None and not (model and platform and region):
        raise click.UsageError("MODEL, --platform and --region are required (or --deployment FILE)")
    try:
        if deployment_file is not None:
            deployment = read_deployment(deployment_file)
        else:
            assert model and platform and region  # the UsageError checks above
            deployment = proposed_deployment(
                model, platform, region, environment, exposure, guardrails, approval
            )
        with open_registry(db) as registry:
            decision = run_gate(
                registry,
                deployment,
                _policy_paths(policy_paths),
                as_of=as_of,
                fail_on=fail_on,
                fail_on_indeterminate=fail_on_indeterminate,
            )
    except Exception as exc:  # fail closed, whatever went wrong
        message = exc.render() if isinstance(exc, InputError) else str(exc)
        if not isinstance(exc, AigovError) and os.environ.get("AIGOV_DEBUG"):
            traceback.print_exc()
        click.echo(f"DENY (error: {message.splitlines()[0] if message else type(exc).__name__})")
        click.echo(f"aigov: error: {message}", err=True)
        sys.exit(EXIT_ERROR)
    if fmt == "json":
        click.echo(decision.model_dump_json(indent=2))
    else:
        from aigov.reports.gate import render_text

        click.echo(render_text(decision), nl=False)
    sys.exit(decision.exit_code)
