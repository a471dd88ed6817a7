"""The second example registry, ``examples/open-models/``: real public open-model lineages.

It is imported into a real SQLite file and audited through the CLI with the shipped library,
``--as-of 2025-06-01``. ``EXPECTED`` states, for every model in the folder, the outcome of each
policy its records were chosen to exercise (``examples/open-models/README.md`` says why): the
real findings (Hermes 3's name and licence, SimPO's MIT label over Gemma, Alpaca-Cleaned's
CC-BY over CC-BY-NC data), ``review`` where the finding rests on an alleged or unverified
fact, and ``review`` where a policy reads a field recorded as known to be unknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result

from aigov_testing.cli import invoke_cli
from aigov_testing.env import CLEAN_ENV

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
OPEN_MODELS = REPO / "examples" / "open-models"
AS_OF = "2025-06-01"

EXPECTED: dict[str, dict[str, str]] = {
    # Llama 3.1 fine-tune by a third party: licence `llama3` on a Llama 3.1 base, name "Hermes-…",
    # no "Built with Llama" on the card.
    "hermes-3-llama-3.1-8b": {"LIN-001": "fail", "TOS-004": "fail", "TOS-005": "fail"},
    # its GGUF re-upload (conversion): licence and attributions known to be unknown
    "hermes-3-llama-3.1-8b-gguf": {
        "TOS-004": "fail",
        "TOS-005": "review",
        "LIN-001": "review",
        "LIN-003": "review",
    },
    "meta-llama-3.1-8b": {"TOS-004": "pass", "TOS-005": "pass", "LIN-003": "pass"},
    # three-parent mergekit merge; two parents' licences are known unknowns
    "llama3-merge-biomed-8b": {
        "TOS-004": "fail",
        "TOS-005": "review",
        "LIN-001": "pass",
        "LIN-002": "review",
        "GOV-005": "review",
        "PROV-004": "pass",
    },
    "meta-llama-3-8b-instruct": {"TOS-004": "pass", "LIN-003": "pass"},
    "hermes-2-pro-llama-3-8b": {"LIN-003": "review"},
    "llama3-openbiollm-8b": {"LIN-003": "review"},
    # Zephyr: ChatGPT / GPT-4 generated data through third-party datasets ("compete" undefined)
    "zephyr-7b-beta": {
        "TOS-001": "review",
        "PROV-003": "pass",
        "PROV-004": "pass",
        "PROV-005": "pass",
        "LIN-001": "pass",
    },
    "mistral-7b-v0.1": {"LIN-003": "pass"},
    "openai-gpt-3.5-turbo": {"TOS-001": "pass", "LIN-003": "not_applicable"},
    "openai-gpt-4": {"TOS-001": "pass", "LIN-003": "not_applicable"},
    "openai-gpt-4o-mini": {"TOS-001": "pass", "LIN-003": "not_applicable"},
    "openai-text-davinci-003": {"TOS-001": "pass", "LIN-003": "not_applicable"},
    "google-gemini-2.5-pro": {"TOS-001": "pass", "LIN-003": "not_applicable"},
    # distillations
    "deepseek-r1": {"TOS-001": "pass", "LIN-003": "pass"},
    "deepseek-r1-0528": {"TOS-001": "review"},  # the alleged Gemini-outputs edge
    "bespoke-stratos-7b": {"TOS-001": "pass", "PROV-003": "pass", "LIN-001": "pass"},
    "qwen2.5-7b-instruct": {"LIN-003": "pass"},
    "sky-t1-32b-preview": {"TOS-001": "review", "PROV-003": "pass", "LIN-001": "pass"},
    "qwen2.5-32b-instruct": {"LIN-003": "pass"},
    "qwq-32b-preview": {"LIN-003": "pass"},
    # Gemma fine-tune labelled MIT; its preference data's licence is a known unknown
    "gemma-2-9b-it-simpo": {
        "LIN-001": "fail",
        "PROV-004": "fail",
        "TOS-008": "fail",
        "PROV-002": "review",
        "TOS-004": "pass",
    },
    "gemma-2-9b-it": {"TOS-008": "pass", "LIN-003": "pass"},
    # LoRA adapter on non-commercial LLaMA: the MIT licence is unverified (review), the
    # dataset's relabelling CC-BY-NC -> CC-BY is declared on both sides (fail)
    "alpaca-lora-7b": {
        "LIN-001": "review",
        "PROV-001": "review",
        "PROV-004": "review",
        "PROV-005": "fail",
        "PROV-003": "pass",
        "TOS-001": "review",
    },
    "llama-7b": {"LIN-003": "pass"},
    # relicensed Microsoft Research License -> MIT (licence_history)
    "phi-2": {"LIN-003": "pass", "PROV-004": "pass"},
    # `license: other`: the quantization carries a base of unknown licence class
    "mistral-small-instruct-2409": {"LIN-003": "pass", "LIN-002": "pass"},
    "mistral-small-instruct-2409-imat-gguf": {"LIN-002": "fail", "LIN-003": "pass"},
    # the Qwen licence's attribution duty does not bind the licensor's own quantization
    "qwen2.5-72b-instruct": {"TOS-005": "pass", "LIN-003": "pass"},
    "qwen2.5-72b-instruct-awq": {"TOS-005": "pass", "LIN-001": "pass"},
}

Aigov = Callable[..., Result]


def registry_records() -> list[tuple[str, str, dict[str, Any]]]:
    """(file name, section, record) for every record in the folder."""
    found = []
    for path in sorted(OPEN_MODELS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for section, records in document.items():
            if section != "schema_version":
                found += [(path.name, section, record) for record in records]
    return found


@pytest.fixture(scope="module")
def aigov(tmp_path_factory: pytest.TempPathFactory) -> Aigov:
    cwd = tmp_path_factory.mktemp("cwd")
    return lambda *args: invoke_cli(cwd, *args, env=CLEAN_ENV)


@pytest.fixture(scope="module")
def audit(aigov: Aigov, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON audit of examples/open-models under the shipped library."""
    work = tmp_path_factory.mktemp("open-models")
    url = f"sqlite:///{work / 'open-models.db'}"
    imported = aigov("registry", "import", "--db", url, OPEN_MODELS)
    assert imported.exit_code == 0, imported.output
    out = work / "audit.json"
    result = aigov(
        "audit", "--db", url, "--policies", POLICIES, "--as-of", AS_OF, "--no-record",
        "--quiet", "--workers", "1", "--format", "json", "-o", out,
    )  # fmt: skip
    # high findings (TOS-004, PROV-004, TOS-008, ...) exist, so 1, not 2 (an error)
    assert result.exit_code == 1, result.output
    return json.loads(out.read_text(encoding="utf-8"))


def test_every_model_of_the_folder_has_expectations() -> None:
    models = {record["id"] for _, section, record in registry_records() if section == "models"}
    assert len(models) >= 15
    assert models == set(EXPECTED)


def test_every_record_names_its_source() -> None:
    unsourced = [
        f"{name}: {section} {record.get('id') or (record['child'], record['parent'])}"
        for name, section, record in registry_records()
        if not str(record.get("source") or "").strip()
    ]
    assert unsourced == []


def test_the_folder_exercises_every_v2_feature() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in OPEN_MODELS.glob("*.yaml"))
    records = registry_records()
    lineage = [record for _, section, record in records if section == "lineage"]
    relations = {edge["relation"] for edge in lineage}
    assert {"finetune", "adapter", "quantized", "conversion", "merge", "trained_on"} <= relations
    assert {"trained_on_outputs"} <= relations
    assert any(edge.get("performed_by") for edge in lineage)
    assert any(record.get("creator") for _, section, record in records if section == "datasets")
    assert any(record.get("licence_history") for _, _, record in records)
    for marker in ("unknown: true", "unknown: [", "confidence: alleged", "confidence: unverified"):
        assert marker in text, marker


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_expected_outcomes(audit: dict[str, Any], model: str) -> None:
    (result,) = [m for m in audit["models"] if m["id"] == model]
    actual = {
        policy: result["outcomes"].get(policy, "not_applicable") for policy in EXPECTED[model]
    }
    assert actual == EXPECTED[model]


def test_known_unknowns_and_alleged_facts_are_neither_pass_nor_fail(audit: dict) -> None:
    """The acceptance of issue #12: a ``review`` from a known unknown and a ``review``
    from an alleged fact, each with the record that carries it in the evidence."""
    outcomes = {m["id"]: m["outcomes"] for m in audit["models"]}
    # the GGUF's `attributions` is recorded as unknown: TOS-005 can neither pass nor fail it
    assert outcomes["hermes-3-llama-3.1-8b-gguf"]["TOS-005"] == "review"
    # the same duty on Hermes 3 itself, whose card was read, is a plain fail
    assert outcomes["hermes-3-llama-3.1-8b"]["TOS-005"] == "fail"
    findings = {(f["policy"], f["model"]): f for f in audit["findings"]}
    alleged = findings[("TOS-001", "deepseek-r1-0528")]
    assert alleged["outcome"] == "review"
    edges = {step["edge"] for match in alleged["evidence"] for step in match["path"]}
    assert "deepseek-r1-0528~trained_on_outputs~google-gemini-2.5-pro" in edges


def test_relabelled_alpaca_data_is_flagged_with_its_source(audit: dict) -> None:
    (finding,) = [
        f for f in audit["findings"] if f["policy"] == "PROV-005" and f["model"] == "alpaca-lora-7b"
    ]
    records = {record["id"] for match in finding["evidence"] for record in match["records"]}
    assert {"ds-alpaca-cleaned", "ds-stanford-alpaca"} <= records
