"""Merging what an importer read with what the registry holds.

A registry file states whole records: importing one replaces the record. An importer's
source states only some facts of a record (a model card says nothing of the model's owner or
its approvals), and people curate imported records by hand. So an imported record is merged
field by field, against the source's last word on it (kept in ``source_snapshot``, as
``kubectl apply`` keeps the last applied configuration):

* a field the source gives and the registry lacks, or holds as the source last gave it,
  takes the source's value (the source changed it);
* a field the registry holds with a value the source never gave was curated: when the source
  now says otherwise, the registry's value stays and the import reports a
  :class:`ImportConflict` (``source_wins`` takes the source's value instead, reported too);
* a field the source does not give is kept, except one the source gave last time and no
  longer gives while the registry still holds its value: the source withdrew it;
* the record's ``source`` becomes the importer's (where the record was last imported from);
* a record only referenced (a stub) is created when the registry lacks it, and never
  overwrites a record; a described record replaces a stub's fields by the same rule.

A field's value carries its confidence and source and whether it is known to be unknown (the
inline form ``{value, confidence, source}`` of a registry file), so a source that upgrades a
relation from ``inferred`` to ``declared`` changes the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection

from aigov.registry.interchange import LoadedRecord, record_to_data
from aigov.registry.records import KINDS, RecordBase
from aigov.registry.store import (
    RegistryObject,
    SourceSnapshot,
    chunked,
    records_where,
    sa_table,
)

# Record fields that describe other fields rather than the record: folded into each field's
# value (see module docstring).
_PER_FIELD = ("provenance", "unknown")
_MISSING: Any = object()


class ImportConflict(BaseModel):
    """A source value that contradicts a value curated in the registry."""

    kind: str
    id: str
    field: str
    registry: Any
    source: Any
    source_name: str | None
    resolution: Literal["kept", "source"]

    def __str__(self) -> str:
        taken = "kept the registry's" if self.resolution == "kept" else "took the source's"
        where = f" ({self.source_name})" if self.source_name else ""
        return (
            f"{self.kind} '{self.id}': field '{self.field}': registry {_shown(self.registry)}, "
            f"source{where} {_shown(self.source)}: {taken}"
        )


def _shown(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, dict) and value.get("unknown"):
        return "unknown"
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."


def field_values(data: dict[str, Any]) -> dict[str, Any]:
    """A record's interchange data as field -> value, each value in the inline form when the
    field has its own confidence or source or is known to be unknown."""
    provenance = data.get("provenance") or {}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in _PER_FIELD or name == "id":
            continue
        values[name] = {"value": value, **provenance[name]} if name in provenance else value
    for name in data.get("unknown") or []:
        values[name] = {"unknown": True, **provenance.get(name, {})}
    return values


def _provided(item: LoadedRecord) -> set[str]:
    """The fields the source gave for this record (as its importer wrote them)."""
    raw = item.document.data[item.path[0]][item.path[1]]
    names = set(raw) - {"id", *_PER_FIELD}
    return names | set(raw.get("unknown") or []) | set(raw.get("provenance") or {})


@dataclass
class MergePlan:
    records: list[LoadedRecord]
    conflicts: list[ImportConflict] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # changed rows only
    stubs_present: int = 0  # stubs whose record the registry already has (left unchanged)


def _stored_snapshots(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    table = sa_table(SourceSnapshot)
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunked(sorted(ids), 500):
        for row in conn.execute(sa.select(table).where(table.c.id.in_(chunk))):
            found[row.id] = {"id": row.id, "source": row.source, "fields": row.fields}
    return found


def _merged(
    item: LoadedRecord,
    stored: RecordBase,
    last: dict[str, Any] | None,
    source_wins: bool,
    conflicts: list[ImportConflict],
) -> tuple[RecordBase, dict[str, Any]]:
    given = field_values(record_to_data(item.record))
    given = {name: value for name, value in given.items() if name in _provided(item)}
    current = field_values(record_to_data(stored))
    merged = dict(current)
    for name, value in sorted(given.items()):
        held = current.get(name, _MISSING)
        if held == value:
            continue
        follows_source = last is not None and last.get(name, _MISSING) == held
        # the record's source says where it was last imported from: metadata, not a fact
        if held is _MISSING or follows_source or name == "source":
            merged[name] = value
            continue
        conflicts.append(
            ImportConflict(
                kind=item.kind,
                id=item.record.id,
                field=name,
                registry=held,
                source=value,
                source_name=item.record.source,
                resolution="source" if source_wins else "kept",
            )
        )
        if source_wins:
            merged[name] = value
    for name in sorted(set(last or {}) - set(given)):
        if last is not None and current.get(name, _MISSING) == last[name]:
            merged.pop(name, None)  # the source withdrew it
    record = KINDS[item.kind].record.model_validate({"id": item.record.id, **merged})
    return record, given


def merge_imported(
    conn: Connection,
    loaded: list[LoadedRecord],
    stubs: list[LoadedRecord],
    *,
    source_wins: bool = False,
) -> MergePlan:
    """The records to write for an importer's batch (see the module docstring)."""
    ids = [item.record.id for item in loaded]
    by_kind: dict[str, list[str]] = {}
    for item in loaded:
        by_kind.setdefault(item.kind, []).append(item.record.id)
    stored: dict[str, RecordBase] = {}
    for kind, kind_ids in by_kind.items():
        stored.update({r.id: r for r in records_where(conn, kind, "id", kind_ids)})
    stub_ids = [item.record.id for item in stubs]
    snapshots = _stored_snapshots(conn, ids + stub_ids)
    plan = MergePlan([])
    new_snapshots: dict[str, dict[str, Any]] = {}
    for item in loaded:
        rid = item.record.id
        previous = snapshots.get(rid)
        if rid not in stored:
            record = item.record
            given = {
                name: value
                for name, value in field_values(record_to_data(record)).items()
                if name in _provided(item)
            }
        else:
            last = previous["fields"] if previous else None
            record, given = _merged(item, stored[rid], last, source_wins, plan.conflicts)
        plan.records.append(replace(item, record=record))
        new_snapshots[rid] = {"id": rid, "source": item.record.source or "", "fields": given}
    batch = set(ids)
    known = _existing_ids(conn, stub_ids)
    for item in stubs:
        rid = item.record.id
        if rid in batch:
            continue
        if rid in known:
            plan.stubs_present += 1
            continue
        batch.add(rid)
        plan.records.append(item)
        given = field_values(record_to_data(item.record))
        new_snapshots[rid] = {"id": rid, "source": item.record.source or "", "fields": given}
    for rid in _drop_unused_stub_providers(plan, stubs):
        new_snapshots.pop(rid, None)
    plan.snapshots = [
        row for rid, row in sorted(new_snapshots.items()) if snapshots.get(rid) != row
    ]
    return plan


def _drop_unused_stub_providers(plan: MergePlan, stubs: list[LoadedRecord]) -> set[str]:
    """A stub provider stands for the maker of a stub model: where that model already is in
    the registry, nothing refers to the provider stub, so it is not created (the ids left
    out are returned)."""
    stub_providers = {item.record.id for item in stubs if item.kind == "provider"}
    referenced = {
        value
        for item in plan.records
        for name in ("provider", "creator", "performed_by")
        if isinstance(value := getattr(item.record, name, None), str)
    }
    unused = stub_providers - referenced
    plan.records = [item for item in plan.records if item.record.id not in unused]
    return unused


def _existing_ids(conn: Connection, ids: list[str]) -> set[str]:
    table = sa_table(RegistryObject)
    found: set[str] = set()
    for chunk in chunked(sorted(set(ids)), 500):
        found.update(conn.execute(sa.select(table.c.id).where(table.c.id.in_(chunk))).scalars())
    return found


def write_snapshots(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Replace the snapshots of ``rows``' records."""
    table = sa_table(SourceSnapshot)
    for chunk in chunked([row["id"] for row in rows], 500):
        conn.execute(sa.delete(table).where(table.c.id.in_(chunk)))
    for chunk in chunked(rows, 5000):
        conn.execute(sa.insert(table), chunk)
