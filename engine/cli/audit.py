"""``aigov audit`` and ``aigov report``: audit the registry, render recorded runs as reports."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import click

from aigov.cli.options import (
    _policy_paths,
    _print_diff,
    as_of_option,
    db_option,
    fail_on_option,
    policies_option,
    report_formats,
    report_options,
    write_output,
)

sarif_root_option = click.option(
    "--sarif-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="SARIF: give each result the file and line of its record, relative to this "
    "directory (the repository root that code scanning resolves paths against; default: "
    "the current directory).",
)


def _sarif(registry: Any, result: Any, root: Path | None) -> str:
    """The SARIF report, each result located at the registry file line of its record."""
    from aigov.api.locations import source_locations
    from aigov.reports import sarif

    return sarif.render(result, source_locations(registry, result.findings, root))


def _outputs(formats: tuple[str, ...], outputs: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """Pair each --format with the -o given in the same position; the rest go to stdout."""
    chosen = list(formats) or ["text"]
    if len(outputs) > len(chosen):
        raise click.UsageError("more -o/--output than --format options")
    pairs = [(fmt, outputs[i] if i < len(outputs) else None) for i, fmt in enumerate(chosen)]
    if sum(1 for _, out in pairs if out in (None, "-")) > 1:
        raise click.UsageError("only one format can go to stdout; give each other one an -o")
    return pairs


@click.command()
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
@report_options("Output format, repeatable: " + ", ".join(report_formats()) + " (default: text).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes, or with --executor dask the LocalCluster's (default: the number "
    "of CPUs).",
)
@click.option(
    "--executor",
    type=click.Choice(["processes", "dask"]),
    default="processes",
    show_default=True,
    help="How partitions are spread: forked worker processes, or Dask tasks (needs "
    "aigov-rules[dask]; without --scheduler, on a LocalCluster of --workers processes).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --executor dask: the Dask scheduler to run on (tcp://host:8786); its workers "
    "open the registry themselves (PostgreSQL, or a SQLite file they can all read).",
)
@click.option("--no-record", is_flag=True, help="Do not store this run in the run history.")
@click.option(
    "--since",
    "since",
    metavar="RUN",
    help="Print only what changed since RUN (id, prefix or latest); exit 1 only for "
    "new or regressed findings at/above --fail-on.",
)
@click.option(
    "--baseline",
    "baseline_ref",
    metavar="RUN|FILE",
    help="Report everything, but set the exit code only from findings not in this "
    "baseline: a recorded run (id, prefix or latest) or a baseline file (aigov runs "
    "baseline). A finding that got worse, or whose entry expired, still counts.",
)
@sarif_root_option
@click.option("-q", "--quiet", is_flag=True, help="No progress or run notices on stderr.")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Pass a registry that holds no models (default: an error, exit 2: an audit of "
    "nothing is no pass).",
)
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
    executor: Literal["processes", "dask"],
    scheduler: str | None,
    no_record: bool,
    since: str | None,
    baseline_ref: str | None,
    sarif_root: Path | None,
    quiet: bool,
    allow_empty: bool,
) -> None:
    """Audit the registry (or --model ...) against every policy.

    Prints a summary (outcomes by severity and family, blocked models) and the findings.
    Exit 0 pass, 1 findings at/above --fail-on (with --baseline: only those the baseline
    does not cover), 2 error (also: a registry with no models, unless --allow-empty; a bad
    baseline file), 3 indeterminate (with --fail-on-indeterminate)."""
    import datetime as dt

    from aigov.api.baseline import load_baseline
    from aigov.api.runs import load_run, record_run
    from aigov.console import Progress
    from aigov.errors import AigovError
    from aigov.evaluate.pipeline import audit_to_spool, resolve_models
    from aigov.registry.store import open_registry
    from aigov.results.baseline import apply_baseline
    from aigov.results.decisions import audit_exit_code
    from aigov.results.diff import diff_results
    from aigov.results.severity import Severity

    pairs = _outputs(formats, outputs)
    if since and baseline_ref:
        raise click.UsageError("--since and --baseline both decide the exit code: give one of them")
    if scheduler is not None and executor != "dask":
        raise click.UsageError("--scheduler is the Dask scheduler's address: add --executor dask")
    if scheduler is not None and workers is not None:
        raise click.UsageError(
            "with --scheduler the cluster's workers run the audit: drop --workers"
        )
    started = dt.datetime.now(dt.UTC)
    with open_registry(db) as registry:
        # read before the audit: a bad baseline fails at once, and 'latest' is not this run
        accepted = load_baseline(registry, baseline_ref) if baseline_ref else None
        baseline = load_run(registry, since) if since else None
        total = len(resolve_models(registry, list(models) or None))
        if total == 0 and not allow_empty:
            # a CI step pointed at the wrong (or a freshly created) database must not pass
            raise AigovError(
                f"the registry {registry.display_url} holds no models: nothing to audit "
                "(a wrong --db or $AIGOV_DB?); pass --allow-empty if an empty registry is "
                "expected"
            )
        progress = Progress("auditing models", total, enabled=not quiet)
        try:
            spool = audit_to_spool(
                registry,
                _policy_paths(policy_paths),
                as_of,
                list(models) or None,
                fail_on=fail_on,
                workers=workers or os.cpu_count() or 1,
                executor=executor,
                scheduler=scheduler,
                progress=progress.advance,
            )
        finally:
            progress.close()
        with spool:
            if not no_record:
                run = record_run(registry, spool, started, list(models) or None)
                if not quiet:
                    click.echo(f"recorded run {run.id}", err=True)
            diff = diff_results(baseline, spool) if baseline is not None else None
            if diff is not None:
                spool.changes, spool.since = diff.entries, diff.before
            if accepted is not None:
                spool.baseline = apply_baseline(
                    accepted[0], spool.iter_findings(), spool.as_of, accepted[1]
                )
            if diff is not None and all(fmt == "text" for fmt, _ in pairs):
                _print_diff(diff, "text")
            else:
                for fmt, output in pairs:
                    if fmt == "sarif":
                        write_output(_sarif(registry, spool.result(), sarif_root), output)
                    else:
                        write_report(fmt, spool, output)
                _say_what_was_written(spool, diff, Severity(fail_on), pairs, quiet)
            code = audit_exit_code(
                spool,
                Severity(fail_on),
                fail_on_indeterminate=fail_on_indeterminate,
                diff=diff,
                baseline=spool.baseline,
            )
    sys.exit(code)


def _say_what_was_written(
    view: Any, diff: Any, fail_on: Any, pairs: list[tuple[str, str | None]], quiet: bool
) -> None:
    """When no report went to stdout: the verdict there (with --since: of the regressions,
    which set the exit code), and (unless --quiet) one line per file written on stderr, so
    that a run that writes only files still says what it did."""
    from aigov.console import counted
    from aigov.reports.text import verdict

    written = [output for _fmt, output in pairs if output and output != "-"]
    if len(written) < len(pairs):
        return
    if diff is not None:
        regressions = len(diff.regressions(fail_on))
        click.echo(
            f"{'FAIL' if regressions else 'PASS'}: "
            f"{counted(regressions, 'new or regressed finding')} at or above {fail_on.value} "
            f"since {diff.before}"
        )
    else:
        click.echo(verdict(view))
    if not quiet:
        for output in written:
            size = Path(output).stat().st_size
            shown = f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"
            click.echo(f"wrote {output} ({shown})", err=True)


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


@click.command()
@db_option
@click.argument("target", metavar="RUN|schema")
@report_options("Report format (repeatable, paired with -o): " + ", ".join(report_formats()) + ".")
@sarif_root_option
def report(
    db: str | None,
    target: str,
    formats: tuple[str, ...],
    outputs: tuple[str, ...],
    sarif_root: Path | None,
) -> None:
    """Render recorded run RUN (id, prefix, latest, latest~N) as reports, or print the JSON
    report's schema with 'aigov report schema'.

    \b
    aigov report latest --format html -o report.html --format sarif -o report.sarif
    """
    if target == "schema":
        from aigov.results.json_stream import result_schema_text

        click.echo(result_schema_text(), nl=False)
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
            text = _sarif(registry, result, sarif_root) if fmt == "sarif" else render(fmt, result)
            write_output(text, output)
