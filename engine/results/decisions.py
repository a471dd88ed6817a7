"""The gate's decision: the output of ``aigov gate`` and :func:`aigov.gate`."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel

from aigov.exit_codes import EXIT_FINDINGS, EXIT_INDETERMINATE, EXIT_OK
from aigov.results.diff import RunDiff
from aigov.results.findings import BLOCKING, Finding, Outcome
from aigov.results.severity import Severity
from aigov.results.spool import ResultSpool


def audit_exit_code(
    view: ResultSpool,
    fail_on: Severity,
    *,
    fail_on_indeterminate: bool = False,
    diff: RunDiff | None = None,
) -> int:
    """The exit code of an audit: 1 for findings that block at ``fail_on`` (with ``diff``,
    only those new or regressed since the baseline run), 3 for indeterminate ones when asked,
    else 0."""
    if diff is not None:
        return EXIT_FINDINGS if diff.regressions(fail_on) else EXIT_OK
    if view.count_at_or_above(BLOCKING, fail_on):
        return EXIT_FINDINGS
    if fail_on_indeterminate and view.count_at_or_above((Outcome.indeterminate,), fail_on):
        return EXIT_INDETERMINATE
    return EXIT_OK


class GateDecision(BaseModel):
    decision: Literal["ALLOW", "DENY"]
    exit_code: int
    reason: str
    model: str
    deployment: dict[str, Any]
    as_of: dt.date
    fail_on: Severity
    fail_on_indeterminate: bool
    policy_digest: str
    blocking: list[Finding]
    indeterminate: list[Finding]
    waived: list[Finding]
    below_threshold: list[Finding]
    remediation: dict[str, str]
