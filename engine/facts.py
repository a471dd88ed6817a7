"""From registry rows to engine facts, one partition per model.

A partition holds everything a policy about one model may need: the model (flagged as the
partition root), its lineage ancestors (models and datasets, found with a recursive SQL
query, cycle-safe), the lineage edges between them, the providers and terms of those
models, investigations about any of them or their providers, and the model's own
deployments, approvals and waivers. Partitions are loaded in chunks straight from the
database, so memory does not grow with the registry.

Facts are plain dicts: ``t`` is the fact type, ``key`` the record id (joins never touch the
engine's ``id`` field, see durable-rules pitfall P1), nested fields are flattened with
``__``, dates become day ordinals (so the engine compares numbers), and null values and
empty lists are dropped (a missing field is what ``missing`` tests for).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .interchange import record_to_data
from .licences import RANK, LicenceClass, classify, most_restrictive
from .records import KINDS, RecordBase
from .registry import DATASET_LINK_FIELDS, dataset_links, row_to_record, table_of
from .schema import CHILD_FACTS, DATE, FACT_SCHEMA, engine_field
from .waivers import waiver_expired

CHUNK = 250
_ORDER = {kind: index for index, kind in enumerate(KINDS)}


@dataclass
class Partition:
    """The facts about one model, plus the records behind them (for evidence)."""

    model: str
    facts: list[dict[str, Any]]
    records: dict[str, tuple[str, dict[str, Any]]]
    subjects: dict[str, list[str]]
    cycle: list[str] | None = None
    hypothetical: set[str] = field(default_factory=set)

    def record(self, key: str) -> tuple[str, dict[str, Any]] | None:
        return self.records.get(key)


_DATE_FIELDS: dict[str, frozenset[str]] = {
    fact_type: frozenset(engine_field(name) for name, ftype in fields.items() if ftype == DATE)
    for fact_type, fields in FACT_SCHEMA.items()
}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{key}__"))
        else:
            out[engine_field(key)] = engine_number(value)
    return out


def engine_number(value: Any) -> Any:
    """A float the engine's JSON parser reads correctly.

    durable-rules parses an exponent only after a decimal point: ``5.0e+24`` is read, but
    ``5e+24`` (how Python writes 5e24) silently truncates the message. Such floats are moved
    to the next representable float, whose shortest form has a decimal point; facts and
    policy literals go through the same function, so comparisons are unchanged.
    """
    if isinstance(value, float) and not isinstance(value, bool):
        mantissa, _, exponent = repr(value).partition("e")
        if exponent and "." not in mantissa:
            return math.nextafter(value, math.inf)
    elif isinstance(value, list):
        return [engine_number(v) for v in value]
    return value


def make_fact(fact_type: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """An engine fact from JSON-form data (dates as ISO strings become day ordinals)."""
    fact = _flatten({k: v for k, v in data.items() if k != "id"})
    for name in _DATE_FIELDS.get(fact_type, ()):
        if name in fact:
            fact[name] = dt.date.fromisoformat(fact[name]).toordinal()
    fact["t"] = fact_type
    fact["key"] = key
    fact["id"] = f"{fact_type}|{key}"
    return fact


class _Loaded:
    """Rows for one chunk of partitions, indexed for assembly."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[str, RecordBase]] = {}
        self.closure: dict[str, set[str]] = defaultdict(set)
        self.edges_by_child: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.terms_by_provider: dict[str, list[str]] = defaultdict(list)
        self.investigations_by_subject: dict[str, list[str]] = defaultdict(list)
        self.deployments_by_model: dict[str, list[str]] = defaultdict(list)
        self.approvals_by_model: dict[str, list[str]] = defaultdict(list)
        self.waivers_by_subject: dict[str, list[str]] = defaultdict(list)


def _in_chunks(ids: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    items = sorted(set(ids))
    for start in range(0, len(items), size):
        yield items[start : start + size]


_CLOSURE_SQL = """
WITH RECURSIVE edges(child, parent) AS (
    SELECT child, parent FROM lineage
    UNION ALL
    SELECT dataset, target FROM dataset_link
),
closure(root, node) AS (
    SELECT id, id FROM model WHERE id IN :roots
    UNION
    SELECT closure.root, edges.parent FROM closure JOIN edges ON edges.child = closure.node
)
SELECT root, node FROM closure
"""


class PartitionLoader:
    """Loads partitions for model ids in chunks (see module docstring)."""

    def __init__(self, conn: Connection, as_of: dt.date, member_fields: set[tuple[str, str]]):
        self.conn = conn
        self.as_of = as_of
        self.member_fields = member_fields

    def model_ids(self, only: list[str] | None = None) -> list[str]:
        table = table_of("model")
        query = sa.select(table.c.id).order_by(table.c.id)
        if only is not None:
            found: list[str] = []
            for chunk in _in_chunks(only):
                found += self.conn.execute(query.where(table.c.id.in_(chunk))).scalars().all()
            return sorted(found)
        return list(self.conn.execute(query).scalars())

    def _fetch(self, loaded: _Loaded, kind: str, column: str, values: Iterable[str]) -> list[str]:
        table = table_of(kind)
        ids: list[str] = []
        for chunk in _in_chunks(values):
            rows = self.conn.execute(sa.select(table).where(table.c[column].in_(chunk))).all()
            links = dataset_links(self.conn, [r.id for r in rows]) if kind == "dataset" else {}
            for row in rows:
                if row.id not in loaded.records:
                    loaded.records[row.id] = (kind, row_to_record(kind, row, links.get(row.id)))
                ids.append(row.id)
        return ids

    def load(self, roots: list[str], extra: list[RecordBase] | None = None) -> list[Partition]:
        """Partitions for ``roots`` (in that order); ``extra`` adds hypothetical deployments."""
        loaded = _Loaded()
        closure_query = sa.text(_CLOSURE_SQL).bindparams(sa.bindparam("roots", expanding=True))
        for chunk in _in_chunks(roots):
            for root, node in self.conn.execute(closure_query, {"roots": chunk}):
                loaded.closure[root].add(node)
        nodes = set().union(*loaded.closure.values()) if loaded.closure else set()
        self._fetch(loaded, "model", "id", nodes)
        self._fetch(loaded, "dataset", "id", nodes)
        for edge_id in self._fetch(loaded, "lineage", "child", nodes):
            edge = loaded.records[edge_id][1]
            loaded.edges_by_child[edge.child].append(  # type: ignore[attr-defined]
                {"key": edge.id, **record_to_data(edge)}
            )
        for node in sorted(nodes):
            kind, record = loaded.records.get(node, (None, None))
            if kind != "dataset":
                continue
            for field_name, relation in DATASET_LINK_FIELDS.items():
                for target in getattr(record, field_name):
                    key = f"{node}~{relation}~{target}"
                    loaded.edges_by_child[node].append(
                        {
                            "key": key,
                            "id": key,
                            "child": node,
                            "parent": target,
                            "relation": relation,
                            "confidence": str(record.confidence),  # type: ignore[union-attr]
                            "declared_in": f"dataset {node} ({field_name})",
                        }
                    )
        providers = {
            getattr(rec, "provider", None)
            for kind, rec in loaded.records.values()
            if kind == "model"
        } - {None}
        self._fetch(loaded, "provider", "id", providers)  # type: ignore[arg-type]
        licences = {
            getattr(rec, "licence", None)
            for kind, rec in loaded.records.values()
            if kind == "model"
        } - {None}
        for terms_id in self._fetch(loaded, "terms", "provider", providers) + self._fetch(  # type: ignore[arg-type]
            loaded,
            "terms",
            "id",
            licences,  # type: ignore[arg-type]
        ):
            terms = loaded.records[terms_id][1]
            if terms_id not in loaded.terms_by_provider[terms.provider]:  # type: ignore[attr-defined]
                loaded.terms_by_provider[terms.provider].append(terms_id)  # type: ignore[attr-defined]
        for inv in self._fetch(loaded, "investigation", "subject", nodes | providers):  # type: ignore[operator]
            loaded.investigations_by_subject[loaded.records[inv][1].subject].append(inv)  # type: ignore[attr-defined]
        for dep in self._fetch(loaded, "deployment", "model", roots):
            loaded.deployments_by_model[loaded.records[dep][1].model].append(dep)  # type: ignore[attr-defined]
        for appr in self._fetch(loaded, "approval", "model", roots):
            loaded.approvals_by_model[loaded.records[appr][1].model].append(appr)  # type: ignore[attr-defined]
        for record in extra or []:  # a proposed deployment replaces a stored one of that id
            loaded.records[record.id] = ("deployment", record)
            for ids in loaded.deployments_by_model.values():
                if record.id in ids:
                    ids.remove(record.id)
            loaded.deployments_by_model[record.model].append(record.id)  # type: ignore[attr-defined]
        waiver_subjects = set(roots)
        for root in roots:
            waiver_subjects.update(loaded.deployments_by_model[root])
            waiver_subjects.update(loaded.approvals_by_model[root])
        for waiver in self._fetch(loaded, "waiver", "subject", waiver_subjects):
            loaded.waivers_by_subject[loaded.records[waiver][1].subject].append(waiver)  # type: ignore[attr-defined]
        hypothetical = {r.id for r in extra or []}
        return [self._assemble(loaded, root, hypothetical) for root in roots]

    def _assemble(self, loaded: _Loaded, root: str, hypothetical: set[str]) -> Partition:
        nodes = loaded.closure.get(root, {root})
        keys: set[str] = set(nodes)
        edges: list[dict[str, Any]] = []
        for node in nodes:
            edges += loaded.edges_by_child.get(node, [])
        providers: set[str] = set()
        licence_terms: set[str] = set()
        for node in nodes:
            kind, record = loaded.records.get(node, (None, None))
            if kind == "model":
                providers.add(record.provider)  # type: ignore[union-attr]
                if record.licence in loaded.records:  # type: ignore[union-attr]
                    licence_terms.add(record.licence)  # type: ignore[union-attr]
        keys |= providers
        terms = {t for p in providers for t in loaded.terms_by_provider.get(p, [])} | licence_terms
        keys |= terms
        for subject in nodes | providers:
            keys.update(loaded.investigations_by_subject.get(subject, []))
        deployments = sorted(loaded.deployments_by_model.get(root, []))
        approvals = sorted(loaded.approvals_by_model.get(root, []))
        keys.update(deployments, approvals)
        waivers: list[str] = []
        for subject in [root, *deployments, *approvals]:
            waivers += loaded.waivers_by_subject.get(subject, [])
        keys.update(waivers)

        terms_class = {t: _terms_class(loaded.records[t][1]) for t in terms}
        facts: list[dict[str, Any]] = []
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        for key in sorted(keys, key=lambda k: (_ORDER[loaded.records[k][0]], k)):
            kind, record = loaded.records[key]
            data = record_to_data(record)
            records[key] = (kind, dict(data))
            for (parent_kind, field_name), (child_type, link, _model) in CHILD_FACTS.items():
                if parent_kind != kind:
                    continue
                children = data.pop(field_name, None) or []
                for index, child in enumerate(children):
                    child_key = f"{key}#{field_name}[{index}]"
                    child_data = {link: key, **child, "index": index}
                    if child_type == "clause":
                        child_data["provider"] = data["provider"]
                    facts.append(make_fact(child_type, child_key, child_data))
                    records[child_key] = (child_type, {"id": child_key, link: key, **child})
            if kind == "dataset":
                for name in DATASET_LINK_FIELDS:
                    data.pop(name, None)
                licences = record.licences  # type: ignore[attr-defined]
                cls = most_restrictive([classify(lic, terms_class) for lic in licences])
                data.update(licence_class=cls.value, licence_rank=RANK[cls])
            elif kind == "model":
                cls = classify(record.licence, terms_class)  # type: ignore[attr-defined]
                data.update(licence_class=cls.value, licence_rank=RANK[cls])
                if record.licence in terms_class:  # type: ignore[attr-defined]
                    data["licence_terms"] = record.licence  # type: ignore[attr-defined]
                if key == root:
                    data["partition_root"] = True
            elif kind == "waiver":
                data["expired"] = waiver_expired(record.expires_at, self.as_of)  # type: ignore[attr-defined]
            fact = make_fact(kind, key, data)
            facts.append(fact)
        for edge in sorted(edges, key=lambda e: e["key"]):
            if edge["key"] in records:
                continue
            records[edge["key"]] = ("lineage", {k: v for k, v in edge.items() if k != "key"})
            facts.append(make_fact("lineage", edge["key"], edge))
        cycle = find_cycle(root, edges)
        if cycle:
            cycle_key = f"{root}#lineage-cycle"
            facts.append(make_fact("lineage_cycle", cycle_key, {"model": root, "nodes": cycle}))
            records[cycle_key] = ("lineage_cycle", {"model": root, "nodes": cycle})
        facts += self._members(facts)
        return Partition(
            model=root,
            facts=facts,
            records=records,
            subjects={
                "model": [root],
                "deployment": deployments,
                "approval": approvals,
                "waiver": sorted(waivers),
            },
            cycle=cycle,
            hypothetical=hypothetical & set(deployments),
        )

    def _members(self, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Membership facts for list fields that policies join against (``contains`` a
        reference): the engine cannot join inside an array."""
        members: list[dict[str, Any]] = []
        if not self.member_fields:
            return members
        for fact in facts:
            for kind, name in self.member_fields:
                if fact["t"] != kind:
                    continue
                for index, value in enumerate(fact.get(name) or []):
                    members.append(
                        {
                            "t": "$member",
                            "id": f"$member|{fact['key']}|{name}|{index}",
                            "owner": fact["key"],
                            "field": name,
                            "value": value,
                        }
                    )
        return members


def _terms_class(terms: Any) -> LicenceClass:
    types = {str(c.type) for c in terms.clauses}
    if "non_commercial" in types:
        return LicenceClass.non_commercial
    return LicenceClass.restricted


def find_cycle(root: str, edges: list[dict[str, Any]]) -> list[str] | None:
    """The nodes of the first lineage cycle reachable from ``root`` (deterministic), if any.

    Iterative depth-first search, so a hostile 100,000-hop chain cannot exhaust the stack.
    """
    parents: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        parents[edge["child"]].append(edge["parent"])
    on_path: dict[str, int] = {}
    done: set[str] = set()
    path: list[str] = []
    stack: list[tuple[str, Iterator[str]]] = []

    def enter(node: str) -> None:
        on_path[node] = len(path)
        path.append(node)
        stack.append((node, iter(sorted(parents.get(node, [])))))

    enter(root)
    while stack:
        node, pending = stack[-1]
        parent = next(pending, None)
        if parent is None:
            stack.pop()
            path.pop()
            del on_path[node]
            done.add(node)
        elif parent in on_path:
            return sorted(path[on_path[parent] :])
        elif parent not in done:
            enter(parent)
    return None
