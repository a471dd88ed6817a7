"""The gate's decision: the output of ``aigov gate`` and :func:`aigov.gate`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from aigov.errors import InputError
from aigov.exit_codes import EXIT_ERROR, EXIT_FINDINGS, EXIT_INDETERMINATE, EXIT_OK
from aigov.results.diff import RunDiff
from aigov.results.findings import (
    BLOCKING,
    BaselineSummary,
    Finding,
    Outcome,
    WaiverInfo,
    blocks,
    undecided,
)
from aigov.results.severity import Severity
from aigov.results.spool import ResultSpool


def audit_exit_code(
    view: ResultSpool,
    fail_on: Severity,
    *,
    fail_on_indeterminate: bool = False,
    diff: RunDiff | None = None,
    baseline: BaselineSummary | None = None,
) -> int:
    """The exit code of an audit: 1 for findings that block at ``fail_on`` (with ``diff``,
    only those new or regressed since the ``--since`` run; with ``baseline``, only those it
    does not cover), 3 for indeterminate ones when asked, else 0."""
    if diff is not None:
        return EXIT_FINDINGS if diff.regressions(fail_on) else EXIT_OK
    if baseline is not None:
        hidden = baseline.hidden()
        if any(blocks(f, fail_on) for f in view.iter_findings() if f.id not in hidden):
            return EXIT_FINDINGS
        if fail_on_indeterminate and any(
            undecided(f, fail_on) for f in view.iter_findings() if f.id not in hidden
        ):
            return EXIT_INDETERMINATE
        return EXIT_OK
    if view.count_at_or_above(BLOCKING, fail_on):
        return EXIT_FINDINGS
    if fail_on_indeterminate and view.count_at_or_above((Outcome.indeterminate,), fail_on):
        return EXIT_INDETERMINATE
    return EXIT_OK


def gate_subjects(
    deployment: str,
    model: str,
    approval: str | None,
    waivers: Iterable[WaiverInfo] = (),
) -> dict[str, list[str]]:
    """Every record a gate decision on ``deployment`` depends on, by subject kind: the one
    statement of which findings a gate decision includes.

    A deployment relies on itself, on its model, on the approval it names (an approval
    without its evidence is a decision without its basis) and on every waiver that can waive
    a finding about one of those three (a waiver whose subject is the deployment, the model or
    the approval: a waiver on the model covers its deployments' and approvals' findings as
    well). Findings about the model's other deployments, other approvals and their waivers do
    not decide. An audit of the same registry reports the same findings about these subjects,
    so a gate on a registry deployment and the audit of that deployment agree."""
    relied = [deployment, model] + ([approval] if approval else [])
    return {
        "deployment": [deployment],
        "model": [model],
        "approval": [approval] if approval else [],
        "waiver": sorted({w.id for w in waivers if w.subject in relied}),
    }


def concerns(finding: Finding, subjects: dict[str, list[str]]) -> bool:
    """Whether ``finding`` is about one of ``subjects`` (:func:`gate_subjects`)."""
    return finding.subject in subjects.get(finding.subject_kind, ())


class GateDecision(BaseModel):
    """The gate's decision on one proposed deployment (``aigov gate --format json``)."""

    decision: Literal["ALLOW", "DENY"]
    """``ALLOW`` only when no finding at or above ``fail_on`` blocks (and, with
    ``fail_on_indeterminate``, none is indeterminate)."""
    exit_code: int
    """The CLI's exit code: 0 ALLOW, 1 DENY for blocking findings, 3 DENY for indeterminate
    ones (errors raise instead; the CLI exits 2)."""
    reason: str
    """One line: how many findings decided, or that none did."""
    model: str
    """The id of the model to be deployed."""
    deployment: dict[str, Any]
    """The proposed deployment record, as evaluated."""
    as_of: dt.date
    """The evaluation date."""
    fail_on: Severity
    """The threshold: ``fail`` and ``review`` findings at or above it DENY."""
    fail_on_indeterminate: bool
    """Whether indeterminate findings at or above ``fail_on`` DENY too."""
    policy_digest: str
    """A digest of the policy set."""
    registry_digest: str | None = Field(
        default=None, description="the registry's digest (when the decision is recorded)"
    )
    blocking: list[Finding]
    """The ``fail`` and ``review`` findings at or above ``fail_on``: why it is DENY."""
    indeterminate: list[Finding]
    """The ``indeterminate`` findings at or above ``fail_on``."""
    waived: list[Finding]
    """Findings an unexpired waiver covers (shown, never blocking)."""
    below_threshold: list[Finding]
    """Findings below ``fail_on`` (shown, never blocking)."""
    remediation: dict[str, str]
    """Policy id to its remediation, for every finding above."""
    depends_on: dict[str, list[str]] = Field(default_factory=dict)
    """The records whose findings decided, by subject kind (``deployment``, ``model``,
    ``approval``, ``waiver``): see :func:`gate_subjects`."""


class GateProblem(BaseModel):
    """One located problem of a gate's input (a descriptor, a policy file)."""

    file: str
    """The file (``<command line>`` for a flag)."""
    line: int | None
    """The line in it, when known."""
    message: str
    """What is wrong."""
    record: str | None = None
    """The record or policy concerned, e.g. ``deployment 'd1'``."""
    field: str | None = None
    """The field concerned, e.g. ``environment``."""


class GateError(BaseModel):
    """A gate that could not decide: DENY with exit 2, in the same shape as a decision's
    first fields (``decision``, ``exit_code``, ``reason``) so that a machine reads every
    outcome the same way."""

    decision: Literal["DENY"] = "DENY"
    """Always ``DENY``: a gate that cannot decide fails closed."""
    exit_code: int = EXIT_ERROR
    """Always 2."""
    reason: str
    """``error: `` and the first line of the error."""
    error: str
    """The whole error message."""
    problems: list[GateProblem] = Field(default_factory=list)
    """Each located problem of an input error (a descriptor, a policy file)."""

    @classmethod
    def from_message(
        cls, message: str, problems: Iterable[GateProblem] = (), headline: str | None = None
    ) -> GateError:
        """The error for ``message``; ``reason`` names ``headline`` (default: its first
        line)."""
        first = headline or (message.splitlines()[0] if message else "unknown error")
        return cls(reason=f"error: {first}", error=message or first, problems=list(problems))

    @classmethod
    def from_exception(cls, exc: BaseException) -> GateError:
        """The error of any exception: an input error keeps each located problem, and its
        first problem is named in ``reason``."""
        if isinstance(exc, InputError) and exc.problems:
            problems = [
                GateProblem(
                    file=p.file, line=p.line, message=p.message, record=p.record, field=p.field
                )
                for p in exc.problems
            ]
            more = len(exc.problems) - 1
            headline = f"{exc.summary}: {exc.problems[0]}" + (f" (+{more} more)" if more else "")
            return cls.from_message(exc.render(), problems, headline)
        return cls.from_message(str(exc) or type(exc).__name__)
