"""``aigov explain``: an evidence tree per finding, in words an auditor can follow.

For each finding: the policy and why it exists, which conditions held (with the field values
that made them hold), which required things were absent, the lineage path hop by hop, the
clause text and reference behind it, the remediation, and - where it can be stated - what
would make the subject pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from aigov.errors import NotFoundError
from aigov.evaluate.outcomes import policy_info
from aigov.evaluate.pipeline import Pipeline
from aigov.policy.ast import PolicySet
from aigov.registry.store import Registry
from aigov.results.explanation import Explanation
from aigov.results.findings import Outcome


def explain(
    registry: Registry | str | None,
    model: str,
    policy: str | None = None,
    policies: PolicySet | Iterable[str | Path] | None = None,
    *,
    as_of: dt.date | None = None,
) -> list[Explanation]:
    """Evaluate one model's partition and return an explanation per finding (or, with
    ``policy``, per subject of that policy, passes included)."""
    pipeline = Pipeline(policies, as_of, max_evidence=None)  # every match, however many
    known = pipeline.policy_set.by_id()
    if policy is not None and policy not in known:
        raise NotFoundError(f"unknown policy '{policy}'")
    with pipeline.registry(registry) as reg:
        (partition,) = list(pipeline.partitions(reg, pipeline.model_ids(reg, [model])))
    result = pipeline.evaluate(partition)
    findings = {(f.policy, f.subject): f for f in result.findings}
    out: list[Explanation] = []
    for (policy_id, subject), outcome in sorted(result.outcomes.items()):
        if policy is not None and policy_id != policy:
            continue
        finding = findings.get((policy_id, subject))
        if policy is None and finding is None:
            continue
        named = {r.id for m in finding.evidence for r in m.records} if finding else set()
        records = {k: partition.records[k][1] for k in sorted(named & partition.records.keys())}
        out.append(
            Explanation(
                policy=policy_info(known[policy_id]),
                subject_kind=known[policy_id].subject.kind,
                subject=subject,
                outcome=outcome,
                finding=finding,
                records=records,
            )
        )
    order = {o: i for i, o in enumerate(Outcome)}
    out.sort(key=lambda e: (order[e.outcome], -e.policy.severity.rank, e.policy.id, e.subject))
    return out
