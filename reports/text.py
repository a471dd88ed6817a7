"""Plain-text audit summary for terminals and CI logs."""

from __future__ import annotations

import io
from collections import Counter
from typing import IO

from aigov.console import counted, printable, style, table
from aigov.reports.common import SHOWN
from aigov.results.findings import (
    BLOCKING,
    AuditResult,
    BaselineMatch,
    BaselineState,
    Finding,
    Outcome,
)
from aigov.results.severity import Family, Severity
from aigov.results.spool import ResultView, as_view

SEVERITY_COLOUR = {
    "critical": "red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": None,
}


def _baseline_note(match: BaselineMatch) -> str:
    if match.state == BaselineState.baselined:
        return " [baselined]"
    if match.state == BaselineState.expired:
        return f" [baseline entry expired {match.expires_at}]"
    return f" [worse than its baseline: {match.outcome.value}, {match.severity.value}]"


def finding_line(finding: Finding, baseline: BaselineMatch | None = None) -> str:
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
    if baseline is not None:
        extra += _baseline_note(baseline)
    line = f"{outcome:<13} {finding.policy:<22} {subject}: {finding.message}{extra}"
    return f"{severity} {printable(line)}"


def write(source: AuditResult | ResultView, out: IO[str]) -> None:
    """The summary table, the blocked models and every non-pass finding (streamed)."""
    view = as_view(source)
    baseline = getattr(view, "baseline", None)
    matched = {m.finding_id: m for m in baseline.matches} if baseline else {}
    hidden = baseline.hidden() if baseline else set()
    by_severity: Counter[tuple[Outcome, Severity]] = Counter()
    by_family: Counter[tuple[Outcome, Family]] = Counter()
    per_model: Counter[str] = Counter()
    # The listed findings' lines, bucketed by outcome in the same pass that counts: a spooled
    # result is read and validated once, not once more per listed outcome, and only the
    # lines are kept, not the findings with their evidence.
    listed: dict[Outcome, list[tuple[int, str]]] = {o: [] for o in SHOWN}
    threshold = view.fail_on.rank
    blocking = fail_review = baselined = 0
    for f in view.iter_findings():
        bucket = listed.get(f.outcome)
        if bucket is not None:
            bucket.append((f.severity.rank, finding_line(f, matched.get(f.id))))
        by_severity[(f.outcome, f.severity)] += 1
        by_family[(f.outcome, f.family)] += 1
        if f.outcome in BLOCKING:
            fail_review += 1
            state = _blocking_state(f, threshold, hidden)
            if state == "baselined":
                baselined += 1
            elif state == "blocking":
                per_model[f.model] += 1
                blocking += 1
    severities = list(Severity)
    families = [f for f in Family if any(by_family[(o, f)] for o in SHOWN)]
    models = 0
    blocked: list[tuple[str, str]] = []
    for model in view.iter_models():
        models += 1
        # with a baseline, a model blocked only by baselined findings is not listed
        if model.status == "blocked" and (baseline is None or per_model[model.id]):
            blocked.append((model.id, model.name))
    header = (
        f"aigov audit as of {view.as_of}: {counted(models, 'model')}, "
        f"{counted(len(view.policies), 'policy')} (policy set {view.policy_digest[:12]}"
        + (f", registry {view.registry_digest[:12]}" if view.registry_digest else "")
        + f"); blocking at {view.fail_on.value} and above"
    )
    out.write(printable(header) + "\n\n")
    if baseline is not None:
        states = Counter(m.state for m in baseline.matches)
        line = (
            f"baseline {baseline.source} ({baseline.entries} entries): "
            + ", ".join(f"{states[state]} {state.value}" for state in BaselineState)
            + "; only findings not baselined set the exit code"
        )
        out.write(printable(line) + "\n\n")
    out.write(
        table(
            ["OUTCOME", *[s.value for s in severities], "TOTAL"],
            [
                [o.value, *[by_severity[(o, s)] for s in severities], view.counts.get(o, 0)]
                for o in SHOWN
            ],
        )
        + "\n"
    )
    out.write(
        f"pass: {view.counts.get(Outcome.passed, 0)}, "
        f"not applicable: {view.counts.get(Outcome.not_applicable, 0)}\n"
    )
    if families:
        out.write(
            "\n"
            + table(
                ["FAMILY", *[o.value for o in SHOWN]],
                [[f.value, *[by_family[(o, f)] for o in SHOWN]] for f in families],
            )
            + "\n"
        )
    out.write(f"\nBlocked models: {len(blocked)} of {models}\n")
    for model_id, name in blocked:
        line = f"  {model_id} ({name}): {counted(per_model[model_id], 'blocking finding')}"
        out.write(printable(line) + "\n")
    if not any(by_severity.values()):
        out.write("\nNo findings.\n")
    else:
        out.write("\nFindings:\n")
        # Worst outcome first; within an outcome the stored order (model, policy, subject).
        for outcome in SHOWN:
            shown = listed[outcome]
            shown.sort(key=lambda item: -item[0])  # stable: keeps the stored order
            for _, line in shown:
                out.write(f"  {line}\n")
    out.write("\n" + _verdict_line(view, blocking, fail_review, baselined) + "\n")


def _verdict_line(view: ResultView, blocking: int, fail_review: int, baselined: int) -> str:
    kept_out = (
        f", {baselined} at or above {view.fail_on.value} baselined"
        if getattr(view, "baseline", None)
        else ""
    )
    return (
        f"{'FAIL' if blocking else 'PASS'}: {counted(blocking, 'finding')} at or above "
        f"{view.fail_on.value} ({fail_review} fail/review in total{kept_out})"
    )


def verdict(source: AuditResult | ResultView) -> str:
    """The text report's last line (PASS or FAIL and why), for a command whose reports all
    went to files."""
    view = as_view(source)
    baseline = getattr(view, "baseline", None)
    hidden = baseline.hidden() if baseline else set()
    states = Counter(
        _blocking_state(f, view.fail_on.rank, hidden)
        for f in view.iter_findings()
        if f.outcome in BLOCKING
    )
    fail_review = sum(states.values())
    return _verdict_line(view, states["blocking"], fail_review, states["baselined"])


def _blocking_state(f: Finding, threshold: int, hidden: set[str]) -> str | None:
    """For a fail or review finding: "blocking" (it sets the exit code), "baselined" (at or
    above the threshold, but the baseline covers it) or None (below the threshold)."""
    if f.severity.rank < threshold:
        return None
    return "baselined" if f.id in hidden else "blocking"


def render(result: AuditResult | ResultView) -> str:
    buffer = io.StringIO()
    write(result, buffer)
    return buffer.getvalue()
