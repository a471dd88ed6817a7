"""``aigov explain`` as text: every hop, the clause text, what would make the finding pass."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aigov.console import printable
from aigov.results.explanation import Explanation
from aigov.results.findings import Outcome


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _resolve(text: str, values: dict[str, dict[str, Any]]) -> str:
    """Show the value next to each 'alias.field' the evaluation bound."""

    def sub(match: re.Match[str]) -> str:
        alias, field = match.group(1), match.group(2)
        record = values.get(alias)
        if record is None:
            return match.group(0)
        value: Any = record
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return match.group(0) if value is None else f"{alias}.{field} (= {_value(value)})"

    return re.sub(r"\b([a-z][a-z0-9_]*)\.([a-z_][a-z0-9_.]*[a-z0-9_])", sub, text)


def _counterfactual(explanation: Explanation, values: dict[str, dict[str, Any]]) -> list[str]:
    finding = explanation.finding
    if finding is None:
        return []
    if finding.outcome == Outcome.indeterminate:
        return [f"the missing field(s) {', '.join(finding.missing)} were recorded"]
    lines = []
    for absent in finding.absent:
        wanted = absent.removeprefix("no ").removeprefix("not ")
        lines.append(
            "there were " + _resolve(wanted, values)
            if absent.startswith("no ")
            else _resolve(wanted, values) + " held"
        )
    if not lines:
        lines.append("any one of the conditions above stopped holding")
    if finding.outcome == Outcome.review:
        lines.append(f"a waiver of {finding.policy} recorded legal's review of this subject")
    return lines


def render_text(explanations: list[Explanation], as_of: dt.date) -> str:
    if not explanations:
        return "No findings: every policy passes or does not apply.\n"
    lines: list[str] = []
    for item in explanations:
        policy = item.policy
        finding = item.finding
        lines.append(
            f"{policy.id} [{policy.severity.value}] {item.outcome.value.upper()} - "
            f"{item.subject_kind} {item.subject}"
        )
        lines.append(f"  {policy.title}")
        if finding is not None:
            lines.append(f"  message: {finding.message}")
        if finding is None:
            lines.append(
                "  "
                + {
                    Outcome.passed: "the policy applies and its condition does not hold",
                    Outcome.not_applicable: "the subject is outside the policy's subject filter",
                }.get(item.outcome, item.outcome.value)
            )
            lines.append("")
            continue
        values: dict[str, dict[str, Any]] = {}
        for number, match in enumerate(finding.evidence, 1):
            label = f"  match {number}:" if len(finding.evidence) > 1 else "  conditions held:"
            lines.append(label)
            for record in match.records:
                data = item.records.get(record.id, {})
                values.setdefault(record.role, {**data, **record.fields})
                shown = ", ".join(f"{k} = {_value(v)}" for k, v in record.fields.items())
                lines.append(
                    f"    {record.role}: {record.kind} {record.id}"
                    + (f" ({shown})" if shown else "")
                )
                if record.kind == "clause":
                    quote = data.get("quote")
                    lines.append(
                        f"      clause {data.get('section', '?')} of {data.get('terms')}"
                        + (f': "{quote}"' if quote else "")
                    )
            for alias, steps in (
                match.paths or ({"path": match.path} if match.path else {})
            ).items():
                lines.append(f"    lineage path ({alias}), {len(steps)} hop(s):")
                for hop, step in enumerate(steps, 1):
                    confidence = f" [{step.confidence}]" if step.confidence else ""
                    lines.append(
                        f"      {hop}. {step.child} ({step.child_kind}) --{step.relation}--> "
                        f"{step.parent} ({step.parent_kind}){confidence}  edge {step.edge}"
                    )
        for absent in finding.absent:
            lines.append(f"  absent: {_resolve(absent, values)}")
        if finding.missing:
            lines.append(f"  missing (required) fields: {', '.join(finding.missing)}")
        if finding.weak_facts:
            lines.append(
                "  a review, not a fail: it rests on alleged or unverified facts: "
                + ", ".join(finding.weak_facts)
            )
        if finding.waiver:
            w = finding.waiver
            state = "EXPIRED" if w.expired else "valid"
            lines.append(
                f"  waiver {w.id} ({state}, expires {w.expires_at}, approved by "
                f"{w.approved_by}): {w.reason}"
            )
        for ref in policy.references:
            section = f" {ref['section']}" if ref.get("section") else ""
            lines.append(f"  reference: {ref['title']}{section} <{ref['url']}>")
        lines.append(f"  remediation: {policy.remediation}")
        if finding.outcome != Outcome.waived:
            for line in _counterfactual(item, values):
                lines.append(f"  would pass if {line}")
        lines.append("")
    lines.append(f"(evaluated as of {as_of})")
    # Each entry is one line: any control or bidi character a record brought is shown escaped
    # (a newline in a value too, so that it cannot forge a line of its own).
    return "\n".join(map(printable, lines)) + "\n"
