"""``aigov coverage`` output: framework coverage as text, JSON, HTML and OSCAL.

Every format is a function of a :class:`~aigov.results.coverage.CoverageReport` and the audit
result it was built from (None for the mapping alone), registered by name in
:data:`FORMATS`; the OSCAL ones are in :mod:`aigov.reports.oscal`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from aigov.results.coverage import ControlCoverage, CoverageReport, FrameworkCoverage
from aigov.results.findings import AuditResult, Outcome

# How outcomes are named in counts ("2 fail, 19 n/a").
SHORT = {
    Outcome.fail: "fail",
    Outcome.review: "review",
    Outcome.indeterminate: "indeterminate",
    Outcome.waived: "waived",
    Outcome.passed: "pass",
    Outcome.not_applicable: "n/a",
}
TITLE_WIDTH = 64


@dataclass(frozen=True)
class CoverageFormat:
    name: str
    module: str  # imported on first use: the OSCAL models and Jinja load only when asked for
    function: str
    needs_run: bool = False  # assessment results describe an audit run
    description: str = ""

    def render(self, report: CoverageReport, result: AuditResult | None) -> str:
        render: Callable[[CoverageReport, AuditResult | None], str] = getattr(
            import_module(self.module), self.function
        )
        return render(report, result)


FORMATS: dict[str, CoverageFormat] = {
    f.name: f
    for f in (
        CoverageFormat("text", __name__, "render_text", description="tables for the terminal"),
        CoverageFormat("json", __name__, "render_json", description="the CoverageReport model"),
        CoverageFormat("html", __name__, "render_html", description="a self-contained page"),
        CoverageFormat(
            "oscal",
            "aigov.reports.oscal",
            "assessment_results",
            needs_run=True,
            description="OSCAL assessment results of the run",
        ),
        CoverageFormat(
            "oscal-component",
            "aigov.reports.oscal",
            "component_definition",
            description="the mapping as an OSCAL component definition",
        ),
    )
}


def counts_text(counts: dict[Outcome, int]) -> str:
    return ", ".join(f"{n} {SHORT[o]}" for o, n in counts.items()) or "-"


def _clip(text: str, width: int = TITLE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _rows(framework: FrameworkCoverage, with_run: bool) -> list[list[str]]:
    def row(c: ControlCoverage) -> list[str]:
        policies = ", ".join(c.policies) or "not covered"
        if not with_run:
            return [c.id, _clip(c.title), policies]
        return [
            c.id,
            SHORT[c.outcome] if c.outcome is not None else "",
            counts_text(c.models) if c.policies else "",
            counts_text(c.findings) if c.policies else "",
            _clip(c.title),
            policies,
        ]

    return [row(c) for c in framework.controls]


def render_text(report: CoverageReport, result: AuditResult | None = None) -> str:
    from aigov.console import table

    lines: list[str] = []
    if report.run is not None:
        run = report.run
        lines.append(
            f"run {run.id or '(not recorded)'}: as of {run.as_of}, {run.models} models; "
            f"outcome and models: the worst outcome of each control's policies per model"
        )
    else:
        lines.append("no audit run: the policy-to-control mapping only")
    source = "the run's policy catalogue" if report.mapping == "run" else "the policy set"
    digest = f" {report.policy_digest[:12]}" if report.policy_digest else ""
    lines.append(f"mapping from {source}{digest} ({len(report.policies)} policies)")
    if report.unmapped_policies:
        lines.append("policies naming no control: " + ", ".join(report.unmapped_policies))
    if report.unknown_controls:
        lines.append("controls not in today's catalogues: " + "; ".join(report.unknown_controls))
    with_run = report.run is not None
    headers = (
        ["CONTROL", "OUTCOME", "MODELS", "FINDINGS", "SUMMARY", "POLICIES"]
        if with_run
        else ["CONTROL", "SUMMARY", "POLICIES"]
    )
    for framework in report.frameworks:
        scope = "every control" if framework.scope == "complete" else "a selection of controls"
        lines += [
            "",
            f"{framework.short_title}: {framework.covered} of {framework.total} controls covered "
            f"({scope}; {framework.title}, {framework.version})",
            *textwrap.wrap(framework.note, 100),
            "",
            table(headers, _rows(framework, with_run)),
        ]
    return "\n".join(lines) + "\n"


def render_json(report: CoverageReport, result: AuditResult | None = None) -> str:
    return report.model_dump_json(indent=2) + "\n"


def render_html(report: CoverageReport, result: AuditResult | None = None) -> str:
    from aigov.reports.html import render_coverage_page

    return render_coverage_page(report)
