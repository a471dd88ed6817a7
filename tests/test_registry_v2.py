"""Registry schema v2 vocabulary: global endpoints, dataset creators, who performed a lineage
step (the licence and policy-language parts have their own test files)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from aigov_testing.cli import invoke_cli

BASE = {
    "providers": [{"id": "acme", "name": "Acme"}, {"id": "other", "name": "Other"}],
    "models": [{"id": "m", "name": "Acme-M", "provider": "acme", "licence": "MIT", "owner": "ml"}],
    "approvals": [
        {
            "id": "appr-global",
            "model": "m",
            "approver": "risk",
            "granted_at": "2025-01-01",
            "scope": {"platforms": ["catalog"], "regions": ["global"], "environments": ["prod"]},
        },
        {
            "id": "appr-eu",
            "model": "m",
            "approver": "risk",
            "granted_at": "2025-01-01",
            "scope": {
                "platforms": ["regional"],
                "regions": ["eu-west-1"],
                "environments": ["prod"],
            },
        },
    ],
}


def _registry(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'aigov.db'}"
    result = invoke_cli(tmp_path, "registry", "import", "--db", url, str(path))
    assert result.exit_code == 0, result.output
    return url


def _gate_blocking(tmp_path: Path, url: str, *args: str) -> tuple[dict, set[str]]:
    result = invoke_cli(
        tmp_path,
        "gate",
        "m",
        "--db",
        url,
        "--as-of",
        "2025-06-01",
        "--no-record",
        "--format",
        "json",
        *args,
    )
    assert result.exit_code in (0, 1), result.output
    decision = json.loads(result.stdout)
    return decision, {f["policy"] for f in decision["blocking"]}


def test_a_deployment_without_a_region_is_a_global_endpoint(tmp_path: Path) -> None:
    url = _registry(tmp_path, BASE)
    decision, blocking = _gate_blocking(tmp_path, url, "--platform", "catalog")
    assert decision["deployment"]["region"] == "global"
    assert decision["deployment"]["id"] == "proposed:m:catalog:global:prod"
    assert "HOST-001" not in blocking  # appr-global covers it
    # an approval scoped to one region does not cover a global endpoint
    _, blocking = _gate_blocking(tmp_path, url, "--platform", "regional")
    assert "HOST-001" in blocking
    _, blocking = _gate_blocking(tmp_path, url, "--platform", "regional", "--region", "eu-west-1")
    assert "HOST-001" not in blocking


def test_stored_deployment_without_region_reads_back_as_global(tmp_path: Path) -> None:
    data = {
        **BASE,
        "deployments": [{"id": "dep", "model": "m", "platform": "catalog", "environment": "prod"}],
    }
    url = _registry(tmp_path, data)
    shown = invoke_cli(tmp_path, "registry", "show", "--db", url, "dep", "--format", "json")
    assert json.loads(shown.stdout)["record"]["region"] == "global"


def test_creator_and_performed_by_must_name_providers(tmp_path: Path) -> None:
    data = {
        **BASE,
        "datasets": [{"id": "ds", "name": "DS", "creator": "nobody"}],
        "lineage": [
            {"child": "m", "parent": "ds", "relation": "trained_on", "performed_by": "ghost"}
        ],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'aigov.db'}"
    result = invoke_cli(tmp_path, "registry", "import", "--db", url, str(path))
    assert result.exit_code == 2
    assert "creator" in result.stderr and "'nobody'" in result.stderr
    assert "performed_by" in result.stderr and "'ghost'" in result.stderr
    assert not (tmp_path / "aigov.db").exists()


def test_conversion_is_a_model_to_model_relation(tmp_path: Path) -> None:
    data = {
        **BASE,
        "datasets": [{"id": "ds", "name": "DS", "creator": "other"}],
        "lineage": [{"child": "m", "parent": "ds", "relation": "conversion"}],
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = invoke_cli(tmp_path, "registry", "import", "--db", "sqlite://", str(path))
    assert result.exit_code == 2
    assert "conversion" in result.stderr and "dataset" in result.stderr


UNVERIFIED_LICENCE_POLICY = """\
id: ACME-910
title: Licence known only from an unverified source
description: A licence nobody checked against the licensor's own text.
family: provenance
severity: high
remediation: Check the licence against the model's own licence file.
message: "{{ model.name }}: licence {{ model.licence }} is unverified."
subject: {kind: model}
when:
  test: {model.confidence_of.licence: {in: [unverified, alleged]}}
"""


def test_a_field_carries_its_own_confidence_and_source(tmp_path: Path) -> None:
    data = {
        "providers": BASE["providers"],
        "models": [
            {
                "id": "listed",
                "name": "Listed",
                "provider": "acme",
                "licence": {
                    "value": "MIT",
                    "confidence": "unverified",
                    "source": "https://x.example",
                },
                "attributions": {"unknown": True, "source": "nobody checked"},
            },
            # the record's own confidence is every field's default
            {
                "id": "rumoured",
                "name": "Rumoured",
                "provider": "acme",
                "licence": "MIT",
                "confidence": "alleged",
            },
            {"id": "card", "name": "Card", "provider": "acme", "licence": "MIT"},
        ],
    }
    url = _registry(tmp_path, data)
    shown = json.loads(
        invoke_cli(tmp_path, "registry", "show", "--db", url, "listed", "--format", "json").stdout
    )["record"]
    assert shown["licence"] == "MIT" and shown["unknown"] == ["attributions"]
    assert shown["provenance"] == {
        "licence": {"confidence": "unverified", "source": "https://x.example"},
        "attributions": {"source": "nobody checked"},
    }
    # the canonical form exported re-imports with no change
    export = tmp_path / "export.yaml"
    assert invoke_cli(tmp_path, "registry", "export", "--db", url, "-o", str(export)).exit_code == 0
    again = invoke_cli(tmp_path, "registry", "import", "--db", url, str(export), "--format", "json")
    report = json.loads(again.stdout)
    assert (report["created"], report["updated"], report["unchanged"]) == ({}, {}, 5)
    # a policy reads a field's confidence
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "acme-910.yaml").write_text(UNVERIFIED_LICENCE_POLICY, encoding="utf-8")
    audit = invoke_cli(
        tmp_path, "audit", "--db", url, "--policies", str(tmp_path / "p"), "--no-record",
        "--format", "json",
    )  # fmt: skip
    failing = {
        f["model"] for f in json.loads(audit.stdout)["findings"] if f["policy"] == "ACME-910"
    }
    assert failing == {"listed", "rumoured"}


def test_unknown_must_name_an_optional_field_without_a_value(tmp_path: Path) -> None:
    for model, message in (
        ({"licence": "MIT", "unknown": ["licence"]}, "'licence' is recorded as unknown but"),
        ({"unknown": ["licnce"]}, "'licnce', which is not a field"),
        ({"provenance": {"name": {"confidence": "sure"}}}, "confidence"),
        ({"unknown": ["name"]}, "'name' is required"),
    ):
        path = tmp_path / "bad.yaml"
        record = {"id": "m", "name": "M", "provider": "acme", **model}
        path.write_text(
            yaml.safe_dump({"providers": BASE["providers"], "models": [record]}), encoding="utf-8"
        )
        result = invoke_cli(tmp_path, "registry", "import", "--db", "sqlite://", str(path))
        assert result.exit_code == 2, model
        assert "bad.yaml:" in result.stderr and message in result.stderr, result.stderr


def test_the_licence_in_force_at_as_of_is_evaluated(tmp_path: Path) -> None:
    """A dataset released under CC-BY-4.0 and relicensed non-commercial the next day."""
    data = {
        "providers": BASE["providers"],
        "models": [
            {
                "id": "m",
                "name": "Acme-M",
                "provider": "acme",
                "licence": "MIT",
                "owner": "ml",
                "distributed": True,
            },
        ],
        "datasets": [
            {
                "id": "ds",
                "name": "Relicensed",
                "licences": ["CC-BY-NC-4.0"],
                "licence_history": [
                    {
                        "licence": "CC-BY-NC-4.0",
                        "effective_from": "2024-03-02",
                        "source": "https://example.org/commit/2",
                    },
                    {
                        "licence": "CC-BY-4.0",
                        "effective_from": "2024-03-01",
                        "source": "https://example.org/commit/1",
                    },
                ],
            }
        ],
        "lineage": [{"child": "m", "parent": "ds", "relation": "trained_on", "evidence": "card"}],
    }
    url = _registry(tmp_path, data)

    def prov_001(as_of: str) -> list[dict]:
        result = invoke_cli(
            tmp_path, "audit", "--db", url, "--as-of", as_of, "--no-record", "--format", "json"
        )
        findings = json.loads(result.stdout)["findings"]
        return [f for f in findings if f["policy"] == "PROV-001"]

    assert prov_001("2024-03-01") == []  # still CC-BY-4.0 that day
    (finding,) = prov_001("2024-03-02")
    assert finding["outcome"] == "fail"
    (record,) = [r for e in finding["evidence"] for r in e["records"] if r["id"] == "ds"]
    assert record["fields"]["licence_class"] == "non_commercial"
    assert [h["licence"] for h in record["fields"]["licence_history"]] == [
        "CC-BY-4.0",
        "CC-BY-NC-4.0",
    ]
    # the history is kept in date order
    shown = invoke_cli(tmp_path, "registry", "show", "--db", url, "ds", "--format", "json")
    history = json.loads(shown.stdout)["record"]["licence_history"]
    assert [h["effective_from"] for h in history] == ["2024-03-01", "2024-03-02"]


def test_two_licence_changes_on_one_date_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    model = {
        "id": "m",
        "name": "M",
        "provider": "acme",
        "licence_history": [
            {"licence": "MIT", "effective_from": "2024-01-01"},
            {"licence": "Apache-2.0", "effective_from": "2024-01-01"},
        ],
    }
    path.write_text(yaml.safe_dump({"providers": BASE["providers"], "models": [model]}))
    result = invoke_cli(tmp_path, "registry", "import", "--db", "sqlite://", str(path))
    assert result.exit_code == 2
    assert "licence_history" in result.stderr and "same date" in result.stderr


LLAMA = {
    "providers": [{"id": "meta", "name": "Meta"}, {"id": "acme", "name": "Acme"}],
    "terms": [
        {
            "id": "llama31",
            "provider": "meta",
            "kind": "licence",
            "title": "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT",
            "clauses": [
                {"section": "1.b.i", "type": "name_prefix", "params": {"prefix": "Llama"}},
                {
                    "section": "1.b.i",
                    "type": "attribution",
                    "params": {"phrases": ["Built with Llama"]},
                },
            ],
        }
    ],
    "models": [
        {"id": "llama", "name": "Llama-3.1-8B", "provider": "meta", "licence": "llama31"},
    ],
}


def _audit(tmp_path: Path, data: dict) -> dict:
    url = _registry(tmp_path, data)
    result = invoke_cli(
        tmp_path, "audit", "--db", url, "--as-of", "2025-06-01", "--no-record", "--format", "json"
    )
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def _finding(report: dict, policy: str, model: str) -> dict:
    (found,) = [f for f in report["findings"] if f["policy"] == policy and f["model"] == model]
    return found


def test_a_field_known_to_be_unknown_makes_the_outcome_a_review(tmp_path: Path) -> None:
    data = {**LLAMA, "models": [*LLAMA["models"],
        {"id": "looked", "name": "Llama-3.1-8B-Chat", "provider": "acme", "licence": "llama31",
         "distributed": True, "unknown": ["attributions"]},
        {"id": "silent", "name": "Llama-3.1-8B-Chat2", "provider": "acme", "licence": "llama31",
         "distributed": True},
    ], "lineage": [
        {"child": "looked", "parent": "llama", "relation": "finetune", "evidence": "card"},
        {"child": "silent", "parent": "llama", "relation": "finetune", "evidence": "card"},
    ]}  # fmt: skip
    report = _audit(tmp_path, data)
    looked = _finding(report, "TOS-005", "looked")
    # a review, which blocks like a fail: recording a fact as unknown never lets a gate ALLOW
    assert looked["outcome"] == "review"
    url = f"sqlite:///{tmp_path / 'aigov.db'}"
    gate = invoke_cli(
        tmp_path, "gate", "looked", "--db", url, "--platform", "p", "--as-of", "2025-06-01",
        "--fail-on", "medium", "--no-record", "--format", "json",
    )  # fmt: skip
    assert gate.exit_code == 1, gate.output
    decision = json.loads(gate.stdout)
    assert decision["decision"] == "DENY"
    assert "TOS-005" in {f["policy"] for f in decision["blocking"]}
    assert looked["missing"] == ["model.attributions (known to be unknown)"]
    # no attributions recorded (an empty list) is a statement: they are not displayed
    assert _finding(report, "TOS-005", "silent")["outcome"] == "fail"


def test_a_fail_resting_on_an_unverified_fact_is_a_review(tmp_path: Path) -> None:
    data = {**LLAMA, "models": [*LLAMA["models"],
        {"id": "listed", "name": "Acme-8B", "provider": "acme", "distributed": True,
         "licence": {"value": "MIT", "confidence": "unverified", "source": "https://x.example"}},
        {"id": "card", "name": "Acme-8B-2", "provider": "acme", "distributed": True,
         "licence": "MIT"},
        {"id": "rumour", "name": "Acme-8B-3", "provider": "acme", "licence": "MIT",
         "distributed": True},
    ], "lineage": [
        {"child": "listed", "parent": "llama", "relation": "finetune", "evidence": "card"},
        {"child": "card", "parent": "llama", "relation": "finetune", "evidence": "card"},
        {"child": "rumour", "parent": "llama", "relation": "finetune", "evidence": "blog",
         "confidence": "alleged"},
    ]}  # fmt: skip
    report = _audit(tmp_path, data)
    listed = _finding(report, "LIN-001", "listed")
    assert listed["outcome"] == "review"
    assert listed["weak_facts"] == ["model listed: licence (unverified)"]
    declared = _finding(report, "LIN-001", "card")
    assert declared["outcome"] == "fail" and declared["weak_facts"] == []
    rumour = _finding(report, "LIN-001", "rumour")
    assert rumour["outcome"] == "review"
    assert rumour["weak_facts"] and all(
        fact.startswith("lineage rumour~finetune~llama: ") and fact.endswith("(alleged)")
        for fact in rumour["weak_facts"]
    ), rumour["weak_facts"]
