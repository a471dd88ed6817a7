"""Registry test data: a small valid registry holding every kind of record, and writers
of registry files."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]

SAMPLE_REGISTRY: dict[str, Any] = {
    "providers": [
        {
            "id": "openai",
            "name": "OpenAI",
            "aliases": ["OpenAI OpCo, LLC"],
            "jurisdiction": "US",
            "source": "https://openai.com",
        },
        {"id": "deepseek", "name": "DeepSeek", "aliases": ["深度求索"], "jurisdiction": "CN"},
        {"id": "acme", "name": "Acme Cloud", "jurisdiction": "EU"},
    ],
    "terms": [
        {
            "id": "openai-terms-2024",
            "provider": "openai",
            "kind": "tos",
            "title": "OpenAI Terms of Use",
            "version": "2024-01-31",
            "effective_from": "2024-01-31",
            "url": "https://openai.com/policies/terms-of-use",
            "clauses": [
                {
                    "section": "What you cannot do",
                    "type": "prohibits_competing_use_of_outputs",
                    "quote": "Use Output to develop models that compete with OpenAI.",
                    "binds": "account_holder",
                    "ambiguity": "'compete' is not defined",
                },
            ],
        },
        {
            "id": "deepseek-licence",
            "provider": "deepseek",
            "kind": "licence",
            "title": "DeepSeek R1 licence (MIT)",
            "clauses": [
                {
                    "section": "1",
                    "type": "attribution",
                    "params": {"notice": "Copyright (c) 2023 DeepSeek", "mau": 700000000},
                    "exceptions": ["internal evaluation"],
                },
            ],
            "confidence": "verified",
        },
    ],
    "models": [
        {
            "id": "gpt-4o",
            "name": "GPT-4o",
            "provider": "openai",
            "weights": "closed_api",
            "modality": ["text", "image"],
            "is_gpai": True,
        },
        {
            "id": "deepseek-r1",
            "name": "DeepSeek R1",
            "provider": "deepseek",
            "version": "2025-01-20",
            "family": "deepseek",
            "licence": "deepseek-licence",
            "release_date": "2025-01-20",
            "modality": ["text"],
            "weights": "open",
            "training_compute_flop": 4.0e24,
            "is_gpai": True,
            "owner": "ml-platform@example.com",
            "distributed": True,
            "attributions": ["NOTICE file"],
            "eu_placed_on_market": "2025-02-01",
            "systemic_risk_evidence": [
                {"type": "red_team", "ref": "RT-2025-007", "date": "2025-02-10"},
            ],
            "tags": ["reasoning"],
            "description": "Reasoning model.",
        },
        {
            "id": "r1-distill-qwen-7b",
            "name": "R1 Distill Qwen 7B",
            "provider": "deepseek",
            "licence": "MIT",
        },
    ],
    "datasets": [
        {
            "id": "web-crawl",
            "name": "Web crawl",
            "licences": ["CC-BY-4.0"],
            "synthetic": False,
            "url": "https://example.org/crawl",
        },
        {
            "id": "r1-sft-data",
            "name": "R1 SFT data",
            "synthetic": True,
            "generators": ["gpt-4o", "deepseek-r1"],
            "sources": ["web-crawl"],
        },
    ],
    "lineage": [
        {
            "child": "deepseek-r1",
            "parent": "gpt-4o",
            "relation": "trained_on_outputs",
            "evidence": "alleged in press reports",
            "confidence": "alleged",
        },
        {"child": "deepseek-r1", "parent": "web-crawl", "relation": "trained_on"},
        {
            "id": "distill-7b",
            "child": "r1-distill-qwen-7b",
            "parent": "deepseek-r1",
            "relation": "distillation",
        },
    ],
    "investigations": [
        {
            "id": "inv-openai-deepseek",
            "subject": "deepseek",
            "authority": "OpenAI",
            "authority_type": "vendor_internal",
            "allegation": "use of API outputs to train a competing model",
            "allegation_type": "tos_output_misuse",
            "status": "open",
            "opened_at": "2025-01-29",
            "confirmation": "reported",
            "source": "https://example.com/news",
        },
    ],
    "approvals": [
        {
            "id": "appr-r1-eu",
            "model": "deepseek-r1",
            "scope": {
                "platforms": ["acme-cloud"],
                "regions": ["eu-west-1"],
                "environments": ["staging", "prod"],
            },
            "approver": "ai-governance-board",
            "granted_at": "2025-02-15",
            "expires_at": "2026-02-15",
            "status": "conditional",
            "conditions": [{"type": "requires_guardrail", "value": "prompt-shield"}],
            "evidence": [{"type": "security_review", "ref": "SEC-42"}],
            "acknowledged_investigations": ["inv-openai-deepseek"],
        },
    ],
    "deployments": [
        {
            "id": "dep-r1-eu-prod",
            "model": "deepseek-r1",
            "platform": "acme-cloud",
            "region": "eu-west-1",
            "environment": "prod",
            "exposure": "public_catalog",
            "status": "active",
            "guardrails": ["prompt-shield"],
            "approval": "appr-r1-eu",
            "started_at": "2025-03-01",
            "owner": "catalogue-team",
        },
        {
            "id": "dep-7b-dev",
            "model": "r1-distill-qwen-7b",
            "platform": "acme-cloud",
            "region": "us-east-1",
            "environment": "dev",
        },
    ],
    "waivers": [
        {
            "id": "waiver-7b-dev",
            "policy": "HOST-001",
            "subject": "dep-7b-dev",
            "reason": "development sandbox, no external traffic",
            "approved_by": "ciso",
            "granted_at": "2025-03-01",
            "expires_at": "2025-09-01",
            "ticket": "GOV-123",
        },
    ],
}


def dump_registry_file(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


WriteRegistry = Callable[..., Path]


def write_registry_file(
    directory: Path, name: str = "registry.yaml", data: Any = None, *, text: str | None = None
) -> Path:
    """Write one registry file under ``directory`` (sub-directories allowed in ``name``) and
    return its path: what the ``write_registry`` fixture does, in ``registry_dir``.

    ``data`` is dumped as YAML, or as JSON when ``name`` ends in ``.json``; ``text`` is written
    verbatim (for broken files). With neither, the sample registry is written.
    """
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is None:
        content = SAMPLE_REGISTRY if data is None else data
        if path.suffix == ".json":
            text = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
        else:
            text = dump_registry_file(content)
    path.write_text(text, encoding="utf-8")
    return path


def load_bench_generator() -> ModuleType:
    """bench/generate.py (not a package): the synthetic registry the benchmarks use."""
    spec = importlib.util.spec_from_file_location("bench_generate", REPO / "bench" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A small policy set for the synthetic registry (bench/generate.py): an absence join, a lineage
# walk with a clause join and review_if, and a required field; shared by the scale and
# worker tests.
SYNTHETIC_POLICIES = """
policies:
  - id: HOST-S1
    title: Production deployment without a covering approval
    description: synthetic registry test
    family: hosting
    severity: critical
    remediation: approve it
    message: "{{ dep.id }} is not covered"
    subject: {as: dep, kind: deployment, where: {environment: prod, status: active}}
    when:
      absent:
        as: appr
        kind: approval
        where:
          status: {in: [approved, conditional]}
          expires_at: {ge: as_of}
          scope.platforms: {contains: {ref: dep.platform}}
          scope.regions: {contains: {ref: dep.region}}
          scope.environments: {contains: {ref: dep.environment}}
  - id: LIN-S1
    title: Restricted outputs upstream
    description: synthetic registry test
    family: tos
    severity: high
    remediation: review
    message: "{{ model.id }} uses outputs of {{ teacher.id }}"
    subject: {kind: model}
    when:
      all:
        - lineage: {as: teacher, kind: model, via: [distillation, trained_on_outputs, finetune,
                                                    quantized, merge, adapter]}
        - exists: {as: clause, kind: clause, where: {type: prohibits_competing_use_of_outputs,
                                                     provider: {ref: teacher.provider}}}
    review_if:
      test: {clause.ambiguity: {exists: true}}
  - id: GOV-S1
    title: Model owner
    description: synthetic registry test
    family: governance
    severity: low
    remediation: record an owner
    message: "{{ model.id }}"
    subject: {kind: model}
    requires: [model.owner]
"""
