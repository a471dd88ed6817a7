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
    model_config = ConfigDict(extra="forbid")


class EvidenceRecord(Strict):
    """A record that matched, with the fields the policy tested and their values."""

    role: str = Field(description="the policy's name for it (its alias)")
    kind: str
    id: str
    fields: dict[str, Any] = {}


class PathStep(Strict):
    """One lineage edge: ``child`` was made from ``parent`` by ``relation``."""

    edge: str
    child: str
    child_kind: str
    relation: str
    parent: str
    parent_kind: str
    confidence: str | None = None


class Match(Strict):
    """One way the policy's condition held."""

    records: list[EvidenceRecord]
    path: list[PathStep] = []
    paths: dict[str, list[PathStep]] = Field(
        default={}, description="lineage path per ancestor alias, when there are several"
    )


class WaiverRef(Strict):
    id: str
    reason: str
    approved_by: str
    expires_at: dt.date
    expired: bool


class Finding(Strict):
    """The outcome of one policy for one subject, when it is not a plain pass."""

    id: str = Field(description="stable: hash of policy id, subject and locator")
    policy: str
    title: str
    severity: Severity
    family: Family
    outcome: Outcome
    model: str = Field(description="the model whose partition this was evaluated in")
    subject_kind: str
    subject: str
    message: str
    evidence: list[Match] = []
    absent: list[str] = Field(default=[], description="absence conditions that held")
    missing: list[str] = Field(default=[], description="required fields that are missing")
    waiver: WaiverRef | None = None
    hypothetical: bool = Field(default=False, description="subject is a proposed deployment")


class DeploymentInfo(Strict):
    id: str
    platform: str
    region: str
    environment: str
    exposure: str
    status: str
    approval: str | None = None
    hypothetical: bool = False


class ModelResult(Strict):
    id: str
    name: str
    provider: str | None = None
    licence: str | None = None
    owner: str | None = None
    status: str = Field(description="blocked, attention or clean")
    outcomes: dict[str, Outcome] = Field(
        default={}, description="policy id -> worst outcome (policies that apply only)"
    )
    deployments: list[DeploymentInfo] = []
    lineage: list[PathStep] = Field(default=[], description="every edge of its ancestry")


class WaiverInfo(Strict):
    """A waiver in the waiver register, with its state as of the audit date."""

    id: str
    policy: str
    subject: str
    model: str
    reason: str
    approved_by: str
    granted_at: dt.date
    expires_at: dt.date
    expired: bool


class InvestigationInfo(Strict):
    """An investigation that concerns an audited model, its provider or an ancestor."""

    id: str
    subject: str
    authority: str
    authority_type: str
    allegation: str
    status: str
    opened_at: dt.date
    confidence: str
    models: list[str] = Field(description="audited models it touches")
    hosted_models: list[str] = Field(description="of those, models with an active deployment")


class Change(StrEnum):
    new = "new"
    resolved = "resolved"
    persisting = "persisting"
    newly_waived = "newly_waived"
    waiver_expired = "waiver_expired"
    changed = "changed"


class DiffEntry(Strict):
    change: Change
    finding_id: str
    policy: str
    model: str
    subject_kind: str
    subject: str
    before: Outcome | None
    after: Outcome | None
    severity: Severity
    message: str


class PolicyInfo(Strict):
    id: str
    title: str
    description: str
    family: Family
    severity: Severity
    references: list[dict[str, Any]] = []
    remediation: str
    tags: list[str] = []
    builtin: bool = False
    source: str


class RunInfo(Strict):
    id: str
    started_at: dt.datetime


class AuditResult(Strict):
    """The result of evaluating a policy set against (part of) a registry."""

    schema_version: int = RESULT_SCHEMA_VERSION
    tool_version: str
    as_of: dt.date
    fail_on: Severity
    policy_digest: str
    registry_digest: str | None = None
    run: RunInfo | None = None
    counts: dict[Outcome, int]
    policies: list[PolicyInfo]
    models: list[ModelResult]
    findings: list[Finding]
    waivers: list[WaiverInfo] = []
    investigations: list[InvestigationInfo] = []
    changes: list[DiffEntry] | None = Field(
        default=None, description="difference from an earlier run (audit --since)"
    )
    since: str | None = Field(default=None, description="the run 'changes' compares with")

    def blocking(self, fail_on: Severity | None = None) -> list[Finding]:
        threshold = fail_on or self.fail_on
        return [f for f in self.findings if blocks(f, threshold)]

    def indeterminate(self, fail_on: Severity | None = None) -> list[Finding]:
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
