"""Synthetic model registry for benchmarks: deterministic from a seed.

Shape (per N models), meant to look like a governed catalogue - mostly compliant, with a
measured minority of problems: about N/40 providers, each with terms whose clauses mix the
types the policy library reads; N/5 datasets (a quarter synthetic, a tenth of those without a
declared generator; ~8% non-commercial, ~4% unspecified; some derived from others); lineage
up to depth 6 with finetune, quantized, merge, adapter, distillation and trained_on_outputs
edges (derivatives mostly keep their base's licence); 1-5 deployments per model across
platforms, regions and environments, with one approval per model covering them - about 5%
expired, 4% out of scope, 1% suspended, 5% without evidence, 3% of deployments missing the
guardrail it requires; GPAI models, most with their EU AI Act records; investigations on ~2%
of providers and models; waivers on 1% of deployments (some expired).

    python bench/generate.py --models 10000 --seed 7 --out bench/out/registry-10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

PLATFORMS = ["azure-ai-foundry", "aws-bedrock", "gcp-vertex", "on-prem", "hf-endpoints"]
REGIONS = ["eastus", "eastus2", "westeurope", "northeurope", "us-west-2", "ap-southeast-1"]
ENVIRONMENTS = ["dev", "staging", "prod"]
EXPOSURES = ["internal", "customer_facing", "public_catalog"]
LICENCES = ["apache-2.0", "apache-2.0", "mit", "llama3.1", "gemma", "cc-by-4.0", "cc-by-nc-4.0"]
RELATIONS = [
    ("finetune", 45),
    ("quantized", 20),
    ("merge", 8),
    ("adapter", 7),
    ("distillation", 12),
    ("trained_on_outputs", 4),
    ("continued_pretraining", 4),
]
AS_OF = dt.date(2025, 6, 1)
CHUNK = 5000


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _day(rng: random.Random, start: int, end: int) -> str:
    return (AS_OF + dt.timedelta(days=rng.randint(start, end))).isoformat()


def generate(models: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """The registry as sections of records (the interchange format)."""
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "providers",
            "terms",
            "models",
            "datasets",
            "lineage",
            "investigations",
            "approvals",
            "deployments",
            "waivers",
        )
    }
    n_providers = max(5, models // 40)
    providers = [f"prov-{i:05d}" for i in range(n_providers)]
    for i, pid in enumerate(providers):
        out["providers"].append(
            {
                "id": pid,
                "name": f"Provider {i}",
                "jurisdiction": rng.choice(["US", "EU", "CN", "UK"]),
            }
        )
        clauses: list[dict[str, Any]] = []
        if i % 4 == 0:
            clauses.append(
                {
                    "section": "2(c)",
                    "type": "prohibits_competing_use_of_outputs",
                    "binds": "account_holder",
                    "ambiguity": "compete is undefined",
                }
            )
        if i % 7 == 0:
            clauses.append(
                {"section": "1.b.i", "type": "name_prefix", "params": {"prefix": f"P{i}"}}
            )
            clauses.append(
                {
                    "section": "1.b.i",
                    "type": "attribution",
                    "params": {"phrases": [f"Built with P{i}"]},
                }
            )
        if i % 11 == 0:
            clauses.append(
                {
                    "section": "1.b.v",
                    "type": "prohibits_improving_other_llms_except_family",
                    "params": {"family": f"fam-{i}"},
                }
            )
        if i % 13 == 0:
            clauses.append({"section": "3", "type": "non_commercial"})
        out["terms"].append(
            {
                "id": f"terms-{pid}",
                "provider": pid,
                "kind": "licence" if i % 2 else "tos",
                "title": f"Terms of provider {i}",
                "version": "1.0",
                "effective_from": "2024-01-01",
                "clauses": clauses,
            }
        )

    n_datasets = max(3, models // 5)
    model_ids = [f"model-{i:06d}" for i in range(models)]
    depth: dict[str, int] = {}
    for i in range(n_datasets):
        did = f"ds-{i:06d}"
        # ~8% non-commercial, ~4% unspecified: the rest licensed for commercial use
        roll = rng.random()
        licence = (
            "cc-by-nc-4.0"
            if roll < 0.08
            else "unspecified"
            if roll < 0.12
            else rng.choice(["cc-by-4.0", "apache-2.0", "odc-by", "mit"])
        )
        record: dict[str, Any] = {"id": did, "name": f"Dataset {i}", "licences": [licence]}
        if i % 4 == 0:
            record["synthetic"] = True
            if i > 0 and rng.random() < 0.9:  # a tenth of synthetic sets declare no generator
                record["generators"] = [model_ids[rng.randrange(max(1, min(i * 5, models)))]]
        if i % 9 == 0 and i > 0:
            record["sources"] = [f"ds-{rng.randrange(i):06d}"]
        out["datasets"].append(record)

    licence_of: dict[str, str | None] = {}
    for i, mid in enumerate(model_ids):
        provider = providers[rng.randrange(n_providers)]
        record = {
            "id": mid,
            "name": f"Model {i}",
            "provider": provider,
            "family": f"fam-{rng.randrange(n_providers)}",
            "release_date": _day(rng, -900, -10),
            "weights": rng.choice(["open", "gated", "closed_api"]),
            "distributed": rng.random() < 0.6,
        }
        if rng.random() < 0.97:
            record["owner"] = f"team-{rng.randrange(50)}@example.com"
        if rng.random() < 0.1:
            record["is_gpai"] = True
            record["training_compute_flop"] = float(rng.choice([3e23, 8e24, 2.5e25, 5e25]))
            if rng.random() < 0.5:
                record["eu_placed_on_market"] = _day(rng, -300, -30)
                if rng.random() < 0.8:
                    record["commission_notified_at"] = _day(rng, -280, -20)
                    record["copyright_policy_url"] = f"https://example.com/{mid}/copyright"
                    record["training_summary_url"] = f"https://example.com/{mid}/summary"
                    record["systemic_risk_evidence"] = [
                        {"type": "red_team", "ref": f"RT-{mid}"},
                        {"type": "safety_evaluation", "ref": f"SE-{mid}"},
                    ]
        if rng.random() < 0.3:
            record["attributions"] = ["NOTICE"]
        # lineage: a model may derive from an earlier one (depth <= 6) and/or a dataset;
        # derivatives mostly keep their base's licence
        depth[mid] = 0
        parents: list[str] = []
        if i > 0 and rng.random() < 0.7:
            wanted = 2 if rng.random() < 0.08 else 1
            for _ in range(wanted):
                parent = model_ids[rng.randrange(max(0, i - 200), i)]
                if depth[parent] < 6 and parent not in parents:
                    parents.append(parent)
            for parent in sorted(parents):
                relation = "merge" if len(parents) > 1 else _weighted(rng, RELATIONS)
                edge = {
                    "child": mid,
                    "parent": parent,
                    "relation": relation,
                    "evidence": f"model card of {mid}: base_model {parent}",
                }
                if rng.random() < 0.05:
                    del edge["evidence"]
                if relation in ("distillation", "trained_on_outputs") and rng.random() < 0.3:
                    edge["confidence"] = "alleged"
                out["lineage"].append(edge)
                depth[mid] = max(depth[mid], depth[parent] + 1)
        if parents and rng.random() < 0.9:
            licence = licence_of[sorted(parents)[0]]
        else:
            licence = rng.choice(LICENCES) if rng.random() > 0.03 else None
        licence_of[mid] = licence
        if licence:
            record["licence"] = licence
        out["models"].append(record)
        if rng.random() < 0.4:
            out["lineage"].append(
                {
                    "child": mid,
                    "parent": f"ds-{rng.randrange(n_datasets):06d}",
                    "relation": rng.choice(["finetune", "trained_on"]),
                    "evidence": "training configuration",
                }
            )

        deployments = []
        for d in range(rng.randint(1, 5)):
            deployments.append(
                {
                    "id": f"dep-{i:06d}-{d}",
                    "model": mid,
                    "platform": rng.choice(PLATFORMS),
                    "region": rng.choice(REGIONS),
                    "environment": rng.choice(ENVIRONMENTS),
                    "exposure": rng.choice(EXPOSURES),
                    "status": rng.choice(["active"] * 6 + ["planned", "retired"]),
                    "guardrails": ["content-filter"],
                }
            )
        # One approval covering the model's deployments, as a review board would grant it;
        # a minority expired, out of scope, suspended, lacking evidence or conditions unmet.
        aid = f"appr-{i:06d}"
        scope = {
            "platforms": sorted({d["platform"] for d in deployments}),
            "regions": sorted({d["region"] for d in deployments}),
            "environments": sorted({d["environment"] for d in deployments}),
        }
        roll = rng.random()
        if roll < 0.04:  # out of scope: the first deployment's region is not covered
            scope["regions"] = [r for r in scope["regions"] if r != deployments[0]["region"]]
            scope["regions"] = scope["regions"] or ["ap-southeast-1"]
        approval = {
            "id": aid,
            "model": mid,
            "approver": "model review board",
            "granted_at": _day(rng, -500, -130),
            "expires_at": _day(rng, -60, -1) if 0.04 <= roll < 0.09 else _day(rng, 40, 500),
            "status": "suspended" if 0.09 <= roll < 0.10 else "approved",
            "scope": scope,
            "evidence": [
                {"type": t, "ref": f"{t}-{aid}"}
                for t in ("red_team", "safety_evaluation", "licence_review")
            ]
            if rng.random() < 0.95
            else [],
            "conditions": [{"type": "requires_guardrail", "value": "content-filter"}],
        }
        out["approvals"].append(approval)
        for dep in deployments:
            dep["approval"] = aid
            if rng.random() < 0.03:
                dep["guardrails"] = []
            out["deployments"].append(dep)
            if rng.random() < 0.01:
                out["waivers"].append(
                    {
                        "id": f"waiver-{dep['id']}",
                        "policy": "HOST-001",
                        "subject": dep["id"],
                        "reason": "migration in progress",
                        "approved_by": "ciso",
                        "granted_at": _day(rng, -200, -100),
                        "expires_at": _day(rng, -60, 120),
                    }
                )

    subjects = rng.sample(providers, max(1, n_providers // 50))
    subjects += rng.sample(model_ids, max(1, models // 50))
    for k, subject in enumerate(sorted(subjects)):
        out["investigations"].append(
            {
                "id": f"inv-{k:05d}",
                "subject": subject,
                "authority": f"Authority {k % 7}",
                "authority_type": rng.choice(["regulator", "vendor_internal", "media_report"]),
                "allegation": "alleged misuse of outputs",
                "allegation_type": "distillation",
                "status": rng.choice(["open", "reported", "closed_unsubstantiated"]),
                "opened_at": _day(rng, -400, -1),
                "confidence": "alleged",
            }
        )
    return out


def write(registry: dict[str, list[dict[str, Any]]], out: Path) -> int:
    """Write the registry as JSON files of at most CHUNK records; return the record count."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    total = 0
    for section, records in registry.items():
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            path = out / f"{section}-{start // CHUNK:04d}.json"
            path.write_text(json.dumps({section: chunk}, separators=(",", ":")))
            total += len(chunk)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    count = write(generate(args.models, args.seed), args.out)
    print(f"wrote {count} records for {args.models} models to {args.out}")


if __name__ == "__main__":
    main()
