"""JUnit XML for CI test reporters (GitLab, Jenkins, GitHub Actions test-report actions).

Layout: ``<testsuites>`` > one ``<testsuite>`` per policy family > one ``<testcase>`` per
(policy, model) from ``ModelResult.outcomes`` (the worst outcome of the policy over the
model's subjects). ``classname`` is the policy id, ``name`` is ``"POLICY on MODEL"``.

Outcome → element:

* ``pass`` → an empty testcase.
* ``fail`` and ``review`` → ``<failure type="fail|review" message=...>``; the text lists every
  finding of that policy on that model with its evidence (records, fields, lineage path,
  absent and missing facts). Review is a failure because it blocks like a fail until a
  person has decided.
* ``indeterminate`` → ``<error type="indeterminate">``: the policy could not be evaluated
  because a fact it requires is missing. It is not a pass (that would hide it) and not a
  skip (CI reporters treat skips as harmless), and JUnit's "error" means exactly "the test
  could not run to a verdict"; most reporters mark it red like a failure.
* ``waived`` → ``<skipped message=...>`` naming the waiver, its reason, approver and expiry.
* ``not_applicable`` (only if a stored result lists it) → ``<skipped message="not
  applicable">``.

Counts (``tests``, ``failures``, ``errors``, ``skipped``) are set on every suite and on the
root, ``time`` is always ``0`` (an audit is not timed per test) and the suite ``timestamp`` is
the run's start when the result has one, so the output is deterministic. Characters XML 1.0
cannot carry (control characters) are replaced by ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from aigov.reports.common import naive_utc, unlisted_policies
from aigov.results.findings import AuditResult, Finding, Outcome, PathStep
from aigov.results.severity import Family

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: Any) -> str:
    return _INVALID_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))


def _element(tag: str, attrs: dict[str, Any] | None = None, text: str | None = None) -> ET.Element:
    node = ET.Element(tag)
    for key, value in (attrs or {}).items():  # insertion order is the attribute order
        node.set(key, _clean(value))
    if text is not None:
        node.text = _clean(text)
    return node


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _hops(steps: list[PathStep]) -> str:
    """A lineage path as ``child -> [relation] parent -> ...``."""
    return " -> ".join([steps[0].child] + [f"[{s.relation}] {s.parent}" for s in steps])


def finding_text(finding: Finding) -> str:
    """A finding with its evidence, as plain text."""
    subject = (
        finding.subject
        if finding.subject_kind == "model"
        else f"{finding.subject_kind} {finding.subject}"
    )
    lines = [
        f"[{finding.outcome.value}] [{finding.severity.value}] {finding.policy} on {subject}: "
        f"{finding.message}",
    ]
    for i, match in enumerate(finding.evidence, 1):
        lines.append(f"  evidence {i}:" if len(finding.evidence) > 1 else "  evidence:")
        for record in match.records:
            fields = ", ".join(f"{k}={_value(v)}" for k, v in record.fields.items())
            lines.append(
                f"    {record.role}: {record.kind} {record.id}" + (f" ({fields})" if fields else "")
            )
        if match.path:
            lines.append(f"    lineage: {_hops(match.path)}")
        for alias, steps in sorted(match.paths.items()):
            if steps:
                lines.append(f"    lineage to {alias}: {_hops(steps)}")
    if finding.evidence_omitted:
        lines.append(f"  and {finding.evidence_omitted} more matches (aigov explain lists all)")
    for absent in finding.absent:
        lines.append(f"  absent: {absent}")
    if finding.missing:
        lines.append(f"  missing: {', '.join(finding.missing)}")
    if finding.waiver is not None:
        w = finding.waiver
        state = "expired" if w.expired else "until"
        lines.append(
            f"  waiver {w.id} ({state} {w.expires_at}, approved by {w.approved_by}): {w.reason}"
        )
    lines.append(f"  finding id: {finding.id}")
    return "\n".join(lines)


def _waiver_message(findings: list[Finding]) -> str:
    parts = []
    for f in findings:
        if f.waiver is not None:
            parts.append(
                f"waived by {f.waiver.id} until {f.waiver.expires_at} "
                f"(approved by {f.waiver.approved_by}): {f.waiver.reason}"
            )
    return "; ".join(dict.fromkeys(parts)) or "waived"


def _testcase(
    policy: str, model: str, outcome: Outcome, findings: list[Finding], suite: dict[str, int]
) -> ET.Element:
    case = _element("testcase", {"classname": policy, "name": f"{policy} on {model}", "time": "0"})
    suite["tests"] += 1
    relevant = [f for f in findings if f.outcome == outcome] or findings
    body = "\n\n".join(finding_text(f) for f in findings) if findings else None
    if outcome in (Outcome.fail, Outcome.review):
        suite["failures"] += 1
        message = (
            relevant[0].message
            if len(relevant) == 1
            else (
                f"{len(relevant)} {outcome.value} findings; first: {relevant[0].message}"
                if relevant
                else outcome.value
            )
        )
        case.append(_element("failure", {"message": message, "type": outcome.value}, body))
    elif outcome == Outcome.indeterminate:
        suite["errors"] += 1
        missing = sorted({m for f in relevant for m in f.missing})
        message = "indeterminate: " + (
            f"missing {', '.join(missing)}" if missing else "a required fact is missing"
        )
        case.append(_element("error", {"message": message, "type": "indeterminate"}, body))
    elif outcome == Outcome.waived:
        suite["skipped"] += 1
        case.append(_element("skipped", {"message": _waiver_message(relevant)}, body))
    elif outcome == Outcome.not_applicable:
        suite["skipped"] += 1
        case.append(_element("skipped", {"message": "not applicable"}))
    return case


def junit_tree(result: AuditResult) -> ET.Element:
    families = {p.id: p.family for p in (*result.policies, *unlisted_policies(result))}
    findings: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in sorted(result.findings, key=lambda f: (f.subject_kind, f.subject, f.id)):
        findings[(f.policy, f.model)].append(f)
    cases: dict[Family, list[tuple[str, str, Outcome]]] = defaultdict(list)
    for model in result.models:
        for policy, outcome in model.outcomes.items():
            family = families.get(policy, Family.governance)
            cases[family].append((policy, model.id, Outcome(outcome)))
    timestamp = None
    if result.run is not None:
        # JUnit's timestamp has no zone: UTC here
        timestamp = naive_utc(result.run.started_at).isoformat()
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    root = _element("testsuites", {"name": f"aigov audit as of {result.as_of}"})
    suites = []
    for family in Family:
        if family not in cases:
            continue
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        elements = [
            _testcase(policy, model, outcome, findings.get((policy, model), []), counts)
            for policy, model, outcome in sorted(cases[family])
        ]
        attrs: dict[str, Any] = {"name": family.value, **counts, "time": "0"}
        if timestamp:
            attrs["timestamp"] = timestamp
        suite = _element("testsuite", attrs)
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("as_of", result.as_of.isoformat()),
            ("fail_on", result.fail_on.value),
            ("policy_digest", result.policy_digest),
            ("registry_digest", result.registry_digest or ""),
            ("tool_version", result.tool_version),
        ):
            properties.append(_element("property", {"name": name, "value": value}))
        suite.extend(elements)
        suites.append(suite)
        for key in totals:
            totals[key] += counts[key]
    for key, total in totals.items():
        root.set(key, str(total))
    root.set("time", "0")
    root.extend(suites)
    return root


def render(result: AuditResult) -> str:
    root = junit_tree(result)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
