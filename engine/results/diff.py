"""What changed between two audit results, matched by stable finding id."""

from __future__ import annotations

from pydantic import BaseModel

from aigov.results.findings import BLOCKING, AuditResult, Change, DiffEntry, Finding, Outcome
from aigov.results.severity import Severity
from aigov.results.spool import ResultView, as_view


class RunDiff(BaseModel):
    before: str | None
    after: str | None
    entries: list[DiffEntry]

    def of(self, change: Change) -> list[DiffEntry]:
        return [e for e in self.entries if e.change == change]

    @property
    def changed(self) -> list[DiffEntry]:
        return [e for e in self.entries if e.change != Change.persisting]

    def regressions(self, fail_on: Severity) -> list[DiffEntry]:
        """Findings that are new or got worse and now block at ``fail_on``: what fails an
        ``audit --since`` run."""
        return [
            e
            for e in self.entries
            if e.change in (Change.new, Change.waiver_expired, Change.changed)
            and e.after in BLOCKING
            and e.severity.rank >= fail_on.rank
        ]


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


def diff_results(before: AuditResult, after: AuditResult | ResultView) -> RunDiff:
    """Classify findings by stable id. A model the later run did not audit is left out (its
    findings are not 'resolved'); a model only the later run audited (new in the registry,
    or outside the earlier run's --model scope) brings its findings as 'new': nothing shows
    they were there before, so they fail an ``audit --since`` run like any new finding."""
    view = as_view(after)
    old = {f.id: f for f in before.findings}
    new = {f.id: f for f in view.iter_findings()}
    audited_after = {m.id for m in view.iter_models()}
    entries: list[DiffEntry] = []
    for fid in sorted(old.keys() | new.keys()):
        a, b = old.get(fid), new.get(fid)
        sample = b or a
        assert sample is not None
        if sample.model not in audited_after:
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
        after=view.run.id if view.run else None,
        entries=entries,
    )
