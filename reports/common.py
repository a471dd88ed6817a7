"""What several renderers share: the listed outcomes, reference URLs, stand-in policies and
times in UTC.

Imported by the renderer modules only (never by :mod:`reports` itself), so ``import reports``
stays cheap.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aigov.results.findings import AuditResult, Outcome, PolicyInfo

# The outcomes a report lists finding by finding, worst first (pass and not applicable are
# only counted).
SHOWN = (Outcome.fail, Outcome.review, Outcome.indeterminate, Outcome.waived)


def web_url(value: Any) -> str | None:
    """``value`` if it is an http(s) URL, else None: a reference URL is only ever made a
    link when it is one (never ``javascript:`` or ``data:``)."""
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def first_web_url(policy: PolicyInfo) -> str | None:
    """The first of the policy's references with an http(s) URL."""
    for ref in policy.references:
        url = web_url(ref.get("url"))
        if url is not None:
            return url
    return None


def unlisted_policies(result: AuditResult) -> list[PolicyInfo]:
    """Policies that a finding names but the catalogue lacks (a hand-edited stored run), in
    the order first named, rebuilt from what the finding knows: id, title, severity and
    family; description, remediation and source are empty, references none. A report lists
    them rather than fail."""
    known = {p.id for p in result.policies}
    stand_ins: dict[str, PolicyInfo] = {}
    for finding in result.findings:
        if finding.policy not in known and finding.policy not in stand_ins:
            stand_ins[finding.policy] = PolicyInfo(
                id=finding.policy,
                title=finding.title,
                description="",
                family=finding.family,
                severity=finding.severity,
                remediation="",
                source="",
            )
    return list(stand_ins.values())


def naive_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC without a zone; a naive time is taken to be UTC already."""
    if moment.tzinfo is not None:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment
