"""``aigov demo``: the motivating case end to end, with nothing set up beforehand.

Builds a throw-away SQLite registry from the shipped example registry, audits it with the
shipped policy library, writes the HTML report, and asks the gate whether DeepSeek-R1 may
be deployed to production on Azure AI Foundry - while its maker is under investigation.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from aigov.api.gate import gate, proposed_deployment
from aigov.evaluate.pipeline import audit, resolve_policies
from aigov.registry.operations import ImportReport, import_paths
from aigov.registry.store import open_registry
from aigov.results.decisions import GateDecision
from aigov.results.findings import AuditResult
from aigov.shipped import shipped


class _SeedDeployment(TypedDict):
    """The arguments of :func:`proposed_deployment` for the demo's gate decision."""

    model: str
    platform: str
    region: str
    environment: str
    exposure: str
    guardrails: list[str]
    approval: str


# The example registry tells the story as it stood in mid-2025 (its approvals and waivers
# are dated accordingly), so the demo evaluates as of that date.
DEMO_AS_OF = dt.date(2025, 6, 1)
# The deployment as the catalogue would propose it: with the content filter its approval
# requires, under that approval.
SEED_DEPLOYMENT: _SeedDeployment = {
    "model": "deepseek-r1",
    "platform": "azure-ai-foundry",
    "region": "eastus",
    "environment": "prod",
    "exposure": "public_catalog",
    "guardrails": ["azure-content-safety"],
    "approval": "appr-r1-azure",
}


@dataclass
class DemoResult:
    imported: ImportReport
    result: AuditResult
    decision: GateDecision


def run_demo(as_of: dt.date = DEMO_AS_OF) -> DemoResult:
    policies = resolve_policies(None)
    with tempfile.TemporaryDirectory(prefix="aigov-demo-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        with open_registry(url, create=True) as registry:
            imported = import_paths(registry, [shipped("examples")])
            result = audit(registry, policies, as_of, workers=1, registry_digest=True)
            deployment = proposed_deployment(**SEED_DEPLOYMENT)
            decision = gate(registry, deployment, policies, as_of=as_of)
    return DemoResult(imported, result, decision)
