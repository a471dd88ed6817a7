"""``aigov init`` and ``aigov registry``: create, import, export and inspect the registry."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aigov.cli.options import LazyHelpOption, db_option, format_option, record_kinds, write_output
from aigov.console import counted


@click.command()
@db_option
def init(db: str | None) -> None:
    """Create an empty registry database (default: ./aigov.db)."""
    from aigov.registry.store import open_registry

    with open_registry(db, create=True) as registry:
        click.echo(f"initialised registry {registry.display_url}")


@click.group()
def registry() -> None:
    """Import, export and inspect model-registry records."""


@registry.command("migrate")
@db_option
def registry_migrate(db: str | None) -> None:
    """Upgrade a registry database to this aigov's schema version (in one transaction).

    An import or 'aigov init' upgrades it too; reading commands (audit, gate, export) refuse
    an older schema rather than change the database.
    """
    from aigov.registry.store import SCHEMA_VERSION, open_registry

    with open_registry(db, create=False, upgrade=True) as reg:
        before = reg.create_schema()
        if before == SCHEMA_VERSION:
            click.echo(f"{reg.display_url} is already at schema version {SCHEMA_VERSION}")
        else:
            click.echo(
                f"migrated {reg.display_url} from schema version {before} to {SCHEMA_VERSION}"
            )


# Formats `registry import --from` reads; the importers are registered by name in
# aigov.registry.importers.IMPORTERS (kept in step by tests/test_import_cli.py).
IMPORT_FORMATS = ("registry", "hf", "cyclonedx", "spdx", "mlflow")


@registry.command("import")
@db_option
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--from",
    "source_format",
    type=click.Choice(IMPORT_FORMATS),
    default="registry",
    show_default=True,
    help="What SOURCE is: aigov registry files, Hugging Face model cards (repo folders, "
    "README.md files, saved Hub API JSON), CycloneDX 1.6 ML-BOM JSON, SPDX 3.0.1 JSON-LD, "
    "or an MLflow tracking server URL.",
)
@click.option(
    "--source-wins",
    is_flag=True,
    help="Where a source value contradicts a value curated in the registry, take the "
    "source's (default: keep the registry's and report it). Not for --from registry.",
)
@click.option(
    "--model-id",
    metavar="ORG/NAME",
    help="--from hf: the model id of a single card whose folder name does not give one.",
)
@click.option(
    "--provider",
    metavar="ID",
    help="--from mlflow: the provider of model versions that have no aigov.provider tag.",
)
@click.option("--dry-run", is_flag=True, help="Validate and report changes without writing.")
@format_option("text", "json")
def registry_import(
    db: str | None,
    sources: tuple[str, ...],
    source_format: str,
    source_wins: bool,
    model_id: str | None,
    provider: str | None,
    dry_run: bool,
    fmt: str,
) -> None:
    """Import records, atomically: registry files (YAML/JSON; directories recursively) or
    what another tool already holds (--from hf|cyclonedx|spdx|mlflow).

    Everything is validated first; any error (reported with file:line or URL, record and
    field) imports nothing. Re-importing unchanged input changes nothing. A registry file
    replaces the records it holds; an importer's source updates the fields it gives and keeps
    the fields curated by hand, reporting a source value that contradicts one. --dry-run
    reports what would change (against an empty registry when the database does not exist).
    """
    from aigov.errors import MissingDatabaseError
    from aigov.registry.interchange import read_registry_files
    from aigov.registry.operations import import_loaded, read_source, reject_invalid_input
    from aigov.registry.store import missing_sqlite_file, open_registry

    if source_format == "registry" and source_wins:
        raise click.UsageError("--source-wins applies to --from hf|cyclonedx|spdx|mlflow")
    if model_id and source_format != "hf":
        raise click.UsageError("--model-id applies to --from hf")
    if provider and source_format != "mlflow":
        raise click.UsageError("--provider applies to --from mlflow")
    imported = None
    if source_format == "registry":
        loaded, problems = read_registry_files([Path(source) for source in sources])
    else:
        options = {"model_id": model_id} if model_id else {}
        if provider:
            options["provider"] = provider
        loaded, problems, imported = read_source(
            source_format, list(sources), source_wins=source_wins, **options
        )
    if not dry_run and missing_sqlite_file(db):
        # A rejected import must not leave a new, empty database behind: check the input
        # completely (references against the empty registry it would create) first.
        reject_invalid_input(loaded + (imported.stubs if imported else []), problems)
    try:
        reg = open_registry(db, create=not dry_run)
    except MissingDatabaseError:
        if not dry_run:
            raise
        # Nothing to compare with yet: validate against an empty registry, create no file.
        reg = open_registry("sqlite://", create=True)
        click.echo("no registry database yet: validating against an empty registry", err=True)
    with reg:
        report = import_loaded(reg, loaded, problems, dry_run=dry_run, imported=imported)
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
        return
    verb = "would import" if dry_run else "imported"
    created = ", ".join(f"{n} {k}" for k, n in report.created.items()) or "none"
    updated = ", ".join(f"{n} {k}" for k, n in report.updated.items()) or "none"
    read_from = counted(report.files, "file" if imported is None else "source item")
    click.echo(
        f"{verb} {counted(report.records, 'record')} from {read_from}: "
        f"{counted(report.changes, 'change')} (created: {created}; updated: {updated}; "
        f"unchanged: {report.unchanged})"
    )
    if report.conflicts:
        kept = sum(conflict.resolution == "kept" for conflict in report.conflicts)
        click.echo(
            f"{counted(len(report.conflicts), 'source value')} contradicting curated values "
            + (
                f"({kept} kept; --source-wins takes the source's):"
                if kept
                else "(the source's taken, --source-wins):"
            ),
            err=True,
        )
        for conflict in report.conflicts:
            click.echo(f"  {conflict}", err=True)


@registry.command("export")
@db_option
@format_option("yaml", "json", "cyclonedx")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
def registry_export(db: str | None, fmt: str, output: str | None) -> None:
    """Export the whole registry as one registry file (yaml, json: re-importable), or its
    models, datasets, providers, licences and lineage as a CycloneDX 1.6 ML-BOM (cyclonedx:
    re-importable with --from cyclonedx)."""
    from aigov.registry.interchange import dump_registry
    from aigov.registry.operations import export_registry
    from aigov.registry.store import open_registry

    with open_registry(db) as reg:
        records = export_registry(reg)
    if fmt == "cyclonedx":
        from aigov.registry.importers.cyclonedx import dump_cyclonedx

        write_output(dump_cyclonedx(records), output)
    else:
        write_output(dump_registry(records, fmt), output)


@registry.command("list")
@db_option
@click.option(
    "--kind",
    "kinds",
    cls=LazyHelpOption,
    multiple=True,
    metavar="KIND",
    help_text=lambda: f"Only this kind (repeatable): {', '.join(record_kinds())}.",
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
    from aigov.registry.operations import show_record
    from aigov.registry.store import open_registry
    from aigov.reports.records import render_record_text

    with open_registry(db) as reg:
        view = show_record(reg, record_id)
    click.echo(view.model_dump_json(indent=2) if fmt == "json" else render_record_text(view))


@registry.command("check")
@db_option
@format_option("text", "json")
def registry_check(db: str | None, fmt: str) -> None:
    """Check the registry's integrity: exit 0 if sound, 2 if not.

    On SQLite, a full PRAGMA integrity_check (every page, every index entry); on every
    backend, every stored record validated as an import validates it, and each record
    compared with what was imported (a row changed by SQL or another tool shows).
    """
    from aigov.exit_codes import EXIT_ERROR
    from aigov.registry.operations import check_registry
    from aigov.registry.store import open_registry

    with open_registry(db) as reg:
        report = check_registry(reg)
    if fmt == "json":
        click.echo(json.dumps({**report.model_dump(), "ok": report.ok}, indent=2))
    elif report.ok:
        click.echo(
            f"registry {report.url} is sound: {counted(report.records, 'record')} checked "
            f"({'; '.join(report.checks)})"
        )
    else:
        noun = "problem" if len(report.problems) == 1 else "problems"
        click.echo(
            f"registry {report.url}: {len(report.problems)} {noun} "
            f"({counted(report.records, 'record')} checked)",
            err=True,
        )
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
    if not report.ok:
        raise SystemExit(EXIT_ERROR)


@registry.command("schema")
def registry_schema() -> None:
    """Print the JSON Schema of registry files."""
    from aigov.registry.interchange import registry_json_schema

    click.echo(json.dumps(registry_json_schema(), indent=2, sort_keys=True))
