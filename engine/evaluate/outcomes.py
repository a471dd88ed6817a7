"""Outcomes, waivers and evidence, assembled in Python from what the engine's actions
recorded: which subjects a policy applied to, which failed, which needed review, which lacked
a required field."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aigov.compile.rules import KNOWN_UNKNOWN, CompiledPolicies, RuleMeta
from aigov.errors import AigovError, Problem
from aigov.evaluate.facts import Partition
from aigov.evaluate.session import Evaluator
from aigov.policy.ast import Policy, PolicySet
from aigov.policy.parser import TemplateBudgetError, render_message
from aigov.policy.schema import COMPUTED, engine_field
from aigov.registry.records import WEAK_CONFIDENCE
from aigov.results.findings import (
    BLOCKING,
    OUTCOME_ORDER,
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


def _get(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# Before a policy's ``effective_on`` (staged enforcement) its findings keep their outcome but
# carry this severity, the lowest: they block only under ``--fail-on info``, which asks for
# every finding to block. The message says from when the policy is enforced.
STAGED = Severity.info

# Matches listed as a finding's evidence: a model with thousands of ancestors can match one
# policy thousands of times, which no reader follows and which would make the report (and the
# memory holding it) grow with the ancestry. Past this many, the matches with the shortest
# lineage paths are listed and the rest counted (``Finding.evidence_omitted``); ``aigov
# explain`` lists every one.
MAX_EVIDENCE = 20


def _is_record(name: str, fact: Any) -> bool:
    """Whether a match entry is a record the policy bound (not an engine-internal fact)."""
    return isinstance(fact, dict) and "key" in fact and not name.startswith(("g_", "$"))


def _match_order(match: dict[str, Any]) -> str:
    """A deterministic order of matches (the engine's order of events is not one)."""
    return json.dumps(
        {alias: fact.get("id") for alias, fact in match.items() if isinstance(fact, dict)},
        sort_keys=True,
    )


def _match_key(meta: RuleMeta, match: dict[str, Any]) -> tuple[Any, ...]:
    """What tells two matches apart in a finding's evidence (its records and paths), cheaply,
    before the evidence is built: the facts bound to the policy's aliases, and their paths."""
    key: list[Any] = [meta.name]
    for alias in meta.aliases:
        fact = match.get(alias)
        if isinstance(fact, dict):
            reach = match.get(meta.reach[alias]) if alias in meta.reach else None
            path = (reach if isinstance(reach, dict) else fact).get("path", ())
            key.append((alias, fact["t"], fact.get("key", ""), tuple(path)))
    return tuple(key)


def _path_length(key: tuple[Any, ...]) -> int:
    return sum(len(path) for _alias, _t, _key, path in key[1:])


class _Assembler:
    """Turns recorded matches into outcomes and findings for one partition."""

    def __init__(self, compiled: CompiledPolicies, max_evidence: int | None = MAX_EVIDENCE):
        self.compiled = compiled
        self.max_evidence = max_evidence
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
            if data.get("licence_history") and any(name in _LICENCE_FIELDS for name in used):
                # the licence in force at as_of came from this history: show all of it
                fields["licence_history"] = data["licence_history"]
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
        matches: list[dict[str, Any]] | None = None,
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
                if _is_record(name, fact):
                    context[name] = self.record_data(partition, fact)
        matched: dict[str, dict[str, dict[str, Any]]] = {}
        for each in matches or ([match] if match else []):
            for name, fact in each.items():
                if _is_record(name, fact):
                    matched.setdefault(name, {}).setdefault(
                        fact["key"], self.record_data(partition, fact)
                    )
        context["matched"] = {name: list(found.values()) for name, found in matched.items()}
        try:
            text = render_message(policy.template, context)
        except TemplateBudgetError as exc:  # a message too big to build fails the evaluation
            problem = Problem(
                policy.file,
                policy.line,
                f"the message template exceeds its budget: {exc}",
                record=f"policy '{policy.id}'",
                field="message",
            )
            raise AigovError(f"cannot render a message: {problem}") from None
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

    def staged(self, policy: Policy) -> str:
        """The note a staged policy's findings start with (before its ``effective_on``), or
        "" when the policy is enforced."""
        start = policy.doc.effective_on
        if start is None or self.as_of >= start:
            return ""
        return f"[staged: enforced from {start.isoformat()}] "

    def assemble(
        self, partition: Partition, events: list[tuple[RuleMeta, dict[str, Any]]]
    ) -> tuple[list[Finding], dict[str, Outcome], dict[tuple[str, str], Outcome]]:
        """Findings, the worst outcome per policy, and every (policy, subject) outcome."""
        applicable: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        # the gaps of each (policy, subject), with the match that found each one
        missing: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        matches: dict[tuple[str, str], dict[str, list[tuple[RuleMeta, dict[str, Any]]]]] = (
            defaultdict(lambda: defaultdict(list))
        )
        for meta, match in events:
            event_policy = meta.policy or ""
            subject = match[meta.subject or ""]["key"]
            if meta.role == "applicable":
                applicable[event_policy].setdefault(subject, match)
            elif meta.role == "missing":
                missing[event_policy][subject].append((meta.missing or "", match))
            else:
                matches[(event_policy, subject)][meta.role].append((meta, match))
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
        missing: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]],
        matches: dict[tuple[str, str], dict[str, list[tuple[RuleMeta, dict[str, Any]]]]],
    ) -> tuple[Outcome, Finding | None]:
        if subject not in applicable.get(policy.id, {}):
            return Outcome.not_applicable, None
        gap_matches = missing.get(policy.id, {}).get(subject) or []
        gaps = [gap for gap, _ in gap_matches]
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
        staged = self.staged(policy)
        if staged:
            common["severity"] = STAGED
        unknowns = sorted({gap for gap in gaps if gap.endswith(KNOWN_UNKNOWN)})
        gaps = [gap for gap in gaps if not gap.endswith(KNOWN_UNKNOWN)]
        if unknowns:
            # a field the policy reads is known to be unknown: a person must judge (review,
            # which blocks like a fail; never a pass, and never a non-blocking indeterminate).
            # The message speaks of the records the policy matched whatever the field's value.
            waiver = self.waiver_for(partition, policy.id, subject)
            base = min(
                (match for gap, match in gap_matches if gap == unknowns[0]),
                key=_match_order,
            )
            message = staged + self.message(policy, partition, subject, base, None)
            outcome = (
                Outcome.waived if waiver is not None and not waiver.expired else Outcome.review
            )
            return outcome, Finding(
                id=fid,
                outcome=outcome,
                message=message,
                missing=sorted({*unknowns, *gaps}),
                waiver=waiver,
                **common,
            )
        if gaps:
            gaps = sorted(set(gaps))
            base = applicable[policy.id][subject]
            message = staged + self.message(policy, partition, subject, base, None)
            return Outcome.indeterminate, Finding(
                id=fid, outcome=Outcome.indeterminate, message=message, missing=gaps, **common
            )
        found = found or {}
        role = "fail" if found.get("fail") else "review" if found.get("review") else None
        if role is None and found.get("undecided"):
            # the violation holds for some of the days a month- or year-precise date may be,
            # not for all of them: neither a fail nor a pass can rest on it, so a person
            # judges (a review, blocking like a fail: recording a date less precisely must
            # never turn a DENY into an ALLOW)
            base = min((match for _, match in found["undecided"]), key=_match_order)
            message = staged + self.message(policy, partition, subject, base, None)
            undecided = sorted({meta.missing or "" for meta, _ in found["undecided"]})
            waiver = self.waiver_for(partition, policy.id, subject)
            outcome = (
                Outcome.waived if waiver is not None and not waiver.expired else Outcome.review
            )
            return outcome, Finding(
                id=fid,
                outcome=outcome,
                message=message,
                missing=undecided,
                waiver=waiver,
                **common,
            )
        if role is None:
            return Outcome.passed, None
        distinct: dict[tuple[Any, ...], tuple[RuleMeta, dict[str, Any]]] = {}
        for meta, match in found[role]:
            distinct.setdefault(_match_key(meta, match), (meta, match))  # P11: dedupe
        listed = sorted(distinct)
        if self.max_evidence is not None and len(listed) > self.max_evidence:
            listed = sorted(listed, key=lambda k: (_path_length(k), k))[: self.max_evidence]
        omitted = len(distinct) - len(listed)
        evidence: dict[str, tuple[Match, dict[str, Any], list[str]]] = {}
        for key in listed:
            meta, match = distinct[key]
            item = self.evidence(partition, meta, match)
            signature = item.model_dump_json()
            evidence.setdefault(signature, (item, match, meta.absent))  # P11: dedupe
        ordered = [evidence[k] for k in sorted(evidence)]
        first_match, first_raw, _ = ordered[0]
        absent = sorted({text for _, _, items in ordered for text in items})
        outcome = Outcome.fail if role == "fail" else Outcome.review
        weak: list[str] = []
        if role == "fail" and policy.doc.on_weak_facts == "review":
            weak = self.weak_facts(partition, list(distinct.values()))
            if weak:  # every way the violation held rests on an alleged or unverified fact
                outcome = Outcome.review
        waiver = self.waiver_for(partition, policy.id, subject)
        if waiver is not None and not waiver.expired:
            outcome = Outcome.waived
        raw_matches = [raw for _, raw, _ in ordered]
        message = staged + self.message(
            policy, partition, subject, first_raw, first_match, raw_matches
        )
        return outcome, Finding(
            id=fid,
            outcome=outcome,
            message=message,
            evidence=[item for item, _, _ in ordered],
            evidence_omitted=omitted,
            absent=absent,
            weak_facts=weak,
            waiver=waiver,
            **common,
        )

    def weak_facts(
        self, partition: Partition, matches: list[tuple[RuleMeta, dict[str, Any]]]
    ) -> list[str]:
        """The alleged or unverified facts that every match rests on (a field the policy
        tested, a record or a lineage edge it matched), or [] when one match rests on none:
        such a ``fail`` is reported as ``review`` (aigov.registry.records.WEAK_CONFIDENCE)."""
        found: set[str] = set()
        for meta, match in matches:
            facts = self.weak_in(partition, meta, match)
            if not facts:
                return []
            found.update(facts)
        return sorted(found)

    def weak_in(self, partition: Partition, meta: RuleMeta, match: dict[str, Any]) -> set[str]:
        weak: set[str] = set()
        for alias in meta.aliases:
            fact = match.get(alias)
            if not isinstance(fact, dict):
                continue
            edges: list[str] = []
            record = partition.record(fact.get("key", ""))
            if record is None:  # a derived fact: its own confidence, and its path
                if fact.get("confidence") in WEAK_CONFIDENCE:
                    weak.add(f"{fact['t']} {fact['key']} ({fact['confidence']})")
                edges = list(fact.get("path", []))
            else:
                kind, data = record
                for name in meta.used_fields.get(alias, []):
                    confidence = _confidence_of(kind, data, name)
                    if confidence in WEAK_CONFIDENCE:
                        weak.add(f"{kind} {fact['key']}: {name} ({confidence})")
                reach = meta.reach.get(alias)
                if reach and isinstance(match.get(reach), dict):
                    edges = list(match[reach].get("path", []))
            for key in edges:
                confidence = partition.records.get(key, ("", {}))[1].get("confidence")
                if confidence in WEAK_CONFIDENCE:
                    weak.add(f"lineage {key} ({confidence})")
        return weak


# Computed fields and the recorded field whose confidence they carry.
_COMPUTED_FROM = {"licence_class": "licence", "licence_rank": "licence", "licence_terms": "licence"}
# The fields a licence history decides (at as_of).
_LICENCE_FIELDS = frozenset({"licence", "licences", *_COMPUTED_FROM})


def _confidence_of(kind: str, data: dict[str, Any], name: str) -> str | None:
    """The confidence of one tested field of a record: its own (``provenance``), else the
    record's. Tests of a confidence, or of what is unknown, rest on no fact's truth."""
    if name.startswith(("confidence", "unknown")):
        return None
    field = _COMPUTED_FROM.get(name, name.split(".")[0])
    if kind == "dataset" and field == "licence":
        field = "licences"
    own = (data.get("provenance") or {}).get(field) or {}
    return own.get("confidence") or data.get("confidence")


def model_status(findings: list[Finding], fail_on: Severity) -> str:
    if any(blocks(f, fail_on) for f in findings):
        return "blocked"
    if any(f.outcome in (*BLOCKING, Outcome.indeterminate) for f in findings):
        return "attention"
    return "clean"


def policy_info(p: Policy) -> PolicyInfo:
    """A policy as results and reports describe it."""
    return PolicyInfo(
        id=p.id,
        title=p.doc.title,
        description=p.doc.description,
        family=p.doc.family,
        severity=p.severity,
        references=[r.model_dump(exclude_none=True) for r in p.doc.references],
        remediation=p.doc.remediation,
        tags=p.doc.tags,
        controls=p.doc.controls,
        builtin=p.builtin,
        source=f"{p.file}:{p.line}",
    )


def policy_catalogue(policy_set: PolicySet) -> list[PolicyInfo]:
    return [policy_info(p) for p in sorted(policy_set.enabled, key=lambda p: p.id)]


@dataclass
class PartitionResult:
    model: ModelResult
    findings: list[Finding]
    outcomes: dict[tuple[str, str], Outcome]  # (policy, subject) -> outcome
    waivers: list[WaiverInfo]
    investigations: list[InvestigationInfo]


class PartitionEvaluator:
    """Evaluator plus assembler: partition in, findings out (used by audit and gate)."""

    def __init__(
        self, compiled: CompiledPolicies, fail_on: Severity, max_evidence: int | None = MAX_EVIDENCE
    ):
        self.evaluator = Evaluator(compiled)
        self.assembler = _Assembler(compiled, max_evidence)
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
