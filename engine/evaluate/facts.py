"""From registry rows to engine facts, one partition per model.

A partition holds everything a policy about one model may need: the model (flagged as the
partition root), its lineage ancestors (models and datasets, found with a recursive SQL
query, cycle-safe), the lineage edges between them, the providers and terms of those
models, investigations about any of them or their providers, and the model's own
deployments, approvals and waivers. Partitions are loaded in chunks straight from the
database, so memory does not grow with the registry.

Facts are plain dicts: ``t`` is the fact type, ``key`` the record id (joins never touch the
engine's ``id`` field, see P1 in docs/engine-notes.md), nested fields are flattened with
``__``, dates become day ordinals (so the engine compares numbers), and null values and
empty lists are dropped (a missing field is what ``missing`` tests for).
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aigov.policy.operators import compile_regex
from aigov.policy.schema import (
    CHILD_FACTS,
    COMPUTED,
    CONFIDENCE_OF,
    DATE,
    FACT_SCHEMA,
    LAST_DAY,
    PRECISION_SUFFIX,
    RECORD_META,
    engine_field,
    engine_number,
)
from aigov.registry.interchange import record_to_data
from aigov.registry.licences import (
    RANK,
    LicenceClass,
    classify,
    most_restrictive,
    parse_licence,
)
from aigov.registry.records import (
    KINDS,
    Confidence,
    DeploymentBase,
    date_bounds,
    date_precision,
)
from aigov.registry.store import (
    DATASET_LINK_FIELDS,
    chunked,
    dataset_links,
    fetch_rows,
    table_of,
    validate_stored,
    verify_readable,
)
from aigov.results.waivers import waiver_expired

_ORDER = {kind: index for index, kind in enumerate(KINDS)}


@dataclass
class Partition:
    """The facts about one model, plus the records behind them (for evidence)."""

    model: str
    facts: list[dict[str, Any]]
    records: dict[str, tuple[str, dict[str, Any]]]
    subjects: dict[str, list[str]]
    hypothetical: set[str] = field(default_factory=set)

    def record(self, key: str) -> tuple[str, dict[str, Any]] | None:
        return self.records.get(key)


_DATE_FIELDS: dict[str, frozenset[str]] = {
    fact_type: frozenset(engine_field(name) for name, ftype in fields.items() if ftype == DATE)
    for fact_type, fields in FACT_SCHEMA.items()
}
# Dates that may be known to the month or year only: the fact holds their first day, their
# last (``<field>__last``) and their precision (``<field>_precision``).
_PARTIAL_DATE_FIELDS: dict[str, frozenset[str]] = {
    fact_type: frozenset(engine_field(name) for name, ftype in fields.items() if ftype.partial)
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


def make_fact(fact_type: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """An engine fact from JSON-form data (dates as ISO strings become day ordinals)."""
    fact = _flatten({k: v for k, v in data.items() if k != "id"})
    for name in _DATE_FIELDS.get(fact_type, ()):
        if name in fact:
            fact[name] = dt.date.fromisoformat(fact[name]).toordinal()
    for name in _PARTIAL_DATE_FIELDS.get(fact_type, ()):
        if name in fact:
            first, last = date_bounds(str(fact[name]))
            fact[f"{name}{PRECISION_SUFFIX}"] = date_precision(str(fact[name]))
            fact[name], fact[f"{name}{LAST_DAY}"] = first.toordinal(), last.toordinal()
    fact["t"] = fact_type
    fact["key"] = key
    fact["id"] = f"{fact_type}|{key}"
    return fact


def _plain(value: Any) -> Any:
    """A stored value in interchange (JSON) form: enums as values, dates ISO, no nulls."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def row_data(row: Any, links: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A table row as interchange data (what ``record_to_data`` gives for the same record),
    not validated: evaluation reads rows through :func:`stored_data`."""
    data = {k: _plain(v) for k, v in row._mapping.items() if v is not None and v != [] and v != {}}
    if links:
        data.update(links)
    return data


# Kinds whose records many partitions share (providers and terms above all, ancestors,
# their edges and investigations): validated once per run, not once per chunk. Deployments,
# approvals and waivers belong to one model and are read once anyway.
_SHARED_KINDS = frozenset({"provider", "terms", "model", "dataset", "lineage", "investigation"})
_VALIDATED_MAX = 20_000
_validated: OrderedDict[tuple[str, str, str], tuple[Any, Any, dict[str, Any]]] = OrderedDict()


def stored_data(
    kind: str, row: Any, links: dict[str, list[str]] | None = None, source: str = ""
) -> dict[str, Any]:
    """A stored row as interchange data, validated exactly as an import validates it: a value
    written by SQL or another tool (an enum value outside its enum, a malformed id) raises
    :class:`~aigov.registry.store.StoredRecordError` instead of silently not matching a
    policy. A shared record is validated once while its row is unchanged: the cache (per
    process, so forked workers share what the parent validated) holds the row itself and is
    used only for an equal row from the same database (``source``)."""
    shared = kind in _SHARED_KINDS
    if shared:
        key = (source, kind, row.id)
        hit = _validated.get(key)
        if hit is not None and hit[0] == row and hit[1] == links:
            _validated.move_to_end(key)
            return hit[2]
    mapping = row._asdict()
    if links:
        mapping.update(links)
    validate_stored(kind, mapping)
    data = row_data(row, links)
    if shared:
        _validated[key] = (row, links, data)
        if len(_validated) > _VALIDATED_MAX:
            _validated.popitem(last=False)
    return data


class _Loaded:
    """Rows for one chunk of partitions, indexed for assembly, with each record's facts
    built once per chunk however many partitions share it."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[str, dict[str, Any]]] = {}
        self.edges_by_child: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.edge_facts: dict[str, list[dict[str, Any]]] = {}
        self.cyclic = True  # whether the chunk's lineage may hold a cycle (see _acyclic)
        self.terms_by_provider: dict[str, list[str]] = defaultdict(list)
        self.investigations_by_subject: dict[str, list[str]] = defaultdict(list)
        self.deployments_by_model: dict[str, list[str]] = defaultdict(list)
        self.approvals_by_model: dict[str, list[str]] = defaultdict(list)
        self.waivers_by_subject: dict[str, list[str]] = defaultdict(list)
        self.facts: dict[str, list[dict[str, Any]]] = {}
        self.evidence: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}


# Every record in the lineage of some of the roots (once, however many roots share it): each
# root's own ancestors are then walked in Python over the loaded edges, so a chain of N
# models costs N rows here, not N^2 (root, node) pairs.
_CLOSURE_SQL = """
WITH RECURSIVE edges(child, parent) AS (
    SELECT child, parent FROM lineage
    UNION ALL
    SELECT dataset, target FROM dataset_link
),
closure(node) AS (
    SELECT id FROM model WHERE id IN :roots
    UNION
    SELECT edges.parent FROM closure JOIN edges ON edges.child = closure.node
)
SELECT node FROM closure
"""

ALWAYS_KEPT = frozenset({"t", "key", "id", "partition_root"})
# Computed fields stay even when no rule reads them: messages and evidence show them.
_COMPUTED_FIELDS = {kind: frozenset(fields) for kind, fields in COMPUTED.items()}


class PartitionLoader:
    """Loads partitions for model ids in chunks (see module docstring).

    ``member_fields`` are list fields to expand into membership facts; ``fact_fields``
    (type -> engine field names the compiled rules read) trims what is asserted: types no
    rule reads are left out and so are fields no rule reads. Evidence always comes from the
    full records.
    """

    def __init__(
        self,
        conn: Connection,
        as_of: dt.date,
        member_fields: set[tuple[str, str]],
        fact_fields: dict[str, frozenset[str]] | None = None,
        regexes: dict[str, list[tuple[str, str, str]]] | None = None,
    ):
        verify_readable(conn)  # a damaged SQLite file hides records: refuse it first
        self.conn = conn
        self.source = conn.engine.url.render_as_string(hide_password=False)
        self.as_of = as_of
        self.member_fields = member_fields
        self.fact_fields = fact_fields
        self.regexes = {
            kind: [(name, compile_regex(pattern), field) for name, pattern, field in specs]
            for kind, specs in (regexes or {}).items()
        }

    def model_ids(self, only: list[str] | None = None) -> list[str]:
        table = table_of("model")
        query = sa.select(table.c.id).order_by(table.c.id)
        if only is not None:
            found: list[str] = []
            for chunk in chunked(sorted(set(only)), 500):
                found += self.conn.execute(query.where(table.c.id.in_(chunk))).scalars().all()
            return sorted(found)
        return list(self.conn.execute(query).scalars())

    def _fetch(self, loaded: _Loaded, kind: str, column: str, values: Iterable[str]) -> list[str]:
        table = table_of(kind)
        ids: list[str] = []
        for chunk in chunked(sorted(set(values)), 500):
            query = sa.select(table).where(table.c[column].in_(chunk))
            rows = fetch_rows(self.conn, query, table)
            links = dataset_links(self.conn, [r.id for r in rows]) if kind == "dataset" else {}
            for row in rows:
                if row.id not in loaded.records:
                    data = stored_data(kind, row, links.get(row.id), self.source)
                    if data.get("licence_history"):
                        data = licence_as_of(kind, data, self.as_of)
                    loaded.records[row.id] = (kind, data)
                ids.append(row.id)
        return ids

    def load(
        self, roots: list[str], extra: list[DeploymentBase] | None = None
    ) -> Iterator[Partition]:
        """Partitions for ``roots`` (in that order, each assembled when it is asked for: a
        chunk of big partitions is never in memory at once); ``extra`` adds hypothetical
        deployments."""
        loaded = _Loaded()
        closure_query = sa.text(_CLOSURE_SQL).bindparams(sa.bindparam("roots", expanding=True))
        nodes: set[str] = set()
        for chunk in chunked(sorted(set(roots)), 500):
            nodes.update(self.conn.execute(closure_query, {"roots": chunk}).scalars())
        self._fetch(loaded, "model", "id", nodes)
        self._fetch(loaded, "dataset", "id", nodes)
        for edge_id in self._fetch(loaded, "lineage", "child", nodes):
            edge = loaded.records[edge_id][1]
            loaded.edges_by_child[edge["child"]].append({"key": edge_id, **edge})
        for node in sorted(nodes):
            kind, record = loaded.records.get(node, ("", {}))
            if kind != "dataset":
                continue
            for field_name, relation in DATASET_LINK_FIELDS.items():
                for target in record.get(field_name, []):
                    key = f"{node}~{relation}~{target}"
                    loaded.edges_by_child[node].append(
                        {
                            "key": key,
                            "id": key,
                            "child": node,
                            "parent": target,
                            "relation": relation,
                            "confidence": record.get("confidence", "declared"),
                            "declared_in": f"dataset {node} ({field_name})",
                        }
                    )
        loaded.cyclic = not _acyclic(loaded.edges_by_child)
        models = [data for kind, data in loaded.records.values() if kind == "model"]
        providers = {m["provider"] for m in models}
        self._fetch(loaded, "provider", "id", providers)
        # a licence may name terms records, alone or inside an expression (of a model's
        # licence, or of a dataset's licences)
        licences = {m["licence"] for m in models if "licence" in m}
        licences |= {
            text
            for kind, data in loaded.records.values()
            if kind == "dataset"
            for text in data.get("licences", [])
        }
        terms_ids = self._fetch(loaded, "terms", "provider", providers)
        terms_ids += self._fetch(loaded, "terms", "id", _licence_symbols(licences))
        for terms_id in terms_ids:
            provider = loaded.records[terms_id][1]["provider"]
            if terms_id not in loaded.terms_by_provider[provider]:
                loaded.terms_by_provider[provider].append(terms_id)
        for inv in self._fetch(loaded, "investigation", "subject", nodes | providers):
            loaded.investigations_by_subject[loaded.records[inv][1]["subject"]].append(inv)
        for dep in self._fetch(loaded, "deployment", "model", roots):
            loaded.deployments_by_model[loaded.records[dep][1]["model"]].append(dep)
        for appr in self._fetch(loaded, "approval", "model", roots):
            loaded.approvals_by_model[loaded.records[appr][1]["model"]].append(appr)
        for proposed in extra or []:  # a proposed deployment replaces a stored one of that id
            loaded.records[proposed.id] = ("deployment", record_to_data(proposed))
            for ids in loaded.deployments_by_model.values():
                if proposed.id in ids:
                    ids.remove(proposed.id)
            loaded.deployments_by_model[proposed.model].append(proposed.id)
        waiver_subjects = set(roots)
        for root in roots:
            waiver_subjects.update(loaded.deployments_by_model[root])
            waiver_subjects.update(loaded.approvals_by_model[root])
        for waiver in self._fetch(loaded, "waiver", "subject", waiver_subjects):
            loaded.waivers_by_subject[loaded.records[waiver][1]["subject"]].append(waiver)
        terms_class = {
            key: _terms_class(data)
            for key, (kind, data) in loaded.records.items()
            if kind == "terms"
        }
        hypothetical = {r.id for r in extra or []}
        # the database work is done: the partitions are assembled one by one as they are read
        return (self._assemble(loaded, root, hypothetical, terms_class) for root in roots)

    def _record_facts(
        self, loaded: _Loaded, key: str, terms_class: dict[str, LicenceClass]
    ) -> list[dict[str, Any]]:
        """The facts of one record (itself, its child facts, its membership facts), built
        once per chunk; also fills ``loaded.evidence`` with the records behind them."""
        cached = loaded.facts.get(key)
        if cached is not None:
            return cached
        kind, record = loaded.records[key]
        data = dict(record)
        evidence: dict[str, tuple[str, dict[str, Any]]] = {key: (kind, record)}
        facts: list[dict[str, Any]] = []
        for (parent_kind, field_name), (child_type, link, _model) in CHILD_FACTS.items():
            if parent_kind != kind:
                continue
            for index, child in enumerate(data.pop(field_name, None) or []):
                child_key = f"{key}#{field_name}[{index}]"
                child_data = {link: key, **child, "index": index}
                if child_type == "clause":
                    child_data["provider"] = data["provider"]
                facts.append(make_fact(child_type, child_key, child_data))
                evidence[child_key] = (child_type, {"id": child_key, link: key, **child})
        if kind == "dataset":
            for name in DATASET_LINK_FIELDS:
                data.pop(name, None)
            # every licence of the list applies: the most restrictive one decides
            classes = [classify(lic, terms_class) for lic in data.get("licences", [])]
            cls = most_restrictive(classes)
            data.update(licence_class=cls.value, licence_rank=RANK[cls])
        elif kind == "model":
            cls = classify(data.get("licence"), terms_class)
            data.update(licence_class=cls.value, licence_rank=RANK[cls])
            terms = _terms_named(data.get("licence"), terms_class)
            if terms:
                data["licence_terms"] = terms
        elif kind == "waiver":
            expires = dt.date.fromisoformat(data["expires_at"])
            data["expired"] = waiver_expired(expires, self.as_of)
        _add_confidence_of(kind, data)
        facts.insert(0, make_fact(kind, key, data))
        facts += self._members(facts)
        facts = self._trim(facts)
        loaded.facts[key] = facts
        loaded.evidence[key] = evidence
        return facts

    def _trim(self, facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add the regex results rules test, then keep only what the rules read."""
        for fact in facts:
            for name, pattern, result in self.regexes.get(fact["t"], ()):
                if name in fact:
                    fact[result] = pattern.search(str(fact[name])) is not None
        if self.fact_fields is None:
            return facts
        out = []
        for fact in facts:
            wanted = self.fact_fields.get(fact["t"])
            if wanted is None:
                continue
            computed = _COMPUTED_FIELDS.get(fact["t"], frozenset())
            out.append(
                {k: v for k, v in fact.items() if k in wanted or k in ALWAYS_KEPT or k in computed}
            )
        return out

    def _assemble(
        self,
        loaded: _Loaded,
        root: str,
        hypothetical: set[str],
        terms_class: dict[str, LicenceClass],
    ) -> Partition:
        nodes, edges = _ancestry(root, loaded.edges_by_child)
        keys: set[str] = set(nodes)
        providers: set[str] = set()
        licence_terms: set[str] = set()
        for node in nodes:
            kind, record = loaded.records.get(node, ("", {}))
            if kind == "model":
                providers.add(record["provider"])
                terms_id = _terms_named(record.get("licence"), terms_class)
                if terms_id:
                    licence_terms.add(terms_id)
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

        facts: list[dict[str, Any]] = []
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        for key in sorted(keys, key=lambda k: (_ORDER[loaded.records[k][0]], k)):
            record_facts = self._record_facts(loaded, key, terms_class)
            if key == root:
                record_facts = [{**record_facts[0], "partition_root": True}, *record_facts[1:]]
            facts += record_facts
            records.update(loaded.evidence[key])
        for edge in sorted(edges, key=lambda e: e["key"]):
            key = edge["key"]
            if key in records:
                continue
            edge_facts = loaded.edge_facts.get(key)
            if edge_facts is None:
                edge_record = ("lineage", {k: v for k, v in edge.items() if k != "key"})
                edge_facts = loaded.edge_facts[key] = self._trim([make_fact("lineage", key, edge)])
                loaded.evidence[key] = {key: edge_record}
            records.update(loaded.evidence[key])
            facts += edge_facts
        cycle = find_cycle(root, edges) if loaded.cyclic else None
        if cycle:
            cycle_key = f"{root}#lineage-cycle"
            facts += self._trim(
                [make_fact("lineage_cycle", cycle_key, {"model": root, "nodes": cycle})]
            )
            records[cycle_key] = ("lineage_cycle", {"model": root, "nodes": cycle})
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


def _ancestry(
    root: str, edges_by_child: dict[str, list[dict[str, Any]]]
) -> tuple[set[str], list[dict[str, Any]]]:
    """The records in ``root``'s lineage (itself included) and the edges between them."""
    nodes, edges, stack = {root}, [], [root]
    while stack:
        for edge in edges_by_child.get(stack.pop(), ()):
            edges.append(edge)
            if edge["parent"] not in nodes:
                nodes.add(edge["parent"])
                stack.append(edge["parent"])
    return nodes, edges


def _acyclic(edges_by_child: dict[str, list[dict[str, Any]]]) -> bool:
    """Whether the lineage graph has no cycle (Kahn's algorithm, once per chunk): then no
    partition of the chunk needs its own cycle search."""
    children_of: dict[str, list[str]] = defaultdict(list)
    pending: dict[str, int] = defaultdict(int)  # node -> edges to its parents not yet removed
    for child, edges in edges_by_child.items():
        for edge in edges:
            children_of[edge["parent"]].append(child)
            pending[child] += 1
            pending.setdefault(edge["parent"], 0)
    ready = [node for node, count in pending.items() if count == 0]
    removed = 0
    while ready:
        node = ready.pop()
        removed += 1
        for child in children_of.get(node, ()):
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    return removed == len(pending)


def licence_as_of(kind: str, data: dict[str, Any], as_of: dt.date) -> dict[str, Any]:
    """The record with the licence in force at ``as_of``: the latest ``licence_history``
    entry that took effect by then (a dataset's ``licences`` become that one licence), or
    the recorded licence when none had. Its confidence and source become the licence's."""
    in_force = [
        change
        for change in data["licence_history"]
        if dt.date.fromisoformat(change["effective_from"]) <= as_of
    ]
    if not in_force:
        return data
    change = in_force[-1]  # the history is sorted by date (aigov.registry.records)
    field = "licences" if kind == "dataset" else "licence"
    data = {**data, field: [change["licence"]] if kind == "dataset" else change["licence"]}
    facts = {k: change[k] for k in ("confidence", "source") if k in change}
    provenance = {k: v for k, v in (data.get("provenance") or {}).items() if k != field}
    data["provenance"] = {**provenance, field: facts} if facts else provenance
    return data


def _add_confidence_of(kind: str, data: dict[str, Any]) -> None:
    """Replace ``provenance`` with ``confidence_of``: each field's own confidence, or the
    record's, for every field that has a value (see :data:`aigov.policy.schema.CONFIDENCE_OF`)."""
    provenance = data.pop("provenance", None) or {}
    data.pop("licence_history", None)
    default = data.get("confidence", Confidence.declared.value)
    computed = COMPUTED.get(kind, {})
    data[CONFIDENCE_OF] = {
        name: (provenance.get(name) or {}).get("confidence", default)
        for name in data
        if name not in RECORD_META and name not in computed
    }


def _terms_class(terms: dict[str, Any]) -> LicenceClass:
    """A terms record used as a licence: non-commercial if it has such a clause, else a
    licence with use restrictions."""
    types = {c.get("type") for c in terms.get("clauses", [])}
    if "non_commercial" in types:
        return LicenceClass.non_commercial
    return LicenceClass.proprietary_terms


def _licence_symbols(licences: Iterable[str]) -> set[str]:
    """Every licence id named in these licence expressions (some may be terms record ids)."""
    symbols: set[str] = set()
    for text in licences:
        try:
            symbols.update(parse_licence(text).ids)
        except ValueError:  # stored rows are validated before this; keep the text as is
            symbols.add(text)
    return symbols


def _terms_named(licence: str | None, terms_class: dict[str, LicenceClass]) -> str | None:
    """The terms record a model's licence names (the first, in id order, of an expression
    naming several), whose clauses then bind the model."""
    if not licence:
        return None
    if licence in terms_class:
        return licence
    named = sorted(_licence_symbols([licence]) & terms_class.keys())
    return named[0] if named else None


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
