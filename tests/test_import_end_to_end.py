"""From a folder of real model cards to findings and a gate decision, with no hand-written
registry record: the lineage the cards declare (or imply) is what the shipped policies read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aigov.exit_codes import EXIT_DENY
from aigov_testing.cli import invoke_cli

CARDS = Path(__file__).parents[1] / "examples" / "model-cards"
AS_OF = "2025-06-01"

# (policy, subject) -> outcome, for every finding but the upstream-licence gaps (GOV-005,
# LIN-002), which every stub base model gives and which are checked apart below.
EXPECTED = {
    # a fine-tune of Gemma (its licence: Gemma terms) declared MIT: licence laundering
    ("PROV-004", "princeton-nlp/gemma-2-9b-it-SimPO"): "fail",
    # fine-tunes on datasets whose licence nobody recorded
    ("PROV-002", "princeton-nlp/gemma-2-9b-it-SimPO"): "fail",
    ("PROV-002", "HuggingFaceH4/zephyr-7b-beta"): "fail",
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("cards")
    db = f"sqlite:///{root / 'aigov.db'}"
    result = invoke_cli(
        root,
        "registry",
        "import",
        "--db",
        db,
        "--from",
        "hf",
        CARDS,
        CARDS / "hub-api" / "list_models.json",
    )
    assert result.exit_code == 0, result.output
    return root, db


def audit(registry: tuple[Path, str]) -> dict:
    root, db = registry
    result = invoke_cli(root, "audit", "--db", db, "--as-of", AS_OF, "--format", "json")
    assert result.exit_code == 1, result.output  # findings at or above high: a failed audit
    return json.loads(result.stdout)


def test_the_cards_lineage_gives_the_expected_findings(registry):
    findings = audit(registry)["findings"]
    got = {
        (f["policy"], f["subject"]): f["outcome"]
        for f in findings
        if f["policy"] not in ("GOV-005", "LIN-002")
    }
    assert got == EXPECTED
    (laundering,) = [f for f in findings if f["policy"] == "PROV-004"]
    upstream = laundering["evidence"][0]["records"][1]
    assert (upstream["id"], upstream["fields"]["licence"]) == ("google/gemma-2-9b-it", "gemma")
    # the card states no relation: the edge is the importer's inference, shown as such
    (edge,) = laundering["evidence"][0]["path"]
    assert (edge["relation"], edge["confidence"]) == ("finetune", "inferred")


def test_base_models_only_named_by_a_card_are_reported_as_gaps(registry):
    findings = audit(registry)["findings"]
    gaps = {f["subject"] for f in findings if f["policy"] == "LIN-002"}
    # the GGUF re-upload's base, and the distillation's, are stubs: no licence on record
    assert {"TheBloke/Llama-2-7B-Chat-GGUF", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"} <= gaps
    # a base the import describes (gemma-2-9b-it: licence gemma) is no gap
    assert "princeton-nlp/gemma-2-9b-it-SimPO" not in gaps


def test_the_gate_denies_a_laundered_licence(registry):
    root, db = registry
    result = invoke_cli(
        root, "gate", "--db", db, "princeton-nlp/gemma-2-9b-it-SimPO",
        "--platform", "aws-bedrock", "--region", "us-east-1", "--environment", "prod",
        "--as-of", AS_OF, "--format", "json",
    )  # fmt: skip
    assert result.exit_code == EXIT_DENY, result.output
    decision = json.loads(result.stdout)
    assert decision["decision"] == "DENY"
    blocking = {f["policy"] for f in decision["blocking"]}
    assert {"PROV-004", "PROV-002", "HOST-001"} <= blocking


def test_the_audit_of_imported_cards_is_deterministic(registry):
    root, db = registry
    runs = [
        invoke_cli(root, "audit", "--db", db, "--as-of", AS_OF, "--format", "json").stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
