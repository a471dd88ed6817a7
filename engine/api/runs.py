"""Run history: every recorded audit, its digests and findings, and diffs between runs."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import secrets
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from aigov.errors import NotFoundError
from aigov.registry.run_tables import AuditRun, RunFinding
from aigov.registry.store import Registry, sa_table
from aigov.results.findings import (
    AuditResult,
    RunInfo,
)
from aigov.results.json_stream import write_result
from aigov.results.spool import ResultView, as_view


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


class _WithRun:
    """A view of a result as the run it is being recorded as (the source is not changed)."""

    def __init__(self, view: ResultView, run: RunInfo):
        self._view = view
        self.run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._view, name)


def record_run(
    registry: Registry,
    source: AuditResult | ResultView,
    started_at: dt.datetime,
    scope: list[str] | None = None,
) -> RunInfo:
    """Store a result as a run (its findings as rows, the whole result compressed); the
    result is read as a stream, so a spooled audit of any size records in flat memory."""
    view = _WithRun(as_view(source), RunInfo(id=new_run_id(started_at), started_at=started_at))
    run = view.run
    blob = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=6, mtime=0) as compressed,
        io.TextIOWrapper(compressed, encoding="utf-8") as text,
    ):
        write_result(view, text)
    models = sum(1 for _ in view.model_lines())
    table = sa_table(RunFinding)
    with registry.write() as conn:
        conn.execute(
            sa.insert(sa_table(AuditRun)).values(
                id=run.id,
                started_at=started_at,
                as_of=view.as_of,
                tool_version=view.tool_version,
                policy_digest=view.policy_digest,
                registry_digest=view.registry_digest or "",
                fail_on=view.fail_on.value,
                scope=scope,
                model_count=models,
                counts={k.value: v for k, v in view.counts.items()},
                result=blob.getvalue(),
            )
        )
        batch: list[dict[str, Any]] = []
        for line in view.finding_lines():
            f = json.loads(line)
            waiver = f.get("waiver") or {}
            batch.append(
                {
                    "run_id": run.id,
                    "finding_id": f["id"],
                    "policy": f["policy"],
                    "model": f["model"],
                    "subject_kind": f["subject_kind"],
                    "subject": f["subject"],
                    "outcome": f["outcome"],
                    "severity": f["severity"],
                    "waiver": waiver.get("id"),
                    "waiver_expired": bool(waiver.get("expired")),
                    "message": f["message"],
                }
            )
            if len(batch) == 5000:
                conn.execute(sa.insert(table), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(table), batch)
    return run


def list_runs(registry: Registry) -> list[RunSummary]:
    table = sa_table(AuditRun)
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
    table = sa_table(AuditRun)
    with registry.read() as conn:
        blob = conn.execute(sa.select(table.c.result).where(table.c.id == run_id)).scalar_one()
    return AuditResult.model_validate_json(gzip.decompress(blob))
