"""Run history: every recorded audit, its digests and findings, and diffs between runs."""

from __future__ import annotations

import datetime as dt
import gzip
import secrets

import sqlalchemy as sa
from pydantic import BaseModel

from .errors import NotFoundError
from .findings import BLOCKING, AuditResult, Change, DiffEntry, Finding, Outcome, RunInfo
from .registry import Registry
from .run_tables import AuditRun, RunFinding


class RunSummary(BaseModel):
    id: str
    started_at: dt.datetime
    as_of: dt.date
    tool_version: str
    policy_digest: str
    registry_digest: str
    fail_on: str
    scope: list[str] | None
    model_count: int
    counts: dict[str, int]


def new_run_id(started_at: dt.datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(2)}"


def record_run(
    registry: Registry, result: AuditResult, started_at: dt.datetime, scope: list[str] | None = None
) -> AuditResult:
    """Store ``result`` as a run; return it with its run metadata filled in."""
    run = RunInfo(id=new_run_id(started_at), started_at=started_at)
    stored = result.model_copy(update={"run": run})
    blob = gzip.compress(stored.model_dump_json().encode(), compresslevel=6, mtime=0)
    rows = [
        {
            "run_id": run.id,
            "finding_id": f.id,
            "policy": f.policy,
            "model": f.model,
            "subject_kind": f.subject_kind,
            "subject": f.subject,
            "outcome": f.outcome.value,
            "severity": f.severity.value,
            "waiver": f.waiver.id if f.waiver else None,
            "waiver_expired": bool(f.waiver and f.waiver.expired),
            "message": f.message,
        }
        for f in result.findings
    ]
    with registry.write() as conn:
        conn.execute(
            sa.insert(AuditRun.__table__).values(  # type: ignore[attr-defined]
                id=run.id,
                started_at=started_at,
                as_of=result.as_of,
                tool_version=result.tool_version,
                policy_digest=result.policy_digest,
                registry_digest=result.registry_digest or "",
                fail_on=result.fail_on.value,
                scope=scope,
                model_count=len(result.models),
                counts={k.value: v for k, v in result.counts.items()},
                result=blob,
            )
        )
        table = RunFinding.__table__  # type: ignore[attr-defined]
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(table), rows[start : start + 5000])
    return stored


def list_runs(registry: Registry) -> list[RunSummary]:
    table = AuditRun.__table__  # type: ignore[attr-defined]
    columns = [c for c in table.c if c.name != "result"]
    with registry.read() as conn:
        rows = conn.execute(sa.select(*columns).order_by(table.c.started_at, table.c.id)).all()
    return [RunSummary.model_validate(dict(r._mapping)) for r in rows]


def resolve_run_id(registry: Registry, ref: str) -> str:
    """A run id, a unique prefix of one, or ``latest`` / ``latest~N``."""
    runs = list_runs(registry)
    if ref == "latest" or ref.startswith("latest~"):
        back = int(ref.partition("~")[2] or 0)
        if back >= len(runs):
            raise NotFoundError(f"no run '{ref}': {len(runs)} runs recorded")
        return runs[-1 - back].id
    matches = [r.id for r in runs if r.id == ref] or [r.id for r in runs if r.id.startswith(ref)]
    if len(matches) != 1:
        reason = "no run" if not matches else "ambiguous run id"
        raise NotFoundError(f"{reason} '{ref}' (see 'aigov runs list')")
    return matches[0]


def load_run(registry: Registry, ref: str) -> AuditResult:
    run_id = resolve_run_id(registry, ref)
    table = AuditRun.__table__  # type: ignore[attr-defined]
    with registry.read() as conn:
        blob = conn.execute(sa.select(table.c.result).where(table.c.id == run_id)).scalar_one()
    return AuditResult.model_validate_json(gzip.decompress(blob))


class RunDiff(BaseModel):
    before: str | None
    after: str | None
    entries: list[DiffEntry]

    def of(self, change: Change) -> list[DiffEntry]:
        return [e for e in self.entries if e.change == change]

    @property
    def changed(self) -> list[DiffEntry]:
        return [e for e in self.entries if e.change != Change.persisting]


def _classify(before: Finding | None, after: Finding | None) -> Change:
    if before is None:
        return Change.new
    if after is None:
        return Change.resolved
    if before.outcome == after.outcome:
        return Change.persisting
    if before.outcome in BLOCKING and after.outcome == Outcome.waived:
        return Change.newly_waived
    if before.outcome == Outcome.waived and after.outcome in BLOCKING:
        return Change.waiver_expired
    return Change.changed


def diff_results(before: AuditResult, after: AuditResult) -> RunDiff:
    """Classify findings by stable id. A model outside one run's scope is not 'resolved'."""
    old = {f.id: f for f in before.findings}
    new = {f.id: f for f in after.findings}
    common_models = {m.id for m in before.models} & {m.id for m in after.models}
    entries: list[DiffEntry] = []
    for fid in sorted(old.keys() | new.keys()):
        a, b = old.get(fid), new.get(fid)
        sample = b or a
        assert sample is not None
        if sample.model not in common_models:
            continue
        change = _classify(a, b)
        entries.append(
            DiffEntry(
                change=change,
                finding_id=fid,
                policy=sample.policy,
                model=sample.model,
                subject_kind=sample.subject_kind,
                subject=sample.subject,
                before=a.outcome if a else None,
                after=b.outcome if b else None,
                severity=sample.severity,
                message=sample.message,
            )
        )
    order = list(Change)
    entries.sort(key=lambda e: (order.index(e.change), e.model, e.policy, e.subject))
    return RunDiff(
        before=before.run.id if before.run else None,
        after=after.run.id if after.run else None,
        entries=entries,
    )
