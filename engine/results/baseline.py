"""Baselines: adopt aigov on a registry that already has findings.

A baseline is a list of findings accepted as they were, each by its stable finding id with the
outcome and severity it had (and, optionally, a date it expires). ``aigov audit --baseline``
reports every finding and sets its exit code only from the findings the baseline does not
cover. An entry covers the finding with its id unless

* the finding got worse: an outcome worse than the one recorded (in :data:`OUTCOME_ORDER`,
  e.g. review -> fail, waived -> fail when its waiver expired), or a higher severity; or
* the entry expired as of the audit date, by the waivers' rule
  (:func:`aigov.results.waivers.waiver_expired`: valid up to and including ``expires_at``).

Unlike ``audit --since`` (:meth:`aigov.results.diff.RunDiff.regressions`), which compares
outcomes only and leaves out models that one of the two runs did not audit, a baseline
counts every finding it has no entry for, and a raised severity counts as worse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final, Literal

from pydantic import Field

from aigov.results.findings import (
    BLOCKING,
    OUTCOME_ORDER,
    BaselineMatch,
    BaselineState,
    BaselineSummary,
    Finding,
    Outcome,
    Strict,
)
from aigov.results.severity import Severity
from aigov.results.spool import ResultView
from aigov.results.waivers import waiver_expired

BASELINE_FORMAT: Final = 1
# The outcomes a baseline records: those that can set an audit's exit code.
RECORDED = (*BLOCKING, Outcome.indeterminate)


class BaselineEntry(Strict):
    """One accepted finding. Only ``id``, ``outcome``, ``severity`` and ``expires_at`` decide;
    the other fields say what it is about, for the reader of the file."""

    id: str = Field(pattern=r"^[0-9a-f]{20}$", description="the stable finding id")
    outcome: Outcome
    severity: Severity
    expires_at: dt.date | None = Field(
        default=None, description="last day the entry applies (as of the audit date)"
    )
    policy: str | None = None
    model: str | None = None
    subject_kind: str | None = None
    subject: str | None = None
    message: str | None = None
    reason: str | None = None


class Baseline(Strict):
    """A baseline file (``aigov runs baseline RUN -o FILE``), or a recorded run read as one."""

    schema_version: Literal[1] = BASELINE_FORMAT
    run: str | None = Field(default=None, description="the run it was made from")
    as_of: dt.date | None = Field(default=None, description="that run's evaluation date")
    policy_digest: str | None = None
    registry_digest: str | None = None
    entries: list[BaselineEntry]

    def repeated(self) -> list[int]:
        """The positions of entries whose finding id an earlier entry already has (a file
        that lists a finding twice is ambiguous, so it is refused)."""
        seen: set[str] = set()
        found = []
        for index, entry in enumerate(self.entries):
            if entry.id in seen:
                found.append(index)
            seen.add(entry.id)
        return found


def baseline_of(
    view: ResultView,
    *,
    expires_at: dt.date | None = None,
    reason: str | None = None,
) -> Baseline:
    """The baseline that accepts every finding of ``view`` that can set an exit code (fail,
    review and indeterminate, at every severity), as it is."""
    entries = [
        BaselineEntry(
            id=f.id,
            outcome=f.outcome,
            severity=f.severity,
            expires_at=expires_at,
            policy=f.policy,
            model=f.model,
            subject_kind=f.subject_kind,
            subject=f.subject,
            message=f.message,
            reason=reason,
        )
        for f in view.iter_findings()
        if f.outcome in RECORDED
    ]
    entries.sort(key=lambda e: e.id)
    return Baseline(
        run=view.run.id if view.run else None,
        as_of=view.as_of,
        policy_digest=view.policy_digest,
        registry_digest=view.registry_digest,
        entries=entries,
    )


def worse(finding: Finding, entry: BaselineEntry) -> bool:
    """Whether ``finding`` is worse than the baseline recorded it: a worse outcome or a
    higher severity."""
    return (
        OUTCOME_ORDER.index(finding.outcome) < OUTCOME_ORDER.index(entry.outcome)
        or finding.severity.rank > entry.severity.rank
    )


def apply_baseline(
    baseline: Baseline, findings: Iterable[Finding], as_of: dt.date, source: str
) -> BaselineSummary:
    """Match ``findings`` against ``baseline`` by finding id (see the module docstring)."""
    by_id = {entry.id: entry for entry in baseline.entries}
    matches: list[BaselineMatch] = []
    for finding in findings:
        entry = by_id.get(finding.id)
        if entry is None:
            continue
        if entry.expires_at is not None and waiver_expired(entry.expires_at, as_of):
            state = BaselineState.expired
        elif worse(finding, entry):
            state = BaselineState.worse
        else:
            state = BaselineState.baselined
        matches.append(
            BaselineMatch(
                finding_id=finding.id,
                state=state,
                outcome=entry.outcome,
                severity=entry.severity,
                expires_at=entry.expires_at,
            )
        )
    matches.sort(key=lambda m: m.finding_id)
    return BaselineSummary(source=source, entries=len(baseline.entries), matches=matches)
