"""``aigov policy test`` output: JSON for machines, one line a case for people."""

from __future__ import annotations

import json

from aigov.results.policy_tests import TestReport


def render_json(report: TestReport) -> str:
    return json.dumps(
        {
            "ok": report.ok,
            "cases": [
                {
                    "file": r.file,
                    "line": r.line,
                    "name": r.name,
                    "ok": r.ok,
                    "failures": r.failures,
                }
                for r in report.results
            ],
            "coverage": {k: sorted(v) for k, v in sorted(report.coverage.items())},
            "missing_tests": report.missing_tests,
        },
        indent=2,
    )


def render_text(report: TestReport) -> str:
    """Each case (ok or FAIL, with its failures), then the count of cases passed."""
    lines = []
    for result in report.results:
        lines.append(f"{'ok  ' if result.ok else 'FAIL'} {result.file}:{result.line} {result.name}")
        lines += [f"       {failure}" for failure in result.failures]
    passed = sum(r.ok for r in report.results)
    lines.append(f"\n{passed} of {len(report.results)} cases passed")
    return "\n".join(lines)


def warnings(report: TestReport) -> list[str]:
    """Why a run with no failing case still fails: nothing ran, or policies lack cases."""
    out = []
    if not report.results:
        out.append("no test case ran: a run that tests nothing fails")
    if report.missing_tests:
        out.append(
            "policies without both a failing and a passing case: " + ", ".join(report.missing_tests)
        )
    return out
