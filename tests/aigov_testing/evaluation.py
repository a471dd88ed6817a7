"""Evaluate a policy file's text over a registry's data, through the real compiler, SQLite
registry and engine, for the tests of the policy language."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from aigov.compile.compiler import compile_policies
from aigov.evaluate.outcomes import PartitionEvaluator
from aigov.evaluate.pipeline import iter_partitions, resolve_models
from aigov.policy.loader import load_policies
from aigov.registry.operations import import_paths
from aigov.registry.store import open_registry
from aigov.results.findings import Finding, Outcome
from aigov.results.severity import Severity


def evaluate_policies(
    folder: Path, policies: str, registry: dict[str, Any], as_of: dt.date
) -> tuple[dict[tuple[str, str], Outcome], dict[tuple[str, str], Finding]]:
    """Every (policy, subject) outcome and finding; ``folder`` is a new, empty directory."""
    pdir = folder / "policies"
    pdir.mkdir(parents=True)
    (pdir / "p.yaml").write_text(policies, encoding="utf-8")
    rfile = folder / "registry.yaml"
    rfile.write_text(yaml.safe_dump(registry), encoding="utf-8")
    compiled = compile_policies(load_policies([pdir], include_builtin=False), as_of)
    evaluator = PartitionEvaluator(compiled, Severity.high)
    outcomes: dict[tuple[str, str], Outcome] = {}
    findings: dict[tuple[str, str], Finding] = {}
    with open_registry(f"sqlite:///{folder / 'registry.db'}", create=True) as reg:
        import_paths(reg, [rfile])
        for partition in iter_partitions(reg, compiled, resolve_models(reg)):
            result = evaluator(partition)
            outcomes.update(result.outcomes)
            findings.update({(f.policy, f.subject): f for f in result.findings})
    return outcomes, findings
