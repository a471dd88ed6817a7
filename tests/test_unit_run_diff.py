"""``diff_results``: what changed between two audit results, finding by stable id.

A finding only in the later result is ``new``, only in the earlier one ``resolved``; one in
both is ``persisting`` when its outcome is the same, ``newly_waived`` (blocking -> waived),
``waiver_expired`` (waived -> blocking) or else ``changed``. Findings of a model the later
result did not audit are left out; those of a model only the later result audited are new.
"""

from __future__ import annotations

import datetime as dt

import pytest

from aigov.results.diff import RunDiff, diff_results
from aigov.results.findings import (
    AuditResult,
    Change,
    DiffEntry,
    Finding,
    ModelResult,
    Outcome,
    RunInfo,
    finding_id,
)
from aigov.results.severity import Family, Severity
from aigov.results.spool import as_view
from aigov_testing.results import synthetic_result

AS_OF = dt.date(2025, 6, 1)


def finding(
    policy: str,
    model: str,
    outcome: Outcome,
    *,
    subject: str | None = None,
    subject_kind: str = "model",
    severity: Severity = Severity.high,
    message: str | None = None,
) -> Finding:
    subject = subject or model
    return Finding(
        id=finding_id(policy, subject_kind, subject),
        policy=policy,
        title=f"{policy} title",
        severity=severity,
        family=Family.governance,
        outcome=outcome,
        model=model,
        subject_kind=subject_kind,
        subject=subject,
        message=message or f"{policy} on {subject}",
    )


def result(models: list[str], findings: list[Finding], run: str | None = None) -> AuditResult:
    return AuditResult(
        tool_version="0.1.0",
        as_of=AS_OF,
        fail_on=Severity.high,
        policy_digest="p",
        run=RunInfo(id=run, started_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)) if run else None,
        counts={o: 0 for o in Outcome},
        policies=[],
        models=[ModelResult(id=m, name=m.upper(), status="clean") for m in models],
        findings=findings,
    )


def entry(change: Change, f: Finding, before: Outcome | None, after: Outcome | None) -> DiffEntry:
    return DiffEntry(
        change=change,
        finding_id=f.id,
        policy=f.policy,
        model=f.model,
        subject_kind=f.subject_kind,
        subject=f.subject,
        before=before,
        after=after,
        severity=f.severity,
        message=f.message,
    )


# ----------------------------------------------------------------------------- new / resolved


def test_identical_results_only_persist() -> None:
    findings = [finding("GOV-001", "a", Outcome.fail), finding("TOS-001", "b", Outcome.review)]
    diff = diff_results(result(["a", "b"], findings), result(["a", "b"], findings))
    assert diff.entries == [
        entry(Change.persisting, findings[0], Outcome.fail, Outcome.fail),
        entry(Change.persisting, findings[1], Outcome.review, Outcome.review),
    ]
    assert diff.changed == []
    assert diff.of(Change.persisting) == diff.entries


def test_new_and_resolved_findings() -> None:
    kept = finding("GOV-001", "a", Outcome.fail)
    gone = finding("TOS-001", "a", Outcome.review)
    added = finding("HOST-001", "a", Outcome.fail, subject="dep-1", subject_kind="deployment")
    diff = diff_results(result(["a"], [kept, gone]), result(["a"], [kept, added]))
    assert diff.entries == [
        entry(Change.new, added, None, Outcome.fail),
        entry(Change.resolved, gone, Outcome.review, None),
        entry(Change.persisting, kept, Outcome.fail, Outcome.fail),
    ]
    assert diff.changed == diff.entries[:2]
    assert diff.of(Change.new) == diff.entries[:1]
    assert diff.of(Change.resolved) == diff.entries[1:2]
    assert diff.of(Change.changed) == []


def test_no_findings_on_either_side() -> None:
    assert diff_results(result(["a"], []), result(["a"], [])).entries == []


# ----------------------------------------------------------------------------- classification

W, F, R, U = Outcome.waived, Outcome.fail, Outcome.review, Outcome.indeterminate  # U: undecided


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (F, F, Change.persisting),
        (W, W, Change.persisting),
        (U, U, Change.persisting),
        (F, W, Change.newly_waived),
        (R, W, Change.newly_waived),
        (W, F, Change.waiver_expired),
        (W, R, Change.waiver_expired),
        (F, R, Change.changed),
        (R, F, Change.changed),
        (F, U, Change.changed),
        (U, F, Change.changed),
        (U, W, Change.changed),  # an indeterminate finding was not blocking: not "newly waived"
        (W, U, Change.changed),
    ],
)
def test_classification_of_a_finding_in_both(
    before: Outcome, after: Outcome, change: Change
) -> None:
    old = finding("HOST-001", "a", before, subject="dep-1", subject_kind="deployment")
    new = finding("HOST-001", "a", after, subject="dep-1", subject_kind="deployment")
    diff = diff_results(result(["a"], [old]), result(["a"], [new]))
    assert diff.entries == [entry(change, new, before, after)]


def test_same_outcome_with_a_new_message_and_severity_persists_and_shows_the_new_ones() -> None:
    old = finding("GOV-001", "a", F, severity=Severity.low, message="old text")
    new = finding("GOV-001", "a", F, severity=Severity.medium, message="new text")
    (only,) = diff_results(result(["a"], [old]), result(["a"], [new])).entries
    assert (only.change, only.severity, only.message) == (
        Change.persisting,
        Severity.medium,
        "new text",
    )


def test_resolved_entry_keeps_the_earlier_findings_details() -> None:
    old = finding("GOV-001", "a", F, severity=Severity.low, message="had no owner")
    (only,) = diff_results(result(["a"], [old]), result(["a"], [])).entries
    assert (only.change, only.severity, only.message) == (
        Change.resolved,
        Severity.low,
        "had no owner",
    )


# ----------------------------------------------------------------------------- scope


def test_a_model_only_in_the_earlier_run_is_left_out_one_only_in_the_later_is_new() -> None:
    # model b is only in the earlier run: its finding is not resolved (the later run did not
    # look). c is only in the later one (imported since): its finding is new, and blocks an
    # `audit --since` run - before, it was left out and a new model's failures passed.
    before = result(["a", "b"], [finding("GOV-001", "a", F), finding("GOV-001", "b", F)])
    after = result(["a", "c"], [finding("GOV-001", "a", F), finding("GOV-001", "c", F)])
    diff = diff_results(before, after)
    assert [(e.change, e.model) for e in diff.entries] == [
        (Change.new, "c"),
        (Change.persisting, "a"),
    ]
    assert [e.model for e in diff.regressions(Severity.info)] == ["c"]


def test_a_model_in_both_without_findings_on_one_side() -> None:
    diff = diff_results(result(["a", "b"], [finding("GOV-001", "b", F)]), result(["a", "b"], []))
    assert [(e.change, e.model) for e in diff.entries] == [(Change.resolved, "b")]


def test_synthetic_results_of_different_sizes_compare_on_the_shared_models() -> None:
    small, large = synthetic_result(20), synthetic_result(30)
    shared = {m.id for m in small.models}
    diff = diff_results(large, small)
    expected = sorted(f.id for f in small.findings)
    assert sorted(e.finding_id for e in diff.entries) == expected
    assert {e.change for e in diff.entries} == {Change.persisting}
    assert {e.model for e in diff.entries} == shared & {f.model for f in small.findings}


# ----------------------------------------------------------------------------- order and runs


def test_entries_are_ordered_by_change_then_model_policy_subject() -> None:
    before = [
        finding("B-1", "m2", F),
        finding("A-1", "m2", W, subject="d2", subject_kind="deployment"),
        finding("A-1", "m1", F),
        finding("Z-9", "m1", R, subject="d1", subject_kind="deployment"),
        finding("Y-1", "m1", F, subject="d9", subject_kind="deployment"),
        finding("C-1", "m2", R),
    ]
    after = [
        finding("B-1", "m2", F),
        finding("A-1", "m2", F, subject="d2", subject_kind="deployment"),
        finding("A-1", "m1", F),
        finding("Z-9", "m1", W, subject="d1", subject_kind="deployment"),
        finding("Y-1", "m1", U, subject="d9", subject_kind="deployment"),
        finding("C-2", "m1", F),
        finding("A-2", "m2", F),
    ]
    diff = diff_results(result(["m1", "m2"], before), result(["m1", "m2"], after))
    assert [(e.change, e.model, e.policy, e.subject) for e in diff.entries] == [
        (Change.new, "m1", "C-2", "m1"),
        (Change.new, "m2", "A-2", "m2"),
        (Change.resolved, "m2", "C-1", "m2"),
        (Change.persisting, "m1", "A-1", "m1"),
        (Change.persisting, "m2", "B-1", "m2"),
        (Change.newly_waived, "m1", "Z-9", "d1"),
        (Change.waiver_expired, "m2", "A-1", "d2"),
        (Change.changed, "m1", "Y-1", "d9"),
    ]


def test_run_ids_of_both_sides() -> None:
    assert diff_results(result(["a"], [], "run-1"), result(["a"], [], "run-2")).model_dump() == {
        "before": "run-1",
        "after": "run-2",
        "entries": [],
    }
    diff = diff_results(result(["a"], [], "run-1"), result(["a"], []))
    assert (diff.before, diff.after) == ("run-1", None)


def test_a_result_view_diffs_like_the_result() -> None:
    before = synthetic_result(12, run=True)
    after = synthetic_result(9)
    assert isinstance(diff_results(before, as_view(after)), RunDiff)
    assert diff_results(before, as_view(after)) == diff_results(before, after)
    assert diff_results(before, after).before == "run-0001"
