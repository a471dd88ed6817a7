"""Markdown: a summary sized for a pull-request or merge-request comment.

Contents: the verdict, a counts table (outcome by severity), the blocked models and the top
findings (at most :data:`TOP` of each, then "and N more"), and a link to the full HTML
report written as ``[Full HTML report](REPORT_URL)``. ``REPORT_URL`` is a placeholder: the CI
job that posts the comment replaces it with the address where it published the HTML report,
e.g. ``sed -i "s|REPORT_URL|$CI_JOB_URL/artifacts/file/report.html|" report.md``.

Every registry-derived string is escaped for GitHub/GitLab-flavoured Markdown: ``&``, ``<``
and ``>`` become entities (no HTML can be injected), Markdown punctuation is
backslash-escaped (no links, emphasis or table breaks: a ``|`` cannot end a cell), line
breaks become spaces (a table row stays one line), and control and bidi characters are shown
escaped (``\x1b``, ``\u202e``: :func:`aigov.console.printable`).
"""

from __future__ import annotations

import re
from collections import Counter

from aigov.console import counted, printable
from aigov.reports.common import SHOWN
from aigov.results.findings import BLOCKING, OUTCOME_ORDER, AuditResult, Finding, Outcome
from aigov.results.severity import Severity

TOP = 20
REPORT_URL = "REPORT_URL"
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:@$])")
_NEWLINES = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def escape(text: object) -> str:
    """Make ``text`` inert in GitHub/GitLab Markdown, inside or outside a table cell."""
    value = printable(_NEWLINES.sub(" ", str(text)))
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Entities survive: the escapes never touch '&', ';', '#' inside them or letters.
    return _PUNCTUATION.sub(r"\\\1", value).strip()


def _code(text: str) -> str:
    """Text inside a code span: shown literally, so only controls and backticks (which
    would end the span) need neutralising."""
    return printable(_NEWLINES.sub(" ", text)).replace("`", "'")


def _subject(finding: Finding) -> str:
    if finding.subject_kind == "model":
        return escape(finding.subject)
    return f"{escape(finding.model)} {escape(finding.subject_kind)} {escape(finding.subject)}"


def render(result: AuditResult) -> str:
    blocking = result.blocking()
    verdict = "FAIL" if blocking else "PASS"
    icon = ":x:" if blocking else ":white_check_mark:"
    by_severity = Counter((f.outcome, f.severity) for f in result.findings)
    lines = [
        f"## {icon} aigov audit: {verdict}",
        "",
        f"{counted(len(blocking), 'blocking finding')} (fail or review at or above "
        f"**{result.fail_on.value}**) · as of {result.as_of} · "
        f"{counted(len(result.models), 'model')} · {counted(len(result.policies), 'policy')} · "
        f"policy set `{_code(result.policy_digest[:12])}`"
        + (f" · registry `{_code(result.registry_digest[:12])}`" if result.registry_digest else "")
        + (f" · run {escape(result.run.id)}" if result.run else ""),
        "",
        "| outcome | " + " | ".join(s.value for s in Severity) + " | total |",
        "|---|" + "---:|" * (len(Severity) + 1),
    ]
    for outcome in SHOWN:
        cells = [by_severity[(outcome, s)] for s in Severity]
        lines.append(f"| {outcome.value} | " + " | ".join(map(str, cells)) + f" | {sum(cells)} |")
    lines += [
        "",
        f"Passing: {result.counts.get(Outcome.passed, 0)} · not applicable: "
        f"{result.counts.get(Outcome.not_applicable, 0)} (policy, subject) outcomes.",
        "",
    ]

    blocked = [m for m in result.models if m.status == "blocked"]
    per_model = Counter(f.model for f in blocking)
    lines.append(f"### Blocked models ({len(blocked)} of {len(result.models)})")
    lines.append("")
    if blocked:
        lines += ["| model | name | blocking findings |", "|---|---|---:|"]
        for model in blocked[:TOP]:
            lines.append(f"| {escape(model.id)} | {escape(model.name)} | {per_model[model.id]} |")
        if len(blocked) > TOP:
            lines += ["", f"…and {len(blocked) - TOP} more blocked models."]
    else:
        lines.append("No model is blocked.")
    lines.append("")

    order = {o: i for i, o in enumerate(OUTCOME_ORDER)}
    top = [f for f in result.findings if f.outcome in (*BLOCKING, Outcome.indeterminate)]
    top.sort(key=lambda f: (-f.severity.rank, order[f.outcome], f.model, f.policy, f.subject))
    lines.append(f"### Top findings ({min(len(top), TOP)} of {len(top)})")
    lines.append("")
    if top:
        lines += [
            "| severity | outcome | policy | subject | message |",
            "|---|---|---|---|---|",
        ]
        for f in top[:TOP]:
            lines.append(
                f"| {f.severity.value} | {f.outcome.value} | {escape(f.policy)} | "
                f"{_subject(f)} | {escape(f.message)} |"
            )
        if len(top) > TOP:
            lines += ["", f"…and {len(top) - TOP} more findings (fail, review or indeterminate)."]
    else:
        lines.append("No fail, review or indeterminate findings.")
    waived = sum(1 for f in result.findings if f.outcome == Outcome.waived)
    expired = sum(1 for w in result.waivers if w.expired)
    if waived or expired:
        lines += ["", f"Waived findings: {waived} · expired waivers: {expired}."]
    lines += ["", f"[Full HTML report]({REPORT_URL})", ""]
    return "\n".join(lines)
