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

from . import __version__
from .errors import AigovError, InputError

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


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db",
        envvar="AIGOV_DB",
        metavar="URL",
        help="Registry database URL (SQLAlchemy form). Default: $AIGOV_DB or sqlite:///aigov.db",
    )(func)


def write_output(text: str, output: str | None) -> None:
    if output and output != "-":
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))


@click.group(cls=AigovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aigov")
def main() -> None:
    """aigov: check AI models against governance policies before they are hosted or deployed.

    Policies (YAML) are evaluated by a Rete rules engine (durable-rules) against a model
    registry (SQLite by default, PostgreSQL by URL).

    \b
    Exit codes: 0 pass, 1 findings at/above --fail-on, 2 usage/input/engine error,
                3 indeterminate at/above the threshold.
    """


@main.command()
@db_option
def init(db: str | None) -> None:
    """Create an empty registry database (default: ./aigov.db)."""
    from .registry import open_registry

    with open_registry(db, create=True) as registry:
        click.echo(f"initialised registry {registry.display_url}")


@main.group()
def registry() -> None:
    """Import, export and inspect model-registry records."""


@registry.command("import")
@db_option
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report changes without writing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
def registry_import(db: str | None, paths: tuple[Path, ...], dry_run: bool, fmt: str) -> None:
    """Import registry files (YAML/JSON; directories recursively), atomically.

    All files are validated first; any error (reported with file:line, record and field)
    imports nothing. Re-importing unchanged records changes nothing.
    """
    from .registry import open_registry
    from .registry_ops import import_paths

    with open_registry(db, create=not dry_run) as reg:
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
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
def registry_export(db: str | None, fmt: str, output: str | None) -> None:
    """Export the whole registry as one registry file (re-importable)."""
    from .interchange import dump_registry
    from .registry import open_registry
    from .registry_ops import export_registry

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
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def registry_list(db: str | None, kinds: tuple[str, ...], fmt: str) -> None:
    """List records (kind, id, name)."""
    from .console import table
    from .records import KINDS
    from .registry import open_registry
    from .registry_ops import list_records

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
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def registry_show(db: str | None, record_id: str, fmt: str) -> None:
    """Show a record and its relations: lineage up and down, datasets, deployments,
    approvals, investigations and waivers."""
    import yaml

    from .registry import open_registry
    from .registry_ops import show_record

    with open_registry(db) as reg:
        view = show_record(reg, record_id)
    if fmt == "json":
        click.echo(view.model_dump_json(indent=2))
        return
    click.echo(f"{view.kind} {record_id}")
    click.echo(yaml.safe_dump(view.record, sort_keys=False, allow_unicode=True).rstrip())
    for title, items in (
        ("lineage up (ancestors)", view.ancestors),
        ("lineage down (descendants)", view.descendants),
        ("datasets", view.datasets),
        ("deployments", view.deployments),
        ("approvals", view.approvals),
        ("investigations", view.investigations),
        ("waivers", view.waivers),
        ("referenced by", view.referenced_by),
    ):
        if not items:
            continue
        click.echo(f"\n{title}:")
        for item in items:
            how = f" [{item.relation}" + (f", depth {item.depth}" if item.depth else "") + "]"
            how = how + (f" via {item.via}" if item.via and item.depth and item.depth > 1 else "")
            label = f" ({item.label})" if item.label and item.label != item.id else ""
            click.echo(f"  {item.kind} {item.id}{label}{how if item.relation else ''}")


@registry.command("schema")
def registry_schema() -> None:
    """Print the JSON Schema of registry files."""
    from .interchange import registry_json_schema

    click.echo(json.dumps(registry_json_schema(), indent=2, sort_keys=True))
