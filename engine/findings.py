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

from .policy import Family, Severity

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


class ModelResult(Strict):
    id: str
    name: str
    provider: str | None = None
    status: str = Field(description="blocked, attention or clean")
    outcomes: dict[str, Outcome] = Field(
        default={}, description="policy id -> worst outcome (policies that apply only)"
    )


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

    def blocking(self, fail_on: Severity | None = None) -> list[Finding]:
        threshold = (fail_on or self.fail_on).rank
        return [f for f in self.findings if f.outcome in BLOCKING and f.severity.rank >= threshold]

    def indeterminate(self, fail_on: Severity | None = None) -> list[Finding]:
        threshold = (fail_on or self.fail_on).rank
        return [
            f
            for f in self.findings
            if f.outcome == Outcome.indeterminate and f.severity.rank >= threshold
        ]


def finding_id(policy: str, subject_kind: str, subject: str, locator: str = "") -> str:
    """Stable id from what the finding is about, never from its message text."""
    raw = "\x1f".join((policy, subject_kind, subject, locator))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]
