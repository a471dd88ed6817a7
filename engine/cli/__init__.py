"""The ``aigov`` command line: thin click commands over the Python API.

Exit codes (one contract for every command): 0 pass, 1 findings at or above the threshold,
2 usage, input or engine error, 3 indeterminate at or above the threshold. Any unexpected
exception is reported and exits 2, never 0.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aigov import __version__
from aigov.errors import AigovError, InputError

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INDETERMINATE = 0, 1, 2, 3


def fail(message: str, code: int = EXIT_ERROR) -> None:
    click.echo(f"aigov: error: {message}", err=True)
    sys.exit(code)


class AigovGroup(click.Group):
    """Maps aigov errors and unexpected exceptions to exit code 2 with a one-line message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(exc.render(), err=True)
            sys.exit(EXIT_ERROR)
        except AigovError as exc:
            fail(str(exc))
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # fail closed: an internal error is never exit 0
            if os.environ.get("AIGOV_DEBUG"):
                traceback.print_exc()
            fail(f"internal error: {type(exc).__name__}: {exc}")


def _db_from_group(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A subcommand's --db wins; else the one given before the subcommand; else AIGOV_DB and
    the default, resolved by open_registry."""
    if value:
        return value
    root = ctx.find_root()
    return (root.obj or {}).get("db")


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        metavar="URL",
        callback=_db_from_group,
        help="Registry database URL (SQLAlchemy form). Default: $AIGOV_DB or sqlite:///aigov.db",
    )(func)


def format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format`` with these choices; the first is the default."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def write_output(text: str, output: str | None) -> None:
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))


@click.group(cls=AigovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aigov")
@click.option(
    "--db",
    "db",
    metavar="URL",
    help="Registry database URL for every command (also $AIGOV_DB; default sqlite:///aigov.db).",
)
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """aigov: check AI models against governance policies before they are hosted or deployed.

    Policies (YAML) are evaluated by a Rete rules engine (durable-rules) against a model
    registry (SQLite by default, PostgreSQL by URL).

    \b
    Exit codes: 0 pass, 1 findings at/above --fail-on, 2 usage/input/engine error,
                3 indeterminate at/above the threshold.
    """
    ctx.obj = {"db": db}


@main.command()
@db_option
def init(db: str | None) -> None:
    """Create an empty registry database (default: ./aigov.db)."""
    from aigov.registry.store import open_registry

    with open_registry(db, create=True) as registry:
        click.echo(f"initialised registry {registry.display_url}")


@main.group()
def registry() -> None:
    """Import, export and inspect model-registry records."""


@registry.command("import")
@db_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report changes without writing.")
@format_option("text", "json")
def registry_import(db: str | None, paths: tuple[Path, ...], dry_run: bool, fmt: str) -> None:
    """Import registry files (YAML/JSON; directories recursively), atomically.

    All files are validated first; any error (reported with file:line, record and field)
    imports nothing. Re-importing unchanged records changes nothing. --dry-run reports what
    would change (against an empty registry when the database does not exist yet).
    """
    from aigov.errors import MissingDatabaseError
    from aigov.registry.operations import import_paths
    from aigov.registry.store import open_registry

    try:
        reg = open_registry(db, create=not dry_run)
    except MissingDatabaseError:
        if not dry_run:
            raise
        # Nothing to compare with yet: validate against an empty registry, create no file.
        reg = open_registry("sqlite://", create=True)
        click.echo("no registry database yet: validating against an empty registry", err=True)
    with reg:
        report = import_paths(reg, list(paths), dry_run=dry_run)
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
        return
    verb = "would import" if dry_run else "imported"
    created = ", ".join(f"{n} {k}" for k, n in report.created.items()) or "none"
    updated = ", ".join(f"{n} {k}" for k, n in report.updated.items()) or "none"
    click.echo(
        f"{verb} {report.records} records from {report.files} files: "
        f"{report.changes} changes (created: {created}; updated: {updated}; "
        f"unchanged: {report.unchanged})"
    )


@registry.command("export")
@db_option
@format_option("yaml", "json")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
def registry_export(db: str | None, fmt: str, output: str | None) -> None:
    """Export the whole registry as one registry file (re-importable)."""
    from aigov.registry.interchange import dump_registry
    from aigov.registry.operations import export_registry
    from aigov.registry.store import open_registry

    with open_registry(db) as reg:
        write_output(dump_registry(export_registry(reg), fmt), output)


@registry.command("list")
@db_option
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Only this kind (repeatable): provider, terms, model, dataset, lineage, "
    "investigation, approval, deployment, waiver.",
)
@format_option("table", "json")
def registry_list(db: str | None, kinds: tuple[str, ...], fmt: str) -> None:
    """List records (kind, id, name)."""
    from aigov.console import table
    from aigov.registry.operations import list_records
    from aigov.registry.records import KINDS
    from aigov.registry.store import open_registry

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise click.BadParameter(
            f"unknown kind {unknown[0]!r} (choose from {', '.join(KINDS)})", param_hint="--kind"
        )
    with open_registry(db) as reg:
        rows = list_records(reg, list(kinds) or None)
    if fmt == "json":
        click.echo(json.dumps([r.model_dump() for r in rows], indent=2, ensure_ascii=False))
    else:
        click.echo(table(["KIND", "ID", "NAME"], [(r.kind, r.id, r.label) for r in rows]))


@registry.command("show")
@db_option
@click.argument("record_id", metavar="ID")
@format_option("text", "json")
def registry_show(db: str | None, record_id: str, fmt: str) -> None:
    """Show a record and its relations: lineage up and down, datasets, deployments,
    approvals, investigations and waivers."""
    from aigov.registry.operations import render_record_text, show_record
    from aigov.registry.store import open_registry

    with open_registry(db) as reg:
        view = show_record(reg, record_id)
    click.echo(view.model_dump_json(indent=2) if fmt == "json" else render_record_text(view))


@registry.command("schema")
def registry_schema() -> None:
    """Print the JSON Schema of registry files."""
    from aigov.registry.interchange import registry_json_schema

    click.echo(json.dumps(registry_json_schema(), indent=2, sort_keys=True))


# ----------------------------------------------------------------------------- shared options

SEVERITIES = ["critical", "high", "medium", "low", "info"]


class IsoDateType(click.ParamType):
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import datetime as dt

        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)", param, ctx)


def policies_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--policies",
        "policy_paths",
        multiple=True,
        type=click.Path(path_type=Path),
        metavar="PATH",
        help="Policy file or directory (repeatable). Default: the shipped policy library.",
    )(func)


def as_of_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        type=IsoDateType(),
        help="Evaluate as of this date (default: today). Approvals, waivers and relative "
        "dates are judged against it.",
    )(func)


def fail_on_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--fail-on",
        type=click.Choice(SEVERITIES),
        default="high",
        show_default=True,
        help="Lowest severity whose fail/review findings make the exit code 1.",
    )(func)


def _policy_paths(paths: tuple[Path, ...]) -> list[Path] | None:
    return list(paths) or None


# ----------------------------------------------------------------------------- policy


@main.group()
def policy() -> None:
    """List, validate and test policies."""


@policy.command("list")
@policies_option
@format_option("table", "json")
def policy_list(policy_paths: tuple[Path, ...], fmt: str) -> None:
    """List the policies (id, severity, family, title, reference)."""
    from aigov.console import table
    from aigov.evaluate.engine import policy_catalogue
    from aigov.policy.language import load_policies

    catalogue = policy_catalogue(load_policies(_policy_paths(policy_paths)))
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
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@as_of_option
def policy_validate(paths: tuple[Path, ...], as_of: Any) -> None:
    """Validate policies (default: the shipped library) and compile them for the engine.

    Every problem is reported with file:line, policy id and field; exit 2 if any."""
    import datetime as dt

    from aigov.compile.compiler import compile_policies
    from aigov.policy.language import load_policies

    policy_set = load_policies(list(paths) or None)
    compiled = compile_policies(policy_set, as_of or dt.date.today())
    click.echo(
        f"{len(policy_set.policies)} policies and {len(policy_set.derivations)} derivations "
        f"are valid ({compiled.rule_count} engine rules in {len(compiled.shards)} rulesets)"
    )


@policy.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--require-tests",
    is_flag=True,
    help="Fail unless every policy has a failing and a passing case.",
)
@format_option("text", "json")
def policy_test(paths: tuple[Path, ...], require_tests: bool, fmt: str) -> None:
    """Run policy tests (*.test.yaml next to the policies).

    Exit 0 when every case passes, 1 when a case fails (or, with --require-tests, a policy
    lacks cases, or no case ran at all), 2 for invalid policies or tests."""
    from aigov.api.policy_tests import run_policy_tests

    report = run_policy_tests(list(paths) or None, require_tests=require_tests)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "cases": [
                        {
                            "file": r.file,
                            "line": r.line,
                            "name": r.name,
                            "ok": r.ok,
                            "failures": r.failures,
                        }
                        for r in report.results
                    ],
                    "coverage": {k: sorted(v) for k, v in sorted(report.coverage.items())},
                    "missing_tests": report.missing_tests,
                },
                indent=2,
            )
        )
    else:
        for result in report.results:
            mark = "ok  " if result.ok else "FAIL"
            click.echo(f"{mark} {result.file}:{result.line} {result.name}")
            for failure in result.failures:
                click.echo(f"       {failure}")
        passed = sum(r.ok for r in report.results)
        click.echo(f"\n{passed} of {len(report.results)} cases passed")
        if not report.results:
            click.echo("no test case ran: a run that tests nothing fails", err=True)
        if report.missing_tests:
            click.echo(
                "policies without both a failing and a passing case: "
                + ", ".join(report.missing_tests),
                err=True,
            )
    sys.exit(EXIT_OK if report.ok else EXIT_FINDINGS)


# ----------------------------------------------------------------------------- audit


def _outputs(formats: tuple[str, ...], outputs: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """Pair each --format with the -o given in the same position; the rest go to stdout."""
    chosen = list(formats) or ["text"]
    if len(outputs) > len(chosen):
        raise click.UsageError("more -o/--output than --format options")
    pairs = [(fmt, outputs[i] if i < len(outputs) else None) for i, fmt in enumerate(chosen)]
    if sum(1 for _, out in pairs if out in (None, "-")) > 1:
        raise click.UsageError("only one format can go to stdout; give each other one an -o")
    return pairs


def _format_choice() -> click.Choice:
    from aigov.reports import RENDERERS

    return click.Choice(list(RENDERERS))


@main.command()
@db_option
@policies_option
@as_of_option
@fail_on_option
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="ID",
    help="Audit only this model (repeatable). Default: every model.",
)
@click.option(
    "--fail-on-indeterminate",
    is_flag=True,
    help="Exit 3 when a finding at/above --fail-on is indeterminate (a required "
    "fact is missing) and nothing fails.",
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=_format_choice(),
    metavar="FORMAT",
    help="Output format, repeatable: " + "text, json, html, sarif, junit, markdown"
    " (default: text).",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="PATH",
    help="Write the format given in the same position to PATH (repeatable).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the number of CPUs).",
)
@click.option("--no-record", is_flag=True, help="Do not store this run in the run history.")
@click.option(
    "--since",
    "since",
    metavar="RUN",
    help="Print only what changed since RUN (id, prefix or latest); exit 1 only for "
    "new or regressed findings at/above --fail-on.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or run notices on stderr.")
def audit(
    db: str | None,
    policy_paths: tuple[Path, ...],
    as_of: Any,
    fail_on: str,
    models: tuple[str, ...],
    fail_on_indeterminate: bool,
    formats: tuple[str, ...],
    outputs: tuple[str, ...],
    workers: int | None,
    no_record: bool,
    since: str | None,
    quiet: bool,
) -> None:
    """Audit the registry (or --model ...) against every policy.

    Prints a summary (outcomes by severity and family, blocked models) and the findings.
    Exit 0 pass, 1 findings at/above --fail-on, 2 error, 3 indeterminate (with
    --fail-on-indeterminate)."""
    import datetime as dt

    from aigov.api.runs import diff_results, load_run, record_run
    from aigov.console import Progress
    from aigov.evaluate.engine import resolve_models
    from aigov.registry.store import open_registry
    from aigov.results.severity import Severity
    from aigov.results.spool import audit_to_spool

    pairs = _outputs(formats, outputs)
    started = dt.datetime.now(dt.UTC)
    with open_registry(db) as registry:
        baseline = load_run(registry, since) if since else None
        total = len(resolve_models(registry, list(models) or None))
        progress = Progress("auditing models", total, enabled=not quiet)
        try:
            spool = audit_to_spool(
                registry,
                _policy_paths(policy_paths),
                as_of,
                list(models) or None,
                fail_on=fail_on,
                workers=workers or os.cpu_count() or 1,
                progress=progress.advance,
            )
        finally:
            progress.close()
        with spool:
            if not no_record:
                run = record_run(registry, spool, started, list(models) or None)
                if not quiet:
                    click.echo(f"recorded run {run.id}", err=True)
            if baseline is not None:
                diff = diff_results(baseline, spool)
                spool.changes, spool.since = diff.entries, diff.before
                if all(fmt == "text" for fmt, _ in pairs):
                    _print_diff(diff, "text")
                    regressions = [
                        e
                        for e in diff.entries
                        if e.change in ("new", "waiver_expired", "changed")
                        and e.after in ("fail", "review")
                        and e.severity.rank >= Severity(fail_on).rank
                    ]
                    sys.exit(EXIT_FINDINGS if regressions else EXIT_OK)
            for fmt, output in pairs:
                write_report(fmt, spool, output)
            threshold = Severity(fail_on)
            if spool.count_at_or_above(("fail", "review"), threshold):  # type: ignore[arg-type]
                sys.exit(EXIT_FINDINGS)
            if fail_on_indeterminate and spool.count_at_or_above(("indeterminate",), threshold):  # type: ignore[arg-type]
                sys.exit(EXIT_INDETERMINATE)
    sys.exit(EXIT_OK)


def write_report(fmt: str, view: Any, output: str | None) -> None:
    """Write one report format; JSON and text stream from the view, the others render the
    materialised result."""
    from aigov.reports import RENDERERS

    renderer = RENDERERS[fmt]
    if output and output != "-":
        with open(output, "w", encoding="utf-8") as handle:
            renderer.write(view, handle)
    else:
        renderer.write(view, sys.stdout)


# ----------------------------------------------------------------------------- gate


@main.command()
@db_option
@policies_option
@as_of_option
@fail_on_option
@click.argument("model", required=False)
@click.option("--platform", help="Platform of the proposed deployment, e.g. azure-ai-foundry.")
@click.option("--region", help="Region of the proposed deployment, e.g. eastus.")
@click.option(
    "--environment",
    type=click.Choice(["dev", "staging", "prod"]),
    default="prod",
    show_default=True,
)
@click.option(
    "--exposure",
    type=click.Choice(["internal", "customer_facing", "public_catalog"]),
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
        from aigov.api.gate import render_text

        click.echo(render_text(decision), nl=False)
    sys.exit(decision.exit_code)


# ----------------------------------------------------------------------------- explain


@main.command()
@db_option
@policies_option
@as_of_option
@click.argument("model")
@click.option(
    "--policy",
    "policy_id",
    metavar="ID",
    help="Explain this policy for every subject of the model, passes included.",
)
def explain(
    db: str | None, policy_paths: tuple[Path, ...], as_of: Any, model: str, policy_id: str | None
) -> None:
    """Explain a model's findings: conditions that held, records and values, lineage path,
    clause and reference, remediation, and what would make it pass."""
    import datetime as dt

    from aigov.api.explain import explain as run_explain
    from aigov.api.explain import render_text
    from aigov.registry.store import open_registry

    as_of = as_of or dt.date.today()
    with open_registry(db) as registry:
        explanations = run_explain(
            registry, model, policy_id, _policy_paths(policy_paths), as_of=as_of
        )
    click.echo(render_text(explanations, as_of), nl=False)


# ----------------------------------------------------------------------------- runs


@main.group()
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
@click.option("--format", "fmt", type=_format_choice(), default="text", show_default=True)
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


def _print_diff(diff: Any, fmt: str) -> None:
    from aigov.api.runs import render_diff_text

    click.echo(
        diff.model_dump_json(indent=2) if fmt == "json" else render_diff_text(diff),
        nl=fmt == "json",
    )


@runs.command("diff")
@db_option
@click.argument("run_a")
@click.argument("run_b")
@format_option("text", "json")
def runs_diff(db: str | None, run_a: str, run_b: str, fmt: str) -> None:
    """Compare two runs: findings new, resolved, persisting, newly waived, waiver expired."""
    from aigov.api.runs import diff_results, load_run
    from aigov.registry.store import open_registry

    with open_registry(db) as registry:
        diff = diff_results(load_run(registry, run_a), load_run(registry, run_b))
    _print_diff(diff, fmt)


# ----------------------------------------------------------------------------- report


@main.command()
@db_option
@click.argument("target", metavar="RUN|schema")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=_format_choice(),
    metavar="FORMAT",
    help="Report format (repeatable, paired with -o): text, json, html, sarif, junit, markdown.",
)
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    metavar="PATH",
    help="Write the format given in the same position to PATH.",
)
def report(db: str | None, target: str, formats: tuple[str, ...], outputs: tuple[str, ...]) -> None:
    """Render recorded run RUN (id, prefix, latest, latest~N) as reports, or print the JSON
    report's schema with 'aigov report schema'.

    \b
    aigov report latest --format html -o report.html --format sarif -o report.sarif
    """
    if target == "schema":
        from aigov.reports.json_report import schema_text

        click.echo(schema_text(), nl=False)
        return
    from aigov.api.runs import load_run
    from aigov.registry.store import open_registry
    from aigov.reports import render

    if not formats:
        raise click.UsageError("give at least one --format")
    pairs = _outputs(formats, outputs)
    with open_registry(db) as registry:
        result = load_run(registry, target)
    for fmt, output in pairs:
        write_output(render(fmt, result), output)


# ----------------------------------------------------------------------------- demo


@main.command()
@click.option(
    "-o",
    "--output",
    default="aigov-report.html",
    show_default=True,
    metavar="PATH",
    help="Where to write the HTML report.",
)
@as_of_option
def demo(output: str, as_of: Any) -> None:
    """Run the motivating case end to end, with no set-up.

    Builds a temporary SQLite registry from the shipped example registry, audits it with the
    shipped policies (as of 2025-06-01, the date the example records tell the story at),
    writes the HTML report, prints the summary, and gates DeepSeek-R1's proposed production
    deployment on Azure AI Foundry. Exits 0 when the demo ran, whatever it found.
    """
    from aigov.api.demo import DEMO_AS_OF, run_demo
    from aigov.api.gate import evidence_line
    from aigov.reports import render

    outcome = run_demo(as_of or DEMO_AS_OF)
    report = Path(output)
    report.write_text(render("html", outcome.result), encoding="utf-8")
    click.echo(
        f"Imported the example registry ({outcome.imported.records} records) into a "
        "temporary SQLite database and audited it with the shipped policies.\n"
    )
    click.echo(render("text", outcome.result))
    decision = outcome.decision
    dep = decision.deployment
    click.echo(
        f"Gate: may {decision.model} be deployed to {dep['platform']}/{dep['region']}/"
        f"{dep['environment']}?"
    )
    click.echo(f"  {decision.decision} ({decision.reason})")
    for finding in decision.blocking:
        click.echo(f"  [{finding.severity.value}] {finding.policy}: {finding.message}")
        click.echo(f"      evidence: {evidence_line(finding)}")
    click.echo(f"\nHTML report: {report.resolve()}")
    from aigov.shipped import shipped

    click.echo(
        f"Next: aigov registry import {shipped('examples')} (into ./aigov.db), then "
        "aigov audit --as-of 2025-06-01, aigov explain deepseek-r1 --as-of 2025-06-01"
    )
