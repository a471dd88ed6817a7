"""``aigov explain``: why a model's findings came out as they did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aigov.cli.options import _policy_paths, as_of_option, db_option, policies_option


@click.command()
@db_option
@policies_option
@as_of_option
@click.argument("model")
@click.option(
    "--policy",
    "policy_id",
    metavar="ID",
    help="Explain this policy for every subject of the model, passes included.",
)
def explain(
    db: str | None, policy_paths: tuple[Path, ...], as_of: Any, model: str, policy_id: str | None
) -> None:
    """Explain a model's findings: conditions that held, records and values, lineage path,
    clause and reference, remediation, and what would make it pass."""
    import datetime as dt

    from aigov.api.explain import explain as run_explain
    from aigov.registry.store import open_registry
    from aigov.reports.explain import render_text

    as_of = as_of or dt.date.today()
    with open_registry(db) as registry:
        explanations = run_explain(
            registry, model, policy_id, _policy_paths(policy_paths), as_of=as_of
        )
    click.echo(render_text(explanations, as_of), nl=False)
