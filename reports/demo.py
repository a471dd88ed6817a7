"""``aigov demo`` as text: the audit summary, then the gate's answer for the seed case."""

from __future__ import annotations

from pathlib import Path

from aigov.console import counted
from aigov.reports.gate import evidence_line
from aigov.reports.text import render as render_summary
from aigov.results.decisions import GateDecision
from aigov.results.findings import AuditResult


def render_text(
    records: int, result: AuditResult, decision: GateDecision, report: Path, examples: Path
) -> str:
    dep = decision.deployment
    lines = [
        f"Imported the example registry ({counted(records, 'record')}) into a temporary "
        "SQLite database and audited it with the shipped policies.\n",
        render_summary(result),
        f"Gate: may {decision.model} be deployed to {dep['platform']}/{dep['region']}/"
        f"{dep['environment']}?",
        f"  {decision.decision} ({decision.reason})",
    ]
    for finding in decision.blocking:
        lines.append(f"  [{finding.severity.value}] {finding.policy}: {finding.message}")
        lines.append(f"      evidence: {evidence_line(finding)}")
    lines.append(f"\nHTML report: {report.resolve()}")
    lines.append(
        f"Next: aigov registry import {examples} (into ./aigov.db), then "
        "aigov audit --as-of 2025-06-01, aigov explain deepseek-r1 --as-of 2025-06-01"
    )
    return "\n".join(lines)
