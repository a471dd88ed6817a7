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
@as_of_option(default="2025-06-01, the date the example records tell the story at")
def demo(output: str, as_of: Any) -> None:
    """Run the motivating case end to end, with no set-up.

    Builds a temporary SQLite registry from the shipped example registry, audits it with the
    shipped policies (as of 2025-06-01, the date the example records tell the story at),
    writes the HTML report, prints the summary, and gates DeepSeek-R1's proposed production
    deployment on Azure AI Foundry. Exits 0 when the demo ran, whatever it found.
    """
    from aigov.api.demo import DEMO_AS_OF, run_demo
    from aigov.reports import render
    from aigov.reports.demo import render_text
    from aigov.shipped import shipped

    outcome = run_demo(as_of or DEMO_AS_OF)
    report = Path(output)
    report.write_text(render("html", outcome.result), encoding="utf-8")
    records = outcome.imported.records
    examples = shipped("examples")
    click.echo(render_text(records, outcome.result, outcome.decision, report, examples))
