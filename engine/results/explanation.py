"""What ``aigov explain`` returns: one policy's outcome on one subject, with its evidence."""

from __future__ import annotations

from typing import Any

from aigov.results.findings import Finding, Outcome, PolicyInfo, Strict


class Explanation(Strict):
    policy: PolicyInfo
    subject_kind: str
    subject: str
    outcome: Outcome
    finding: Finding | None
    # the data of each record the finding's evidence names, as the evaluation saw it
    records: dict[str, dict[str, Any]] = {}
