"""``aigov gate``: ALLOW or DENY one proposed deployment, failing closed.

Every outcome prints a verdict on stdout, in the chosen format: a decision, or ``DENY (error:
...)`` (``{"decision": "DENY", "exit_code": 2, "error": ...}`` with ``--format json``) for a
usage error, bad input or an engine fault, with exit code 2.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

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

# What a descriptor file (--deployment FILE) already says: given together with it, these
# would be silently ignored or silently override the file, so they are a usage error.
DESCRIPTOR_FIELDS = (
    "model",
    "platform",
    "region",
    "environment",
    "exposure",
    "guardrails",
    "approval",
)


def _wants_json(args: Sequence[str]) -> bool:
    """Whether the raw arguments ask for ``--format json`` (for errors found while they are
    being parsed, before click has the option's value)."""
    args = list(args)
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--format" and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--format="):
            value = arg.split("=", 1)[1]
        else:
            continue
        if value == "json":
            return True
    return False


def print_error(exc: BaseException, as_json: bool) -> None:
    """The verdict of a gate that could not decide: DENY, on stdout, in the chosen format."""
    from aigov.results.decisions import GateError

    if isinstance(exc, click.ClickException):  # with the option it concerns
        error = GateError.from_message(exc.format_message())
    else:
        error = GateError.from_exception(exc)
    if as_json:
        click.echo(error.model_dump_json(indent=2))
    else:
        from aigov.reports.gate import render_error_text

        click.echo(render_error_text(error), nl=False)


class GateCommand(click.Command):
    """A usage error (a bad option, a missing argument, a forbidden combination) is a DENY
    like every other error: the verdict goes to stdout before click's usage message and its
    exit code 2."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        raw = list(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            print_error(exc, _wants_json(raw))
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            print_error(exc, ctx.params.get("fmt") == "json")
            raise


def _given(ctx: click.Context, name: str) -> bool:
    """Whether the user gave parameter ``name`` (not left to its default)."""
    source = ctx.get_parameter_source(name)
    return source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def _flag(ctx: click.Context, name: str) -> str:
    param = next(p for p in ctx.command.params if p.name == name)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    return max(param.opts, key=len)


@click.command(cls=GateCommand)
@db_option
@policies_option
@as_of_option
@fail_on_option
@click.argument("model", required=False)
@click.option("--platform", help="Platform of the proposed deployment, e.g. azure-ai-foundry.")
@click.option(
    "--region",
    help="Region of the proposed deployment, e.g. eastus; omit it for a global endpoint "
    "(region 'global').",
)
@click.option(
    "--environment",
    type=LazyChoice(environments),
    default="prod",
    show_default=True,
    help="The stage the deployment serves: dev (development), staging (pre-production "
    "testing) or prod (production traffic). Approval coverage is judged per stage "
    "(HOST-001 for prod, HOST-002 for the others).",
)
@click.option(
    "--exposure",
    type=LazyChoice(exposures),
    default="internal",
    show_default=True,
    help="Who reaches the model: internal (the organisation's own staff and systems), "
    "customer_facing (the organisation's customers), public_catalog (anyone, e.g. a "
    "model catalogue listing). Policies on distribution, investigations and approval scope "
    "read it, so the default can change the decision: give the real exposure.",
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
    help="Read the proposed deployment from a YAML/JSON descriptor (one registry "
    "deployment record) instead; MODEL and the deployment options are then a usage error.",
)
@click.option(
    "--fail-on-indeterminate",
    is_flag=True,
    help="DENY with exit 3 when a required fact is missing at/above --fail-on.",
)
@click.option(
    "--decision-log",
    "decision_log",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="AIGOV_DECISION_LOG",
    metavar="FILE",
    help="Record the decision in this JSON-lines file instead of the registry database "
    "(for a gate role that may not write the database). Also $AIGOV_DECISION_LOG.",
)
@click.option(
    "--no-record",
    is_flag=True,
    help="Do not record the decision in the decision log: nothing is written.",
)
@click.option(
    "--require-log/--no-require-log",
    default=True,
    show_default=True,
    help="An ALLOW that cannot be recorded is not given: DENY (error), exit 2. With "
    "--no-require-log it is given with a warning. A DENY stays a DENY either way.",
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
    decision_log: Path | None,
    no_record: bool,
    require_log: bool,
    fmt: str,
) -> None:
    """Pre-deployment gate: ALLOW (exit 0) or DENY (exit 1) a proposed deployment.

    The deployment is evaluated as a hypothetical fact; the registry is not changed.
    Every finding about what it relies on decides: the deployment, its model, the approval
    it names, and the waivers of any of these. Fails closed: any error prints
    'DENY (error: ...)' (with --format json: {"decision": "DENY", "exit_code": 2,
    "error": ...}) and exits 2, never 0.

    \b
    aigov gate deepseek-r1 --platform azure-ai-foundry --region eastus --environment prod
    aigov gate --deployment k8s/model-deployment.yaml

    With --deployment FILE the whole deployment comes from FILE: MODEL, --platform,
    --region, --environment, --exposure, --guardrail and --approval are a usage error
    beside it (exit 2), never silently ignored.

    Every decision is recorded in the hash-chained decision log ('aigov decisions'): in
    the registry database, or in --decision-log FILE. An ALLOW that cannot be recorded is
    a DENY (error) unless --no-require-log; --no-record records nothing.
    """
    from aigov.api.decisions import DecisionLogError, open_log, record_decision
    from aigov.api.gate import gate as run_gate
    from aigov.api.gate import proposed_deployment, read_deployment
    from aigov.registry.store import open_registry

    ctx = click.get_current_context()
    if deployment_file is not None:
        clashing = [_flag(ctx, name) for name in DESCRIPTOR_FIELDS if _given(ctx, name)]
        if clashing:
            raise click.UsageError(
                f"{', '.join(clashing)} cannot be given with --deployment FILE: the "
                "deployment comes from the file (edit the file, or give MODEL --platform "
                "--region ... without --deployment)"
            )
    elif not (model and platform):
        raise click.UsageError("MODEL and --platform are required (or --deployment FILE)")
    if no_record and _given(ctx, "require_log"):
        raise click.UsageError(
            f"--no-record records nothing: {_flag(ctx, 'require_log')} cannot be given with it"
        )
    if no_record and ctx.get_parameter_source("decision_log") == ParameterSource.COMMANDLINE:
        raise click.UsageError(
            "--no-record records nothing: --decision-log cannot be given with it"
        )
    not_recorded: DecisionLogError | None = None
    try:
        if deployment_file is not None:
            deployment = read_deployment(deployment_file)
        else:
            assert model and platform  # the UsageError checks above
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
                registry_digest=not no_record,
            )
            if not no_record:
                source = str(deployment_file) if deployment_file is not None else "command line"
                try:
                    record_decision(
                        open_log(registry, decision_log), decision, deployment_source=source
                    )
                except DecisionLogError as exc:
                    not_recorded = exc
    except Exception as exc:  # fail closed, whatever went wrong
        message = exc.render() if isinstance(exc, InputError) else str(exc)
        if not isinstance(exc, AigovError) and os.environ.get("AIGOV_DEBUG"):
            traceback.print_exc()
        print_error(exc, fmt == "json")
        click.echo(f"aigov: error: {message or type(exc).__name__}", err=True)
        sys.exit(EXIT_ERROR)
    if not_recorded is not None and decision.decision == "ALLOW" and require_log:
        refused = DecisionLogError(
            f"the decision could not be recorded, and an unrecorded pass is no pass: "
            f"{not_recorded}; --no-require-log passes without a record, --no-record records "
            "nothing"
        )
        print_error(refused, fmt == "json")
        click.echo(f"aigov: error: {refused}", err=True)
        sys.exit(EXIT_ERROR)
    if not_recorded is not None:  # a DENY, or --no-require-log: the verdict stands
        click.echo(f"aigov: warning: the decision was not recorded: {not_recorded}", err=True)
    if fmt == "json":
        click.echo(decision.model_dump_json(indent=2))
    else:
        from aigov.reports.gate import render_text

        click.echo(render_text(decision), nl=False)
    sys.exit(decision.exit_code)
