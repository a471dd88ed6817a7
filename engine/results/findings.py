"""Output records: findings with evidence, and the audit result (the JSON report's schema).

Everything here is a pydantic model, so the JSON report has a published schema
(``aigov report schema``) and a ``schema_version``. Lists are sorted and maps keyed
deterministically, so the same inputs give byte-identical JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aigov.results.severity import Family, Severity

RESULT_SCHEMA_VERSION = 1


class Outcome(StrEnum):
    """The outcome of one policy for one subject.

    ``fail``: the violation holds. ``review``: it holds, and a person must judge it (legal
    has not cleared it). ``indeterminate``: a fact the policy requires is missing, never a
    pass. ``waived``: a ``fail`` or ``review`` an unexpired waiver covers. ``pass``: the policy
    applies and holds. ``not_applicable``: the subject is outside the policy's
    ``subject.where``. ``fail`` and ``review`` block at or above the threshold.
    """

    fail = "fail"
    review = "review"
    indeterminate = "indeterminate"
    waived = "waived"
    passed = "pass"
    not_applicable = "not_applicable"


# Worst first: when one policy has several subjects in a model, the model shows the worst.
OUTCOME_ORDER = [
    Outcome.fail,
    Outcome.review,
    Outcome.indeterminate,
    Outcome.waived,
    Outcome.passed,
    Outcome.not_applicable,
]
BLOCKING = (Outcome.fail, Outcome.review)


class Strict(BaseModel):
    """The base of the result models: unknown fields are errors when one is read back."""

    model_config = ConfigDict(extra="forbid")


class EvidenceRecord(Strict):
    """A record that matched, with the fields the policy tested and their values."""

    role: str = Field(description="the policy's name for it (its alias)")
    kind: str
    """The record's kind: a registry kind (``model``, ``deployment``, ...) or a fact kind
    (``clause``, ``approval_evidence``, a derivation's id)."""
    id: str
    """The record's id."""
    fields: dict[str, Any] = {}
    """The fields the policy tested, with their values."""


class PathStep(Strict):
    """One lineage edge: ``child`` was made from ``parent`` by ``relation``."""

    edge: str
    """The id of the lineage record (``child~relation~parent`` unless it has its own)."""
    child: str
    """The id of the record made."""
    child_kind: str
    """``model`` or ``dataset``."""
    relation: str
    """How it was made: ``finetune``, ``distillation``, ``trained_on_outputs``, ..."""
    parent: str
    """The id of the record it was made from."""
    parent_kind: str
    """``model`` or ``dataset``."""
    confidence: str | None = None
    """The edge's confidence (``declared``, ``verified``, ``alleged``, ``inferred``)."""


class Match(Strict):
    """One way the policy's condition held."""

    records: list[EvidenceRecord]
    """The records that matched, in the order the condition bound them."""
    path: list[PathStep] = []
    """The lineage path, from the model up, for a condition that followed lineage."""
    paths: dict[str, list[PathStep]] = Field(
        default={}, description="lineage path per ancestor alias, when there are several"
    )


class WaiverRef(Strict):
    """The waiver that names a finding's policy and subject (or the subject's model)."""

    id: str
    """The waiver's id."""
    reason: str
    """Why the exception was accepted."""
    approved_by: str
    """Who accepted it."""
    expires_at: dt.date
    """The last day it is valid."""
    expired: bool
    """Expired as of the evaluation date: the finding then counts, and the built-in policy
    AIGOV-WAIVER-EXPIRED reports the waiver."""


class Finding(Strict):
    """The outcome of one policy for one subject, when it is not a plain pass."""

    id: str = Field(description="stable: hash of policy id, subject and locator")
    policy: str
    """The policy's id."""
    title: str
    """The policy's title."""
    severity: Severity
    """The policy's severity."""
    family: Family
    """The policy's family."""
    outcome: Outcome
    """``fail``, ``review``, ``indeterminate`` or ``waived`` (passes are no findings)."""
    model: str = Field(description="the model whose partition this was evaluated in")
    subject_kind: str
    """The kind of the subject: ``model``, ``deployment``, ``approval`` or ``waiver``."""
    subject: str
    """The id of the record the finding is about."""
    message: str
    """The policy's message, rendered for this subject."""
    evidence: list[Match] = []
    """Each way the policy's condition held, with the records and the lineage path (at most
    20: past that, those with the shortest lineage paths; ``aigov explain`` lists all)."""
    evidence_omitted: int = 0
    """How many further ways the condition held that ``evidence`` does not list."""
    absent: list[str] = Field(default=[], description="absence conditions that held")
    missing: list[str] = Field(default=[], description="required fields that are missing")
    weak_facts: list[str] = Field(
        default=[],
        description="the alleged or unverified facts a violation rests on, which make it a "
        "review rather than a fail",
    )
    waiver: WaiverRef | None = None
    """The waiver that covers the finding (``waived``) or did until it expired."""
    hypothetical: bool = Field(default=False, description="subject is a proposed deployment")


class DeploymentInfo(Strict):
    """A deployment of an audited model, as the reports show it."""

    id: str
    """The deployment's id."""
    platform: str
    """Where it runs, e.g. ``azure-ai-foundry``."""
    region: str
    """The platform's region, e.g. ``eastus``."""
    environment: str
    """``dev``, ``staging`` or ``prod``."""
    exposure: str
    """``internal``, ``customer_facing`` or ``public_catalog``."""
    status: str
    """``planned``, ``active``, ``suspended`` or ``retired``."""
    approval: str | None = None
    """The id of the approval it names, if any."""
    hypothetical: bool = False
    """A deployment the gate proposed, not a registry record."""


class ModelResult(Strict):
    """One audited model: its status, its worst outcome per policy, its deployments and its
    lineage."""

    id: str
    """The model's id."""
    name: str
    """The model's name."""
    provider: str | None = None
    """The id of its provider."""
    licence: str | None = None
    """Its declared licence (an SPDX id or a terms id)."""
    owner: str | None = None
    """Who is responsible for it internally."""
    status: str = Field(description="blocked, attention or clean")
    outcomes: dict[str, Outcome] = Field(
        default={}, description="policy id -> worst outcome (policies that apply only)"
    )
    deployments: list[DeploymentInfo] = []
    """Its deployments in the registry."""
    lineage: list[PathStep] = Field(default=[], description="every edge of its ancestry")


class WaiverInfo(Strict):
    """A waiver in the waiver register, with its state as of the audit date."""

    id: str
    """The waiver's id."""
    policy: str
    """The id of the policy it waives."""
    subject: str
    """The id of the record it waives the policy for."""
    model: str
    """The model in whose partition it was found."""
    reason: str
    """Why the exception was accepted."""
    approved_by: str
    """Who accepted it."""
    granted_at: dt.date
    """When it was granted."""
    expires_at: dt.date
    """The last day it is valid."""
    expired: bool
    """Expired as of the audit date."""


class InvestigationInfo(Strict):
    """An investigation that concerns an audited model, its provider or an ancestor."""

    id: str
    """The investigation's id."""
    subject: str
    """The id of the provider, model or dataset investigated."""
    authority: str
    """Who investigates."""
    authority_type: str
    """``regulator``, ``court``, ``vendor_internal``, ``platform_partner`` or
    ``media_report``."""
    allegation: str
    """What is alleged."""
    status: str
    """``reported``, ``open`` or one of the ``closed_*`` statuses."""
    opened_at: dt.date
    """When it was opened."""
    confidence: str
    """How sure the record is (``declared``, ``verified``, ``alleged``, ``inferred``)."""
    models: list[str] = Field(description="audited models it touches")
    hosted_models: list[str] = Field(description="of those, models with an active deployment")


class Change(StrEnum):
    """How a finding changed between two runs (``aigov runs diff``, ``audit --since``)."""

    new = "new"
    resolved = "resolved"
    persisting = "persisting"
    newly_waived = "newly_waived"
    waiver_expired = "waiver_expired"
    changed = "changed"


class DiffEntry(Strict):
    """One finding compared between two runs, matched by its stable id."""

    change: Change
    """How it changed."""
    finding_id: str
    """The finding's stable id."""
    policy: str
    """The policy's id."""
    model: str
    """The model in whose partition it was found."""
    subject_kind: str
    """The kind of its subject."""
    subject: str
    """The id of its subject."""
    before: Outcome | None
    """Its outcome in the earlier run (None: it was not a finding then)."""
    after: Outcome | None
    """Its outcome in the later run (None: resolved)."""
    severity: Severity
    """The policy's severity."""
    message: str
    """Its message (from the later run, else the earlier)."""


class BaselineState(StrEnum):
    """What a baseline entry does for the finding with its id (``audit --baseline``)."""

    baselined = "baselined"  # accepted as it was: does not set the exit code
    worse = "worse"  # its outcome or severity got worse than recorded: counts
    expired = "expired"  # the entry expired as of the audit date: counts


class BaselineMatch(Strict):
    """A finding of the audit that has a baseline entry, and what the entry does for it."""

    finding_id: str
    """The finding's stable id (what the entry names)."""
    state: BaselineState
    """Whether the entry keeps the finding out of the exit code."""
    outcome: Outcome = Field(description="the outcome the baseline recorded")
    severity: Severity = Field(description="the severity the baseline recorded")
    expires_at: dt.date | None = None
    """The last day the entry is valid (None: it does not expire)."""


class BaselineSummary(Strict):
    """How a baseline applied to an audit: every finding that has a baseline entry; a
    finding without one is new and counts."""

    source: str = Field(description="the run or file the baseline came from")
    entries: int
    """The number of entries in the baseline."""
    matches: list[BaselineMatch]
    """The audit's findings that have an entry, by finding id."""

    def hidden(self) -> set[str]:
        """The ids of the findings the baseline keeps out of the exit code."""
        return {m.finding_id for m in self.matches if m.state == BaselineState.baselined}


class PolicyInfo(Strict):
    """A policy of the evaluated set, as the policy catalogue of the reports shows it."""

    id: str
    """The policy's id."""
    title: str
    """Its title."""
    description: str
    """What it checks and why this severity."""
    family: Family
    """Its family."""
    severity: Severity
    """Its severity."""
    references: list[dict[str, Any]] = []
    """The clauses or articles behind it: each with ``title``, ``url`` and maybe
    ``section``."""
    remediation: str
    """What to do about a finding."""
    tags: list[str] = []
    """Its tags."""
    controls: dict[str, list[str]] = {}
    """The framework controls it implements: framework id -> control ids (``aigov
    coverage``)."""
    builtin: bool = False
    """One of the built-in policies every set includes."""
    source: str
    """The file it was loaded from (a shipped policy by its path in the library)."""


class RunInfo(Strict):
    """The recorded run an audit result belongs to."""

    id: str
    """The run's id (``aigov runs list``)."""
    started_at: dt.datetime
    """When the run started (UTC)."""


class AuditResult(Strict):
    """The result of evaluating a policy set against (part of) a registry."""

    schema_version: int = RESULT_SCHEMA_VERSION
    """The version of this format (``aigov report schema`` prints its JSON Schema)."""
    tool_version: str
    """The aigov version that produced it."""
    as_of: dt.date
    """The evaluation date."""
    fail_on: Severity
    """The threshold: ``fail`` and ``review`` findings at or above it block."""
    policy_digest: str
    """A digest of the policy set (its files, as read)."""
    registry_digest: str | None = None
    """A digest of the registry's content, when computed (recorded runs have one)."""
    run: RunInfo | None = None
    """The recorded run, when the audit was recorded."""
    counts: dict[Outcome, int]
    """The number of (policy, subject) outcomes of each kind, passes included."""
    policies: list[PolicyInfo]
    """The policies evaluated."""
    models: list[ModelResult]
    """The models audited, by id."""
    findings: list[Finding]
    """Every outcome that is not a pass or not applicable."""
    waivers: list[WaiverInfo] = []
    """The waiver register: every waiver of the audited models."""
    investigations: list[InvestigationInfo] = []
    """The investigations that concern the audited models, their providers or ancestors."""
    changes: list[DiffEntry] | None = Field(
        default=None, description="difference from an earlier run (audit --since)"
    )
    since: str | None = Field(default=None, description="the run 'changes' compares with")
    baseline: BaselineSummary | None = Field(
        default=None,
        description="audit --baseline: the findings it covers (absent without a baseline)",
    )

    def blocking(self, fail_on: Severity | None = None) -> list[Finding]:
        """The ``fail`` and ``review`` findings at or above ``fail_on`` (default: the
        result's own ``fail_on``): what makes ``aigov audit`` exit 1."""
        threshold = fail_on or self.fail_on
        return [f for f in self.findings if blocks(f, threshold)]

    def indeterminate(self, fail_on: Severity | None = None) -> list[Finding]:
        """The ``indeterminate`` findings at or above ``fail_on`` (default: the result's own
        ``fail_on``): what makes ``aigov audit --fail-on-indeterminate`` exit 3."""
        threshold = fail_on or self.fail_on
        return [f for f in self.findings if undecided(f, threshold)]


def blocks(finding: Finding, fail_on: Severity) -> bool:
    """A fail or review at or above ``fail_on``: what makes an audit exit 1 and a gate say
    DENY. The one place that test is written."""
    return finding.outcome in BLOCKING and finding.severity.rank >= fail_on.rank


def undecided(finding: Finding, fail_on: Severity) -> bool:
    """An indeterminate finding at or above ``fail_on`` (exit 3 with --fail-on-indeterminate)."""
    return finding.outcome == Outcome.indeterminate and finding.severity.rank >= fail_on.rank


def finding_id(policy: str, subject_kind: str, subject: str, locator: str = "") -> str:
    """Stable id from what the finding is about, never from its message text."""
    raw = "\x1f".join((policy, subject_kind, subject, locator))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]
