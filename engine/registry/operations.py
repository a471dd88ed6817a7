"""Registry operations behind ``aigov registry``: import, export, list and show."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Connection

from aigov.errors import InputError, NotFoundError, Problem, RegistryError
from aigov.registry.importers import importer
from aigov.registry.interchange import (
    LoadedRecord,
    check_references,
    read_registry_files,
    record_to_data,
    validate_documents,
)
from aigov.registry.merge import ImportConflict, merge_imported, write_snapshots
from aigov.registry.records import KINDS, RecordBase
from aigov.registry.store import (
    DATASET_LINK_FIELDS,
    PG_IMPORT_LOCK,
    REGISTRY_TABLES,
    DatasetLink,
    RecordOrigin,
    Registry,
    RegistryObject,
    btree_problems,
    chunked,
    dataset_links,
    db_error,
    iter_records,
    record_rows,
    records_where,
    sa_table,
    stored_problems,
    table_of,
    undecodable_cells,
)
from aigov.results.records import RecordSummary, RecordView, Related


class ImportReport(BaseModel):
    """What an import did (or, with ``dry_run``, would do)."""

    files: int
    records: int
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: int
    dry_run: bool
    # an importer's source values that contradict values curated in the registry
    conflicts: list[ImportConflict] = []

    @property
    def changes(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())


def existing_kinds(conn: Connection) -> dict[str, str]:
    table = sa_table(RegistryObject)
    return {row.id: row.kind for row in conn.execute(sa.select(table.c.id, table.c.kind))}


def record_digest(record: RecordBase) -> str:
    """sha256 of a record's canonical interchange form: equal exactly when content is."""
    canonical = json.dumps(
        record_to_data(record), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored_digests(conn: Connection, ids: list[str]) -> dict[str, str]:
    table = sa_table(RegistryObject)
    stored: dict[str, str] = {}
    for chunk in chunked(ids, 500):
        for row in conn.execute(sa.select(table.c.id, table.c.digest).where(table.c.id.in_(chunk))):
            stored[row.id] = row.digest
    return stored


def registry_digest(conn: Connection) -> str:
    """A digest of the registry's content, from the per-record digests kept at import."""
    table = sa_table(RegistryObject)
    digest = hashlib.sha256()
    query = sa.select(table.c.kind, table.c.id, table.c.digest).order_by(table.c.id)
    for kind, rid, record in conn.execute(query):
        digest.update(f"{kind}\0{rid}\0{record}\n".encode())
    return digest.hexdigest()


def import_paths(registry: Registry, paths: list[Path], *, dry_run: bool = False) -> ImportReport:
    """Import registry files atomically and idempotently.

    Every file is parsed and validated and every reference resolved before the database is
    touched; any problem raises :class:`InputError` listing all of them and nothing changes.
    Records already present with the same content are left alone, changed ones updated.
    """
    loaded, problems = read_registry_files(paths)
    return import_loaded(registry, loaded, problems, dry_run=dry_run)


def import_loaded(
    registry: Registry,
    loaded: list[LoadedRecord],
    problems: list[Problem] | None = None,
    *,
    dry_run: bool = False,
    imported: ImportedBatch | None = None,
) -> ImportReport:
    """Import already-validated records (see :func:`import_paths`); ``problems`` found while
    reading them are reported together with the reference problems. Records an importer
    read come with ``imported`` (their stubs, and how to merge them: see
    :mod:`aigov.registry.merge`) and are merged with the registry's instead of replacing."""
    try:
        return _import_loaded(
            registry, loaded, list(problems or []), dry_run=dry_run, imported=imported
        )
    except sa.exc.DBAPIError as exc:
        # One short line: SQLAlchemy's own text holds the statement and, for a bulk insert,
        # thousands of bound parameters.
        raise RegistryError(
            f"import into {registry.display_url} failed, nothing was imported: {db_error(exc)}"
        ) from None


def reject_invalid_input(loaded: list[LoadedRecord], problems: list[Problem]) -> None:
    """Raise :class:`InputError` if the input is invalid on its own, references included
    (as against an empty registry): lets an import into a registry that does not exist yet
    reject bad input before creating the database."""
    problems = problems + check_references(loaded, {})
    if problems:
        raise InputError(problems, "registry input rejected, nothing was imported")


def _import_loaded(
    registry: Registry,
    loaded: list[LoadedRecord],
    problems: list[Problem],
    *,
    dry_run: bool,
    imported: ImportedBatch | None,
) -> ImportReport:
    files = len({item.file for item in loaded}) if imported is None else imported.sources
    with registry.write() as conn:
        if registry.url.get_backend_name() == "postgresql":
            # Imports queue here (SQLite: BEGIN IMMEDIATE): everything below reads what an
            # import that finished while this one waited has written, so records both create
            # are created once and reported unchanged by the second.
            conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_IMPORT_LOCK})"))
        plan = None
        if imported is not None and not problems:
            plan = merge_imported(conn, loaded, imported.stubs, source_wins=imported.source_wins)
            loaded = plan.records
        problems += check_references(loaded, existing_kinds(conn))
        if problems:
            raise InputError(problems, "registry input rejected, nothing was imported")
        by_kind: dict[str, list[LoadedRecord]] = defaultdict(list)
        for item in loaded:
            by_kind[item.kind].append(item)
        created: dict[str, int] = {}
        updated: dict[str, int] = {}
        unchanged = 0
        new_objects: list[dict[str, str]] = []
        changed_digests: list[dict[str, str]] = []
        plans: list[tuple[str, list[RecordBase], list[RecordBase]]] = []
        stored = _stored_digests(conn, [i.record.id for i in loaded])
        for kind in KINDS:
            items = by_kind.get(kind, [])
            if not items:
                continue
            digests = {i.record.id: record_digest(i.record) for i in items}
            inserts = [i.record for i in items if i.record.id not in stored]
            updates = [
                i.record
                for i in items
                if i.record.id in stored and stored[i.record.id] != digests[i.record.id]
            ]
            unchanged += len(items) - len(inserts) - len(updates)
            if inserts:
                created[kind] = len(inserts)
                new_objects += [
                    {"id": r.id, "kind": kind, "digest": digests[r.id]} for r in inserts
                ]
            if updates:
                updated[kind] = len(updates)
                changed_digests += [{"key": r.id, "new": digests[r.id]} for r in updates]
            plans.append((kind, inserts, updates))
        present = plan.stubs_present if plan else 0
        report = ImportReport(
            files=files,
            records=len(loaded) + present,
            created=created,
            updated=updated,
            unchanged=unchanged + present,
            dry_run=dry_run,
            conflicts=plan.conflicts if plan else [],
        )
        if dry_run:
            conn.rollback()
            return report
        objects = sa_table(RegistryObject)
        link_table = sa_table(DatasetLink)
        for chunk in chunked(new_objects, 5000):
            conn.execute(sa.insert(objects), chunk)
        if changed_digests:
            conn.execute(
                sa.update(objects)
                .where(objects.c.id == sa.bindparam("key"))
                .values(digest=sa.bindparam("new")),
                changed_digests,
            )
        for kind, inserts, updates in plans:
            table = table_of(kind)
            links: list[dict[str, Any]] = []
            for chunk in chunked(inserts, 5000):
                rows = [record_rows(kind, r) for r in chunk]
                conn.execute(sa.insert(table), [row for row, _ in rows])
                links += [link for _, record_links in rows for link in record_links]
            for record in updates:
                row, record_links = record_rows(kind, record)
                conn.execute(sa.update(table).where(table.c.id == record.id).values(row))
                if kind == "dataset":
                    conn.execute(sa.delete(link_table).where(link_table.c.dataset == record.id))
                    links += record_links
            for chunk in chunked(links, 5000):
                conn.execute(sa.insert(link_table), chunk)
        _record_origins(conn, loaded)
        if plan is not None:
            write_snapshots(conn, plan.snapshots)
    return report


@dataclass
class ImportedBatch:
    """What an importer read besides its records: the records it only referenced (created
    when the registry lacks them), how many source items it read, and whether a source
    value overrides a curated one."""

    stubs: list[LoadedRecord]
    sources: int
    source_wins: bool = False


def read_source(
    fmt: str, sources: list[str], *, source_wins: bool = False, **options: Any
) -> tuple[list[LoadedRecord], list[Problem], ImportedBatch]:
    """Read ``sources`` with the importer of ``fmt`` (see :mod:`aigov.registry.importers`)
    and validate what it mapped exactly as registry files are validated."""
    batch = importer(fmt)(sources, **options)
    loaded, problems = validate_documents(batch.documents)
    stub_records, stub_problems = validate_documents(batch.stubs)
    stubs: dict[str, LoadedRecord] = {}
    for item in stub_records:
        stubs.setdefault(item.record.id, item)  # many cards may name one base model
    imported = ImportedBatch(list(stubs.values()), batch.sources, source_wins)
    return loaded, [*batch.problems, *problems, *stub_problems], imported


def import_source(
    registry: Registry,
    fmt: str,
    sources: list[str],
    *,
    dry_run: bool = False,
    source_wins: bool = False,
    **options: Any,
) -> ImportReport:
    """Import what an importer reads from ``sources`` (``fmt``: hf, cyclonedx, spdx,
    mlflow), atomically and idempotently, merged with the registry's records."""
    loaded, problems, imported = read_source(fmt, sources, source_wins=source_wins, **options)
    return import_loaded(registry, loaded, problems, dry_run=dry_run, imported=imported)


def _record_origins(conn: Connection, loaded: list[LoadedRecord]) -> None:
    """Keep where each imported record came from (file and line): new origins are added and
    moved ones replaced, so that re-importing the same files writes nothing. A database made
    before origins were kept gets their table here."""
    rows = {origin["id"]: origin for item in loaded if (origin := item.origin()) is not None}
    if not rows:
        return
    table = sa_table(RecordOrigin)
    table.create(conn, checkfirst=True)
    ids = sorted(rows)
    stored: dict[str, dict[str, Any]] = {}
    for chunk in chunked(ids, 500):
        for row in conn.execute(sa.select(table).where(table.c.id.in_(chunk))):
            stored[row.id] = dict(row._mapping)
    changed = [rows[rid] for rid in ids if stored.get(rid) != rows[rid]]
    for chunk in chunked([row["id"] for row in changed if row["id"] in stored], 500):
        conn.execute(sa.delete(table).where(table.c.id.in_(chunk)))
    for chunk in chunked(changed, 5000):
        conn.execute(sa.insert(table), chunk)


class SourceOrigin(BaseModel):
    """Where a record was imported from (see :class:`~aigov.registry.store.RecordOrigin`)."""

    kind: str
    id: str
    file: str
    path: str
    line: int


def record_origins(registry: Registry, ids: Iterable[str]) -> dict[str, SourceOrigin]:
    """The origins of the records ``ids`` that have one, by id. A registry whose records were
    imported before origins were kept (no ``record_origin`` table) has none."""
    table = sa_table(RecordOrigin)
    found: dict[str, SourceOrigin] = {}
    with registry.read() as conn:
        if not sa.inspect(conn).has_table(table.name):
            return found
        for chunk in chunked(sorted(set(ids)), 500):
            for row in conn.execute(sa.select(table).where(table.c.id.in_(chunk))):
                found[row.id] = SourceOrigin.model_validate(dict(row._mapping))
    return found


class RegistryCheck(BaseModel):
    """What ``aigov registry check`` found: every problem, each naming what it concerns."""

    url: str
    backend: str
    records: int
    checks: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


MAX_CHECK_PROBLEMS = 1000  # reported in full up to here; beyond, counted


def check_registry(registry: Registry) -> RegistryCheck:
    """Check the whole registry: on SQLite the file's structure (``PRAGMA integrity_check``,
    every page and every index entry); on every backend every stored record against the
    import's validation, and the record index (``registry_object``: kind and digest of each
    record) against the records, so a row changed outside ``aigov registry import`` shows."""
    problems: list[str] = []
    checks: list[str] = []
    backend = registry.url.get_backend_name()
    records = 0
    with registry.read() as conn:
        if backend == "sqlite":
            checks.append("PRAGMA integrity_check")
            try:
                lines = conn.exec_driver_sql("PRAGMA integrity_check(1000)").scalars().all()
            except sa.exc.DBAPIError as exc:
                lines = [db_error(exc)]
            problems += [f"integrity_check: {line}" for line in lines if line != "ok"]
            if not problems:
                problems += btree_problems(conn, REGISTRY_TABLES)
        checks.append("every record validated as an import validates it")
        checks.append("the record index (registry_object) against the records")
        objects = sa_table(RegistryObject)
        try:
            for kind in KINDS:
                indexed = {
                    row.id: row.digest
                    for row in conn.execute(
                        sa.select(objects.c.id, objects.c.digest).where(objects.c.kind == kind)
                    )
                }
                count, kind_problems = _check_kind(conn, kind, indexed)
                records += count
                problems += kind_problems
            stray = conn.execute(
                sa.select(objects.c.id, objects.c.kind)
                .where(objects.c.kind.not_in(list(KINDS)))
                .order_by(objects.c.id)
            ).all()
            problems += [f"record index: '{row.id}' has unknown kind '{row.kind}'" for row in stray]
        except sa.exc.DBAPIError as exc:
            problems.append(f"cannot read the registry: {db_error(exc)}")
    if len(problems) > MAX_CHECK_PROBLEMS:
        hidden = len(problems) - MAX_CHECK_PROBLEMS
        problems = [*problems[:MAX_CHECK_PROBLEMS], f"… and {hidden} more problems"]
    return RegistryCheck(
        url=registry.display_url, backend=backend, records=records, checks=checks, problems=problems
    )


def _check_kind(conn: Connection, kind: str, indexed: dict[str, str]) -> tuple[int, list[str]]:
    """Validate every stored record of ``kind`` and compare it with its index entry."""
    table = table_of(kind)
    problems: list[str] = []
    count = 0
    try:
        links = dataset_links(conn) if kind == "dataset" else {}
        rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    except (ValueError, TypeError):
        cells = undecodable_cells(conn, table, limit=MAX_CHECK_PROBLEMS)
        return 0, cells or [f"stored {kind} rows cannot be read"]
    spec = KINDS[kind]
    for row in rows:
        count += 1
        data = dict(row._mapping)
        data.update(links.get(row.id, {}))
        try:
            record = spec.record.model_validate(data)
        except ValidationError as exc:
            problems += stored_problems(kind, row.id, exc)
            indexed.pop(row.id, None)
            continue
        digest = indexed.pop(row.id, None)
        if digest is None:
            problems.append(f"stored {kind} '{row.id}': missing from the record index")
        elif digest != record_digest(record):
            problems.append(
                f"stored {kind} '{row.id}': changed outside 'aigov registry import' (its "
                "content is not what was imported; import the corrected record again)"
            )
    problems += [f"record index: {kind} '{rid}' has no stored record" for rid in sorted(indexed)]
    return count, problems


def export_registry(registry: Registry) -> dict[str, list[RecordBase]]:
    with registry.read() as conn:
        return {kind: list(iter_records(conn, kind)) for kind in KINDS}


def _label(kind: str, record: RecordBase) -> str | None:
    field = KINDS[kind].label_field
    if field is None:
        rec: Any = record
        return f"{rec.child} <-{rec.relation}- {rec.parent}"
    value = getattr(record, field, None)
    return None if value is None else str(value)


def list_records(registry: Registry, kinds: list[str] | None = None) -> list[RecordSummary]:
    chosen = kinds or list(KINDS)
    with registry.read() as conn:
        return [
            RecordSummary(kind=kind, id=record.id, label=_label(kind, record))
            for kind in chosen
            for record in iter_records(conn, kind)
        ]


def _walk(edges: dict[str, list[tuple[str, str]]], start: str) -> list[tuple[str, str, int, str]]:
    """Breadth-first closure (cycle-safe): (node, relation, depth, via) for every reachable node."""
    seen = {start}
    out: list[tuple[str, str, int, str]] = []
    frontier = [start]
    depth = 0
    while frontier:
        depth += 1
        nxt: list[str] = []
        for node in frontier:
            for other, relation in sorted(edges.get(node, [])):
                if other in seen:
                    continue
                seen.add(other)
                out.append((other, relation, depth, node))
                nxt.append(other)
        frontier = nxt
    return out


def _lineage_graph(
    conn: Connection,
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[tuple[str, str]]]]:
    """Every lineage edge and dataset link, child -> parents and parent -> children (ids and
    relations only: two narrow scans)."""
    up: dict[str, list[tuple[str, str]]] = defaultdict(list)
    down: dict[str, list[tuple[str, str]]] = defaultdict(list)
    lineage = table_of("lineage")
    links = sa_table(DatasetLink)
    edges = list(
        conn.execute(sa.select(lineage.c.child, lineage.c.parent, lineage.c.relation)).all()
    )
    edges += conn.execute(sa.select(links.c.dataset, links.c.target, links.c.relation)).all()
    for child, parent, relation in edges:
        up[child].append((parent, str(relation)))
        down[parent].append((child, str(relation)))
    return up, down


def _referencing(conn: Connection, kind: str, record_id: str) -> list[Related]:
    """Every record whose reference field names ``record_id``, by kind and id."""
    found: list[Related] = []
    links = sa_table(DatasetLink)
    for other_kind, spec in KINDS.items():
        for ref in spec.references:
            if kind not in ref.kinds:
                continue
            if not ref.many:
                matches = records_where(conn, other_kind, ref.field, [record_id])
            elif other_kind == "dataset":
                relation = DATASET_LINK_FIELDS[ref.field]
                query = sa.select(links.c.dataset).where(
                    links.c.target == record_id, links.c.relation == relation
                )
                matches = records_where(conn, "dataset", "id", conn.execute(query).scalars())
            else:  # a list stored as JSON: no portable index to query, so filter here
                matches = [
                    r for r in iter_records(conn, other_kind) if record_id in getattr(r, ref.field)
                ]
            found += [
                Related(kind=other_kind, id=r.id, label=_label(other_kind, r), relation=ref.field)
                for r in matches
            ]
    return sorted(found, key=lambda r: (r.kind, r.id))


def show_record(registry: Registry, record_id: str) -> RecordView:
    """The record and its relations. Reads the lineage graph's ids and only the records that
    are related, so it stays quick on a large registry."""
    objects = sa_table(RegistryObject)
    with registry.read() as conn:
        kind = conn.execute(
            sa.select(objects.c.kind).where(objects.c.id == record_id)
        ).scalar_one_or_none()
        if kind is None:
            raise NotFoundError(f"no record with id '{record_id}' in {registry.display_url}")
        up, down = _lineage_graph(conn)
        walked_up, walked_down = _walk(up, record_id), _walk(down, record_id)
        lineage_ids = {record_id} | {node for node, *_ in walked_up}
        related_ids = lineage_ids | {node for node, *_ in walked_down}
        known: dict[str, tuple[str, RecordBase]] = {}
        for item_kind in ("model", "dataset") if kind in ("model", "dataset") else (kind,):
            for found in records_where(conn, item_kind, "id", related_ids):
                known[found.id] = (item_kind, found)
        # Investigations of the record, its ancestors, or their providers concern it.
        subjects = lineage_ids | {
            provider
            for rid in lineage_ids
            if (provider := getattr(known[rid][1], "provider", None)) is not None
        }

        def where(item_kind: str, field: str, values: set[str]) -> list[Related]:
            return [
                Related(kind=item_kind, id=r.id, label=_label(item_kind, r))
                for r in records_where(conn, item_kind, field, values)
            ]

        view = RecordView(
            kind=kind,
            record=record_to_data(known[record_id][1]),
            investigations=where("investigation", "subject", subjects),
            waivers=where("waiver", "subject", {record_id}),
        )
        if kind == "model":
            view.deployments = where("deployment", "model", {record_id})
            view.approvals = where("approval", "model", {record_id})
            deployment_ids = {d.id for d in view.deployments}
            view.waivers += where("waiver", "subject", deployment_ids)
        view.referenced_by = _referencing(conn, kind, record_id)

    def lineage(walked: list[tuple[str, str, int, str]]) -> list[Related]:
        return [
            Related(
                kind=known[node][0],
                id=node,
                label=_label(*known[node]),
                relation=relation,
                depth=depth,
                via=via,
            )
            for node, relation, depth, via in walked
        ]

    view.ancestors = lineage(walked_up)
    view.descendants = lineage(walked_down)
    view.datasets = [a for a in view.ancestors if a.kind == "dataset"]
    return view
