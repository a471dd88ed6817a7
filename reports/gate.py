"""The gate's decision as text: the verdict line, then each finding with its evidence."""

from __future__ import annotations

from aigov.console import printable, style
from aigov.results.decisions import GateDecision, GateError
from aigov.results.findings import Finding


def evidence_line(finding: Finding) -> str:
    """The evidence of a finding in one line: the records that matched (other than the
    subject), the lineage path, what was absent or missing."""
    parts = []
    for match in finding.evidence[:2]:
        for record in match.records:
            if record.role == finding.subject_kind or record.id == finding.subject:
                continue
            fields = ", ".join(f"{k}={v}" for k, v in record.fields.items() if k != "id")
            parts.append(f"{record.kind} {record.id}" + (f" ({fields})" if fields else ""))
        if match.path:
            hops = " -> ".join([match.path[0].child] + [s.parent for s in match.path])
            parts.append(f"lineage {hops}")
    parts += finding.absent[:1]
    if finding.missing:
        parts.append("missing " + ", ".join(finding.missing))
    if finding.weak_facts:
        parts.append("rests on " + ", ".join(finding.weak_facts))
    return "; ".join(dict.fromkeys(parts)) or "the subject itself"


def render_error_text(error: GateError) -> str:
    """The verdict of a gate that could not decide, in one line (the full message goes to
    stderr)."""
    return f"DENY ({printable(error.reason)})\n"


def render_text(decision: GateDecision) -> str:
    """ALLOW or DENY, then each finding with its evidence and remediation (or waiver)."""
    dep = decision.deployment
    target = f"{dep['platform']}/{dep['region']}/{dep['environment']}"
    colour = "green" if decision.decision == "ALLOW" else "red"
    verdict = style(decision.decision, colour, bold=True)
    lines = [f"{decision.model} -> {target} ({decision.reason}; as of {decision.as_of})"]
    for title, findings in (
        ("blocking", decision.blocking),
        ("indeterminate", decision.indeterminate),
        ("waived", decision.waived),
        ("below threshold", decision.below_threshold),
    ):
        for finding in findings:
            lines.append(
                f"  [{finding.severity.value}] {finding.policy} ({title}, "
                f"{finding.outcome.value}): {finding.message}"
            )
            lines.append(f"      evidence: {evidence_line(finding)}")
            if finding.waiver is not None:
                w = finding.waiver
                state = "expired" if w.expired else "valid until"
                lines.append(
                    f"      waiver: {w.id} approved by {w.approved_by}, {state} "
                    f"{w.expires_at}: {w.reason}"
                )
            elif title in ("blocking", "indeterminate"):
                lines.append(f"      remediation: {decision.remediation.get(finding.policy, '')}")
    # registry text cannot forge lines or colours in a CI log (the verdict's colour is ours)
    return f"{verdict} " + "\n".join(printable(line) for line in lines) + "\n"
