"""Run-history and gate-decision tables (imported by :mod:`aigov.registry.store`, so every
registry it creates has them; :mod:`aigov.api.decisions` adds ``gate_decision`` to a registry
made before that table existed)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, LargeBinary, Text
from sqlmodel import Field, SQLModel


class AuditRun(SQLModel, table=True):
    __tablename__ = "audit_run"
    id: str = Field(primary_key=True)
    started_at: dt.datetime = Field(index=True)
    as_of: dt.date
    tool_version: str
    policy_digest: str
    registry_digest: str
    fail_on: str
    scope: list[str] | None = Field(default=None, sa_type=JSON)
    model_count: int
    counts: dict[str, int] = Field(default_factory=dict, sa_type=JSON)
    result: bytes = Field(sa_type=LargeBinary, description="gzip'd AuditResult JSON")


class RunFinding(SQLModel, table=True):
    __tablename__ = "run_finding"
    run_id: str = Field(foreign_key="audit_run.id", primary_key=True)
    finding_id: str = Field(primary_key=True)
    policy: str = Field(index=True)
    model: str = Field(index=True)
    subject_kind: str
    subject: str
    outcome: str
    severity: str
    waiver: str | None = None
    waiver_expired: bool = False
    message: str


class GateDecisionRow(SQLModel, table=True):
    """One entry of the gate decision log (:mod:`aigov.results.decision_log`). ``entry`` is
    the entry's JSON, which is what is verified; the other columns are copies of its fields
    for ordering and lookup (a unique ``prev``: the chain cannot fork)."""

    __tablename__ = "gate_decision"
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    digest: str = Field(unique=True)
    prev: str = Field(unique=True)
    recorded_at: str = Field(description="ISO 8601, UTC, as in the entry")
    decision: str
    model: str = Field(index=True)
    entry: str = Field(sa_type=Text)
