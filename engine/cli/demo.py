"""``aigov demo``: the motivating case end to end, with no set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aigov.cli.options import as_of_option


@click.command()
@click.option(
    "-o",
    "--output",
    default="aigov-report.html",
    show_default=True,
    metavar="PATH",
    help="Where to write the HTML report.",
)
@as_of_option
def demo(output: str, as_of: Any) -> None:
    """Run the motivating case end to end, with no set-up.

    Builds a temporary SQLite registry from the shipped example registry, audits it with the
    shipped policies (as of 2025-06-01, the date the example records tell the story at),
    writes the HTML report, prints the summary, and gates DeepSeek-R1's proposed production
    deployment on Azure AI Foundry. Exits 0 when the demo ran, whatever it found.
    """
    from aigov.api.demo import DEMO_AS_OF, run_demo
    from aigov.reports import render
    from aigov.reports.gate import evidence_line

    outcome = run_demo(as_of or DEMO_AS_OF)
    report = Path(output)
    report.write_text(render("html", outcome.result), encoding="utf-8")
    click.echo(
        f"Imported the example registry ({outcome.imported.records} records) into a "
        "temporary SQLite database and audited it with the shipped policies.\n"
    )
    click.echo(render("text", outcome.result))
    decision = outcome.decision
    dep = decision.deployment
    click.echo(
        f"Gate: may {decision.model} be deployed to {dep['platform']}/{dep['region']}/"
        f"{dep['environment']}?"
    )
    click.echo(f"  {decision.decision} ({decision.reason})")
    for finding in decision.blocking:
        click.echo(f"  [{finding.severity.value}] {finding.policy}: {finding.message}")
        click.echo(f"      evidence: {evidence_line(finding)}")
    click.echo(f"\nHTML report: {report.resolve()}")
    from aigov.shipped import shipped

    click.echo(
        f"Next: aigov registry import {shipped('examples')} (into ./aigov.db), then "
        "aigov audit --as-of 2025-06-01, aigov explain deepseek-r1 --as-of 2025-06-01"
    )
