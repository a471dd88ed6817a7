"""The gate decision log as text (``aigov decisions list | show | verify``)."""

from __future__ import annotations

from aigov.console import printable, table
from aigov.results.decision_log import ChainReport, DecisionEntry

# The CI variables that name the commit a gate ran for, first found wins.
COMMIT_VARIABLES = (
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
    "BUILD_SOURCEVERSION",
    "GIT_COMMIT",
    "CIRCLE_SHA1",
    "BUILDKITE_COMMIT",
)


def _target(entry: DecisionEntry) -> str:
    dep = entry.deployment
    return "/".join(str(dep.get(key, "?")) for key in ("platform", "region", "environment"))


def _commit(entry: DecisionEntry) -> str:
    return next((entry.ci[name][:12] for name in COMMIT_VARIABLES if name in entry.ci), "")


def render_list(entries: list[DecisionEntry]) -> str:
    if not entries:
        return "No gate decisions recorded.\n"
    rows = [
        (
            e.seq,
            e.recorded_at.isoformat(),
            e.decision,
            e.model,
            _target(e),
            len(e.blocking),
            e.as_of.isoformat(),
            _commit(e),
            e.digest[:12],
        )
        for e in entries
    ]
    headers = ["#", "RECORDED", "DECISION", "MODEL", "TARGET", "BLOCKING", "AS OF", "COMMIT"]
    return table([*headers, "DIGEST"], rows) + "\n"


def render_entry(entry: DecisionEntry) -> str:
    """One decision: what was decided, on what, and where it sits in the chain."""
    lines = [
        f"decision #{entry.seq}: {entry.decision} (exit {entry.exit_code}): {entry.reason}",
        f"  recorded at      {entry.recorded_at.isoformat()} by aigov {entry.tool_version}",
        f"  model            {entry.model} -> {_target(entry)}",
        f"  deployment       {entry.deployment.get('id', '?')} (from {entry.deployment_source})",
        f"  as of            {entry.as_of} (blocking at {entry.fail_on.value} and above"
        + (", indeterminate too)" if entry.fail_on_indeterminate else ")"),
        f"  policy set       {entry.policy_digest}",
        f"  registry         {entry.registry_digest}",
    ]
    for title, findings in (("blocking", entry.blocking), ("indeterminate", entry.indeterminate)):
        for f in findings:
            lines.append(
                f"  {title:<16} {f.id} {f.policy} [{f.severity.value}, {f.outcome.value}] "
                f"{f.subject_kind} {f.subject}"
            )
    for name, value in entry.ci.items():
        lines.append(f"  ci               {name}={value}")
    lines += [f"  prev             {entry.prev}", f"  digest           {entry.digest}"]
    return "\n".join(printable(line) for line in lines) + "\n"


def render_report(report: ChainReport) -> str:
    if report.intact:
        head = f"; head #{report.head_seq} {report.head}" if report.head else ""
        return printable(f"{report.log}: intact, {report.entries} entries{head}") + "\n"
    first = report.problems[0]
    lines = [f"{report.log}: BROKEN at {first.location}: {first.message}"]
    lines += [f"  {p.location}: {p.message}" for p in report.problems[1:]]
    lines.append(f"{len(report.problems)} problem(s) in {report.entries} entries")
    return "\n".join(printable(line) for line in lines) + "\n"
