"""Plain-text audit summary for terminals and CI logs."""

from __future__ import annotations

from collections import Counter

from engine.console import style, table
from engine.findings import BLOCKING, AuditResult, Finding, Outcome
from engine.policy import Family, Severity

SEVERITY_COLOUR = {
    "critical": "red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": None,
}
SHOWN = (Outcome.fail, Outcome.review, Outcome.indeterminate, Outcome.waived)


def finding_line(finding: Finding) -> str:
    severity = style(f"{finding.severity.value:<8}", SEVERITY_COLOUR[finding.severity.value])
    subject = (
        finding.subject
        if finding.subject_kind == "model"
        else (f"{finding.model} {finding.subject_kind} {finding.subject}")
    )
    outcome = finding.outcome.value
    extra = ""
    if finding.waiver is not None:
        state = "expired" if finding.waiver.expired else "until"
        extra = f" [waiver {finding.waiver.id} {state} {finding.waiver.expires_at}]"
    if finding.missing:
        extra += f" [missing: {', '.join(finding.missing)}]"
    return f"{severity} {outcome:<13} {finding.policy:<22} {subject}: {finding.message}{extra}"


def render(result: AuditResult) -> str:
    by_severity: Counter[tuple[Outcome, Severity]] = Counter(
        (f.outcome, f.severity) for f in result.findings
    )
    by_family: Counter[tuple[Outcome, Family]] = Counter(
        (f.outcome, f.family) for f in result.findings
    )
    severities = list(Severity)
    families = sorted({f.family for f in result.findings}, key=lambda f: list(Family).index(f))
    lines = [
        f"aigov audit as of {result.as_of}: {len(result.models)} models, "
        f"{len(result.policies)} policies (policy set {result.policy_digest[:12]}"
        + (f", registry {result.registry_digest[:12]}" if result.registry_digest else "")
        + f"); blocking at {result.fail_on.value} and above",
        "",
        table(
            ["OUTCOME", *[s.value for s in severities], "TOTAL"],
            [
                [o.value, *[by_severity[(o, s)] for s in severities], result.counts.get(o, 0)]
                for o in SHOWN
            ],
        ),
        f"pass: {result.counts.get(Outcome.passed, 0)}, "
        f"not applicable: {result.counts.get(Outcome.not_applicable, 0)}",
    ]
    if families:
        lines += [
            "",
            table(
                ["FAMILY", *[o.value for o in SHOWN]],
                [[f.value, *[by_family[(o, f)] for o in SHOWN]] for f in families],
            ),
        ]
    blocked = [m for m in result.models if m.status == "blocked"]
    lines += ["", f"Blocked models: {len(blocked)} of {len(result.models)}"]
    per_model = Counter(f.model for f in result.blocking())
    for model in blocked:
        lines.append(f"  {model.id} ({model.name}): {per_model[model.id]} blocking findings")
    shown = [f for f in result.findings if f.outcome in SHOWN]
    if shown:
        order = {o: i for i, o in enumerate(SHOWN)}
        shown.sort(key=lambda f: (order[f.outcome], -f.severity.rank, f.model, f.policy, f.subject))
        lines += ["", "Findings:"]
        lines += [f"  {finding_line(f)}" for f in shown]
    else:
        lines += ["", "No findings."]
    blocking = result.blocking()
    verdict = "FAIL" if blocking else "PASS"
    lines += [
        "",
        f"{verdict}: {len(blocking)} findings at or above {result.fail_on.value} "
        f"({sum(1 for f in result.findings if f.outcome in BLOCKING)} fail/review in total)",
    ]
    return "\n".join(lines) + "\n"
