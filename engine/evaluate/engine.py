"""Evaluate compiled policies against registry partitions (the "evaluate" stage).

One durable-rules host per process; each partition (one model) runs in its own short-lived
session per shard: its facts are asserted in one batch (derivations run to a fixpoint inside
that call), then one gate fact per stratum is asserted (negations and policy rules fire),
then the session is deleted, so engine memory does not grow with the registry.

Actions only record what matched. Outcomes, waivers and evidence are assembled afterwards
in Python from those records: which subjects a policy applied to, which failed, which
needed review, which lacked a required field.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aigov import __version__
from aigov.compile.compiler import GATE, CompiledPolicies, RuleMeta, compile_policies
from aigov.errors import AigovError, NotFoundError
from aigov.evaluate.facts import Partition, PartitionLoader
from aigov.policy.language import Policy, PolicySet, load_policies
from aigov.policy.schema import COMPUTED, engine_field
from aigov.registry.records import DeploymentBase
from aigov.registry.store import Registry, open_registry
from aigov.results.findings import (
    BLOCKING,
    OUTCOME_ORDER,
    AuditResult,
    DeploymentInfo,
    EvidenceRecord,
    Finding,
    InvestigationInfo,
    Match,
    ModelResult,
    Outcome,
    PathStep,
    PolicyInfo,
    WaiverInfo,
    WaiverRef,
    blocks,
    finding_id,
)
from aigov.results.severity import Severity
from aigov.results.waivers import waiver_expired

PARTITION_CHUNK = 200


class EngineError(AigovError):
    """The rules engine failed while evaluating a partition."""


@dataclass
class _Sink:
    """What the actions of one partition recorded."""

    events: list[tuple[RuleMeta, dict[str, dict[str, Any]]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.events.clear()
        self.errors.clear()
        self.roots.clear()


def _matches(c: Any) -> list[dict[str, dict[str, Any]]]:
    """The matches of a ``cap`` rule as plain dicts (alias -> fact)."""
    return [getattr(m, "_d", m) for m in c.m]


def _derived_id(fact_type: str, values: dict[str, Any]) -> str:
    raw = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return f"{fact_type}|{hashlib.sha1(raw.encode()).hexdigest()[:16]}"


class Evaluator:
    """A durable-rules host loaded with the compiled shards."""

    def __init__(self, compiled: CompiledPolicies):
        from durable import engine

        class _SyncHost(engine.Host):  # P4: no background dispatcher threads
            def _run(self) -> None:
                pass

        self._observed = engine.MessageObservedException
        self.compiled = compiled
        self.sink = _Sink()
        self.host = _SyncHost()
        # Fault injection for tests of the fail-closed paths: AIGOV_INJECT_FAULT=<model id>.
        self.fault_model = os.environ.get("AIGOV_INJECT_FAULT") or None
        rulesets: dict[str, Any] = {}
        for shard in compiled.shards:
            ruleset = copy.deepcopy(shard.ruleset)  # set_rulesets mutates its input
            for name, rule in ruleset.items():
                rule["run"] = (
                    self._seen_root if name == "$root" else self._action(shard.rules.get(name))
                )
            rulesets[shard.name] = ruleset
        self.host.set_rulesets(rulesets)
        self.sequence = 0

    def _seen_root(self, c: Any) -> None:
        self.sink.roots.append(c.m["key"])

    def _action(self, meta: RuleMeta | None) -> Callable[[Any], None]:
        sink = self.sink
        observed = self._observed
        if meta is None:
            return lambda c: None

        metas = [meta, *meta.also]

        def record(c: Any) -> None:
            try:
                for match in _matches(c):
                    for each in metas:
                        sink.events.append((each, match))
            except Exception as exc:  # P18: exceptions in actions vanish; keep them
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def assert_all(c: Any, facts: Iterable[dict[str, Any]]) -> None:
            for fact in facts:
                # Already derived (a cycle or a second path): the first witness wins.
                with contextlib.suppress(observed):
                    c.assert_fact(fact)

        def seed(c: Any) -> None:
            try:
                assert_all(
                    c,
                    (
                        {
                            "t": reach_type,
                            # the start has its own id: a cycle back to it is still a step
                            "id": f"{reach_type}|{m['s']['key']}|start",
                            "origin": m["s"]["key"],
                            "node": m["s"]["key"],
                            "depth": 0,
                            "path": [],
                        }
                        for m in _matches(c)
                        for reach_type in meta.seeds
                    ),
                )
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def step(c: Any) -> None:
            try:
                facts = []
                for m in _matches(c):
                    reach, edge = m["r"], m["e"]
                    facts.append(
                        {
                            "t": meta.produces,
                            "id": f"{meta.produces}|{reach['origin']}|{edge['parent']}",
                            "origin": reach["origin"],
                            "node": edge["parent"],
                            "depth": reach["depth"] + 1,
                            "path": [*reach.get("path", []), edge["key"]],
                        }
                    )
                assert_all(c, facts)
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        def derive(c: Any) -> None:
            try:
                facts = []
                for m in _matches(c):
                    values = {
                        name: m[pattern].get(fieldname)
                        for name, (pattern, fieldname) in meta.fields.items()
                    }
                    values = {k: v for k, v in values.items() if v is not None}
                    fact_id = _derived_id(meta.produces or "", values)
                    fact = {"t": meta.produces, "id": fact_id, "key": fact_id, **values}
                    if meta.role == "derive":
                        path: list[str] = []
                        for alias in meta.aliases:
                            reach = meta.reach.get(alias)
                            if reach:
                                path += m[reach].get("path", [])
                            path += m[alias].get("path", []) if alias in m else []
                        fact["path"] = path
                        fact["support"] = [
                            f"{alias}={m[alias]['t']}:{m[alias]['key']}"
                            for alias in meta.aliases
                            if alias in m
                        ]
                    facts.append(fact)
                assert_all(c, facts)
            except Exception as exc:
                sink.errors.append(f"{meta.name}: {type(exc).__name__}: {exc}")

        return {"reach-seed": seed, "reach-step": step, "derive": derive, "aux": derive}.get(
            meta.role, record
        )

    def run(self, partition: Partition) -> list[tuple[RuleMeta, dict[str, dict[str, Any]]]]:
        """Evaluate one partition; return the recorded matches."""
        self.sink.reset()
        if self.fault_model == partition.model:
            raise EngineError(f"injected fault while evaluating model '{partition.model}'")
        events: list[tuple[RuleMeta, dict[str, dict[str, Any]]]] = []
        for shard in self.compiled.shards:
            self.sequence += 1
            sid = str(self.sequence)
            types = shard.types
            facts = [{**fact, "sid": sid} for fact in partition.facts if fact["t"] in types]
            try:
                self.host.assert_facts(shard.name, facts)
                for stratum in shard.gates:
                    self.host.assert_fact(
                        shard.name,
                        {"t": GATE, "id": f"{GATE}|{stratum}", "stratum": stratum, "sid": sid},
                    )
                state = self.host.get_state(shard.name, sid)
                accepted = self.sink.roots == [partition.model]
                if accepted:  # else no action ran, and delete_state would crash (P3)
                    self.host.delete_state(shard.name, sid)
            except Exception as exc:
                raise EngineError(
                    f"rules engine failed on model '{partition.model}' ({shard.name}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not accepted:
                raise EngineError(
                    f"the rules engine did not accept the facts of model '{partition.model}'"
                )
            self.sink.roots.clear()
            if state.get("exception") or self.sink.errors:
                detail = state.get("exception") or "; ".join(self.sink.errors)
                raise EngineError(f"rules engine failed on model '{partition.model}': {detail}")
            for _meta, match in self.sink.events:
                # P17: sessions are found by a 32-bit hash; never trust a fact from another.
                if any(f.get("sid") != sid for f in match.values() if isinstance(f, dict)):
                    raise EngineError(
                        f"rules engine mixed sessions while evaluating model '{partition.model}'"
                    )
            events += self.sink.events
            self.sink.events = []
        return events


# ----------------------------------------------------------------------------- outcomes


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class _Assembler:
    """Turns recorded matches into outcomes and findings for one partition."""

    def __init__(self, compiled: CompiledPolicies):
        self.compiled = compiled
        self.policies = {p.id: p for p in compiled.policy_set.enabled}
        self.as_of = compiled.as_of
        self.derived = {d.id for d in compiled.policy_set.derivations}

    def record_data(self, partition: Partition, fact: dict[str, Any]) -> dict[str, Any]:
        kind = fact.get("t", "")
        found = partition.record(fact.get("key", ""))
        if found is None:  # derived facts are their own record
            return {k: v for k, v in fact.items() if k not in ("t", "id", "sid", "key", "support")}
        data = dict(found[1])
        for name in COMPUTED.get(kind, {}):
            value = fact.get(engine_field(name))
            if value is not None:
                data[name] = value
        return data

    def evidence(self, partition: Partition, meta: RuleMeta, match: dict[str, Any]) -> Match:
        records: list[EvidenceRecord] = []
        paths: dict[str, list[PathStep]] = {}
        for alias in meta.aliases:
            fact = match.get(alias)
            if not isinstance(fact, dict):
                continue
            data = self.record_data(partition, fact)
            used = list(dict.fromkeys(meta.used_fields.get(alias, [])))
            fields = {}
            for name in used:
                value = data.get("id", fact.get("key")) if name == "id" else _get(data, name)
                fields[name] = value
            records.append(
                EvidenceRecord.model_construct(
                    role=alias, kind=fact["t"], id=fact["key"], fields=fields
                )
            )
            edge_keys: list[str] = []
            reach = meta.reach.get(alias)
            if reach and isinstance(match.get(reach), dict):
                edge_keys = list(match[reach].get("path", []))
            elif fact["t"] in self.derived:
                edge_keys = list(fact.get("path", []))
                for support in fact.get("support", []):
                    role, _, ref = support.partition("=")
                    kind, _, key = ref.partition(":")
                    records.append(
                        EvidenceRecord.model_construct(
                            role=f"{alias}.{role}", kind=kind, id=key, fields={}
                        )
                    )
            if edge_keys:
                paths[alias] = self.path(partition, edge_keys)
        primary = next(iter(paths.values()), [])
        # model_construct: these are built from trusted engine output, thousands per second
        return Match.model_construct(
            records=records, path=primary, paths=paths if len(paths) > 1 else {}
        )

    def path(self, partition: Partition, edge_keys: list[str]) -> list[PathStep]:
        steps = []
        for key in edge_keys:
            _kind, edge = partition.records.get(key, ("lineage", {}))
            child, parent = edge.get("child", "?"), edge.get("parent", "?")
            steps.append(
                PathStep.model_construct(
                    edge=key,
                    child=child,
                    child_kind=partition.records.get(child, ("?",))[0],
                    relation=edge.get("relation", "?"),
                    parent=parent,
                    parent_kind=partition.records.get(parent, ("?",))[0],
                    confidence=edge.get("confidence"),
                )
            )
        return steps

    def message(
        self,
        policy: Policy,
        partition: Partition,
        subject: str,
        match: dict[str, Any] | None,
        evidence: Match | None,
    ) -> str:
        context: dict[str, Any] = {
            "as_of": self.as_of.isoformat(),
            "policy": {
                "id": policy.id,
                "title": policy.doc.title,
                "severity": policy.severity.value,
            },
            "subject": dict(partition.records.get(subject, ("", {"id": subject}))[1]),
            "model": dict(partition.records.get(partition.model, ("", {}))[1]),
            "path": [step.model_dump() for step in (evidence.path if evidence else [])],
        }
        context[policy.subject.alias] = context["subject"]
        if match:
            for name, fact in match.items():
                if isinstance(fact, dict) and "key" in fact and not name.startswith(("g_", "$")):
                    context[name] = self.record_data(partition, fact)
        try:
            text = policy.template.render(**context)
        except Exception as exc:  # sandbox violations and template bugs stay contained
            return f"{policy.doc.title} (message template error: {type(exc).__name__})"
        return " ".join(text.split())

    def waiver_for(self, partition: Partition, policy: str, subject: str) -> WaiverRef | None:
        candidates = []
        for key in partition.subjects.get("waiver", []):
            _kind, waiver = partition.records[key]
            if waiver["policy"] == policy and waiver["subject"] in (subject, partition.model):
                expires = dt.date.fromisoformat(waiver["expires_at"])
                expired = waiver_expired(expires, self.as_of)
                candidates.append((not expired, expires, key, waiver, expired))
        if not candidates:
            return None
        _valid, expires, key, waiver, expired = max(candidates)
        return WaiverRef(
            id=key,
            reason=waiver["reason"],
            approved_by=waiver["approved_by"],
            expires_at=expires,
            expired=expired,
        )

    def assemble(
        self, partition: Partition, events: list[tuple[RuleMeta, dict[str, Any]]]
    ) -> tuple[list[Finding], dict[str, Outcome], dict[tuple[str, str], Outcome]]:
        """Findings, the worst outcome per policy, and every (policy, subject) outcome."""
        applicable: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        missing: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        matches: dict[tuple[str, str], dict[str, list[tuple[RuleMeta, dict[str, Any]]]]] = (
            defaultdict(lambda: defaultdict(list))
        )
        for meta, match in events:
            policy = meta.policy or ""
            subject = match[meta.subject or ""]["key"]
            if meta.role == "applicable":
                applicable[policy].setdefault(subject, match)
            elif meta.role == "missing":
                missing[policy][subject].append(meta.missing or "")
            else:
                matches[(policy, subject)][meta.role].append((meta, match))
        findings: list[Finding] = []
        worst: dict[str, Outcome] = {}
        outcomes: dict[tuple[str, str], Outcome] = {}
        for policy_id, policy in self.policies.items():
            kind = policy.subject.kind
            for subject in partition.subjects.get(kind, []):
                outcome, finding = self.outcome(
                    partition, policy, subject, applicable, missing, matches
                )
                outcomes[(policy_id, subject)] = outcome
                if outcome != Outcome.not_applicable:
                    current = worst.get(policy_id)
                    if current is None or OUTCOME_ORDER.index(outcome) < OUTCOME_ORDER.index(
                        current
                    ):
                        worst[policy_id] = outcome
                if finding is not None:
                    findings.append(finding)
        findings.sort(key=lambda f: (f.model, f.policy, f.subject_kind, f.subject))
        return findings, dict(sorted(worst.items())), outcomes

    def outcome(
        self,
        partition: Partition,
        policy: Policy,
        subject: str,
        applicable: dict[str, dict[str, dict[str, Any]]],
        missing: dict[str, dict[str, list[str]]],
        matches: dict[tuple[str, str], dict[str, list[tuple[RuleMeta, dict[str, Any]]]]],
    ) -> tuple[Outcome, Finding | None]:
        if subject not in applicable.get(policy.id, {}):
            return Outcome.not_applicable, None
        gaps = missing.get(policy.id, {}).get(subject)
        found = matches.get((policy.id, subject))
        if not gaps and not found:
            return Outcome.passed, None  # the common case: nothing to build
        kind = policy.subject.kind
        common = {
            "policy": policy.id,
            "title": policy.doc.title,
            "severity": policy.severity,
            "family": policy.doc.family,
            "model": partition.model,
            "subject_kind": kind,
            "subject": subject,
            "hypothetical": subject in partition.hypothetical,
        }
        fid = finding_id(policy.id, kind, subject)
        if gaps:
            gaps = sorted(set(gaps))
            base = applicable[policy.id][subject]
            message = self.message(policy, partition, subject, base, None)
            return Outcome.indeterminate, Finding(
                id=fid, outcome=Outcome.indeterminate, message=message, missing=gaps, **common
            )
        found = found or {}
        role = "fail" if found.get("fail") else "review" if found.get("review") else None
        if role is None:
            return Outcome.passed, None
        evidence: dict[str, tuple[Match, dict[str, Any], list[str]]] = {}
        for meta, match in found[role]:
            item = self.evidence(partition, meta, match)
            signature = item.model_dump_json()
            evidence.setdefault(signature, (item, match, meta.absent))  # P11: dedupe
        ordered = [evidence[k] for k in sorted(evidence)]
        first_match, first_raw, _ = ordered[0]
        absent = sorted({text for _, _, items in ordered for text in items})
        outcome = Outcome.fail if role == "fail" else Outcome.review
        waiver = self.waiver_for(partition, policy.id, subject)
        if waiver is not None and not waiver.expired:
            outcome = Outcome.waived
        message = self.message(policy, partition, subject, first_raw, first_match)
        return outcome, Finding(
            id=fid,
            outcome=outcome,
            message=message,
            evidence=[item for item, _, _ in ordered],
            absent=absent,
            waiver=waiver,
            **common,
        )


def model_status(findings: list[Finding], fail_on: Severity) -> str:
    if any(blocks(f, fail_on) for f in findings):
        return "blocked"
    if any(f.outcome in (*BLOCKING, Outcome.indeterminate) for f in findings):
        return "attention"
    return "clean"


def policy_catalogue(policy_set: PolicySet) -> list[PolicyInfo]:
    return [
        PolicyInfo(
            id=p.id,
            title=p.doc.title,
            description=p.doc.description,
            family=p.doc.family,
            severity=p.severity,
            references=[r.model_dump(exclude_none=True) for r in p.doc.references],
            remediation=p.doc.remediation,
            tags=p.doc.tags,
            builtin=p.builtin,
            source=f"{p.file}:{p.line}",
        )
        for p in sorted(policy_set.enabled, key=lambda p: p.id)
    ]


@dataclass
class PartitionResult:
    model: ModelResult
    findings: list[Finding]
    outcomes: dict[tuple[str, str], Outcome]  # (policy, subject) -> outcome
    waivers: list[WaiverInfo]
    investigations: list[InvestigationInfo]


class PartitionEvaluator:
    """Evaluator plus assembler: partition in, findings out (used by audit and gate)."""

    def __init__(self, compiled: CompiledPolicies, fail_on: Severity):
        self.evaluator = Evaluator(compiled)
        self.assembler = _Assembler(compiled)
        self.fail_on = fail_on
        self.as_of = compiled.as_of

    def __call__(self, partition: Partition) -> PartitionResult:
        events = self.evaluator.run(partition)
        findings, worst, outcomes = self.assembler.assemble(partition, events)
        records = partition.records
        _kind, record = records[partition.model]
        deployments = []
        for dep_id in partition.subjects.get("deployment", []):
            dep = records[dep_id][1]
            deployments.append(
                DeploymentInfo(
                    id=dep_id,
                    platform=dep["platform"],
                    region=dep["region"],
                    environment=dep["environment"],
                    exposure=dep.get("exposure", "internal"),
                    status=dep.get("status", "active"),
                    approval=dep.get("approval"),
                    hypothetical=dep_id in partition.hypothetical,
                )
            )
        edges = sorted(k for k, (kind, _data) in records.items() if kind == "lineage")
        model = ModelResult(
            id=partition.model,
            name=record.get("name", partition.model),
            provider=record.get("provider"),
            licence=record.get("licence"),
            owner=record.get("owner"),
            status=model_status(findings, self.fail_on),
            outcomes=worst,
            deployments=deployments,
            lineage=self.assembler.path(partition, edges),
        )
        waivers = []
        for key in partition.subjects.get("waiver", []):
            w = records[key][1]
            expires = dt.date.fromisoformat(w["expires_at"])
            waivers.append(
                WaiverInfo(
                    id=key,
                    policy=w["policy"],
                    subject=w["subject"],
                    model=partition.model,
                    reason=w["reason"],
                    approved_by=w["approved_by"],
                    granted_at=dt.date.fromisoformat(w["granted_at"]),
                    expires_at=expires,
                    expired=waiver_expired(expires, self.as_of),
                )
            )
        hosted = any(d.status == "active" for d in deployments)
        investigations = [
            InvestigationInfo(
                id=key,
                subject=data["subject"],
                authority=data["authority"],
                authority_type=data["authority_type"],
                allegation=data["allegation"],
                status=data["status"],
                opened_at=dt.date.fromisoformat(data["opened_at"]),
                confidence=data.get("confidence", "declared"),
                models=[partition.model],
                hosted_models=[partition.model] if hosted else [],
            )
            for key, (kind, data) in sorted(records.items())
            if kind == "investigation"
        ]
        return PartitionResult(model, findings, outcomes, waivers, investigations)


def resolve_policies(policies: PolicySet | Iterable[str | Path] | None) -> PolicySet:
    if isinstance(policies, PolicySet):
        return policies
    paths = [Path(p) for p in policies] if policies else None
    return load_policies(paths)


def resolve_models(registry: Registry, models: list[str] | None = None) -> list[str]:
    """Sorted ids of ``models`` (default: every model); unknown ids are an error."""
    with registry.read() as conn:
        ids = PartitionLoader(conn, dt.date.today(), set()).model_ids(models)
    if models is not None:
        unknown = sorted(set(models) - set(ids))
        if unknown:
            raise NotFoundError(f"unknown model(s): {', '.join(unknown)}")
    return ids


def iter_partitions(
    registry: Registry,
    compiled: CompiledPolicies,
    ids: list[str],
    extra: list[DeploymentBase] | None = None,
) -> Iterator[Partition]:
    """Stream the partitions of existing models ``ids`` from the database, in chunks."""
    with registry.read() as conn:
        loader = PartitionLoader(
            conn, compiled.as_of, compiled.member_fields, compiled.fact_fields, compiled.regexes
        )
        for start in range(0, len(ids), PARTITION_CHUNK):
            yield from loader.load(ids[start : start + PARTITION_CHUNK], extra)


def build_result(
    compiled: CompiledPolicies,
    results: Iterable[PartitionResult],
    fail_on: Severity,
    registry_digest: str | None = None,
) -> AuditResult:
    models: list[ModelResult] = []
    findings: list[Finding] = []
    counts: dict[Outcome, int] = {o: 0 for o in OUTCOME_ORDER}
    waivers: dict[str, WaiverInfo] = {}
    investigations: dict[str, InvestigationInfo] = {}
    for result in results:
        models.append(result.model)
        findings += result.findings
        for outcome in result.outcomes.values():
            counts[outcome] += 1
        for waiver in result.waivers:
            waivers[waiver.id] = waiver
        for inv in result.investigations:
            known = investigations.setdefault(
                inv.id, inv.model_copy(update={"models": [], "hosted_models": []})
            )
            known.models += inv.models
            known.hosted_models += inv.hosted_models
    models.sort(key=lambda m: m.id)
    findings.sort(key=lambda f: (f.model, f.policy, f.subject_kind, f.subject))
    for inv in investigations.values():
        inv.models.sort()
        inv.hosted_models.sort()
    return AuditResult(
        tool_version=__version__,
        as_of=compiled.as_of,
        fail_on=fail_on,
        policy_digest=compiled.policy_set.digest,
        registry_digest=registry_digest,
        counts=counts,
        policies=policy_catalogue(compiled.policy_set),
        models=models,
        findings=findings,
        waivers=[waivers[k] for k in sorted(waivers)],
        investigations=[investigations[k] for k in sorted(investigations)],
    )


_WORKER: dict[str, Any] = {}


def _worker_chunk(ids: list[str]) -> list[Any]:
    """Evaluate a chunk of models in a worker process (state inherited through fork)."""
    state = _WORKER
    if "evaluate" not in state:
        state["evaluate"] = PartitionEvaluator(state["compiled"], state["fail_on"])
        state["registry"] = open_registry(state["url"])
    transform = state["transform"]
    return [
        transform(state["evaluate"](partition))
        for partition in iter_partitions(state["registry"], state["compiled"], ids)
    ]


def _parallel(
    url: str,
    compiled: CompiledPolicies,
    fail_on: Severity,
    ids: list[str],
    workers: int,
    progress: Callable[[int], None] | None,
    transform: Callable[[PartitionResult], Any],
) -> Iterator[Any]:
    """Partition-parallel evaluation in worker processes, results in id order, at most a few
    chunks in flight (memory stays flat); any failure fails the run, naming the models."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    chunks = [ids[i : i + PARTITION_CHUNK] for i in range(0, len(ids), PARTITION_CHUNK)]
    _WORKER.clear()
    _WORKER.update(url=url, compiled=compiled, fail_on=fail_on, transform=transform)
    context = multiprocessing.get_context("fork")
    pending: deque[tuple[list[str], Future[list[Any]]]] = deque()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            queue = iter(chunks)
            for chunk in queue:
                pending.append((chunk, pool.submit(_worker_chunk, chunk)))
                if len(pending) >= workers * 2:
                    break
            while pending:
                chunk, future = pending.popleft()
                try:
                    results = future.result()
                except BrokenProcessPool:
                    raise EngineError(
                        f"a worker process died while evaluating models {chunk[0]} .. {chunk[-1]}"
                    ) from None
                except AigovError:
                    raise
                except Exception as exc:
                    raise EngineError(
                        f"worker failed on models {chunk[0]} .. {chunk[-1]}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                following = next(queue, None)
                if following is not None:
                    pending.append((following, pool.submit(_worker_chunk, following)))
                if progress:
                    progress(len(chunk))
                yield from results
    finally:
        for _chunk, future in pending:
            future.cancel()
        _WORKER.clear()


def evaluate_registry(
    registry: Registry,
    compiled: CompiledPolicies,
    ids: list[str],
    fail_on: Severity,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[PartitionResult], Any] | None = None,
) -> Iterator[Any]:
    """Partition results for ``ids``, in id order, sequentially or in worker processes.

    ``transform`` is applied to each result where it is computed (in the worker), so that
    only what the caller keeps crosses the process boundary.
    """
    transform = transform or (lambda result: result)
    if workers > 1 and len(ids) > PARTITION_CHUNK:
        url = registry.url.render_as_string(hide_password=False)
        yield from _parallel(url, compiled, fail_on, ids, workers, progress, transform)
        return
    evaluate = PartitionEvaluator(compiled, fail_on)
    for partition in iter_partitions(registry, compiled, ids):
        yield transform(evaluate(partition))
        if progress:
            progress(1)


def audit(
    registry: Registry | str | None,
    policies: PolicySet | Iterable[str | Path] | None = None,
    as_of: dt.date | None = None,
    models: list[str] | None = None,
    *,
    fail_on: Severity | str = Severity.high,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    registry_digest: bool = False,
) -> AuditResult:
    """Evaluate ``policies`` (a PolicySet, paths, or None for the shipped library) against
    the registry (an open Registry or a database URL) as of ``as_of`` (default: today).

    With ``workers`` > 1, partitions are evaluated in that many processes; the result is
    the same, byte for byte. The result is held in memory; for large registries see
    :func:`aigov.results.spool.audit_to_spool`.
    """
    fail_on = Severity(fail_on)
    compiled = compile_policies(resolve_policies(policies), as_of or dt.date.today())
    own = not isinstance(registry, Registry)
    reg = open_registry(registry) if own else registry  # type: ignore[arg-type]
    try:
        digest = compute_registry_digest(reg) if registry_digest else None
        ids = resolve_models(reg, models)
        results = evaluate_registry(reg, compiled, ids, fail_on, workers=workers, progress=progress)
        return build_result(compiled, results, fail_on, digest)
    finally:
        if own:
            reg.close()


def compute_registry_digest(registry: Registry) -> str:
    """A digest of the registry's content: equal exactly when every record is equal."""
    from aigov.registry.operations import registry_digest

    with registry.read() as conn:
        return registry_digest(conn)
