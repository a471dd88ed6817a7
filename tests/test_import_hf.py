"""The Hugging Face model-card importer: real cards' facts mapped onto registry records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aigov.errors import Problem
from aigov.registry.importers import STUB_MARK, ImportBatch
from aigov.registry.importers.hf import read_hf
from aigov.registry.interchange import check_references, validate_documents
from aigov.registry.records import LineageBase

FIXTURES = Path(__file__).parents[1] / "examples" / "model-cards"
API = FIXTURES / "hub-api" / "list_models.json"
PHI2_SHA = "e22cfa2e0986cef469975f9118cc72aacd23c321"
PLATYPUS_SHA = "1f5c7b1d2593586f4f1e5199157a291ded5d3120"


@pytest.fixture(scope="module")
def batch() -> ImportBatch:
    return read_hf([str(FIXTURES), str(API)])


def records(documents: list[Any], section: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for d in documents for r in d.data.get(section, [])}


# id -> (provider, version, licence, weights, modality, unknown)
MODELS = {
    "Edens-Gate/Holland-Magnum-Merge-R2": ("Edens-Gate", None, None, None, None, None),
    "HuggingFaceH4/zephyr-7b-beta": ("HuggingFaceH4", None, "MIT", None, ["text"], None),
    "Qwen/QwQ-32B-Preview": ("Qwen", None, "Apache-2.0", None, None, None),
    "Qwen/Qwen2.5-32B-Instruct": ("Qwen", None, "Apache-2.0", None, ["text"], None),
    "Qwen/Qwen2.5-72B-Instruct": ("Qwen", None, "qwen", None, ["text"], None),
    "TheBloke/Llama-2-7B-Chat-GGUF": ("TheBloke", None, "llama2", None, ["text"], None),
    "TheBloke/Platypus2-13B-GPTQ": ("TheBloke", PLATYPUS_SHA, None, None, None, ["licence"]),
    "bartowski/openai_gpt-oss-120b-GGUF": ("bartowski", None, None, None, ["text"], None),
    "comet24082002/roberta-large-lora-token-classification": (
        "comet24082002",
        None,
        None,
        None,
        None,
        None,
    ),
    "deepseek-ai/DeepSeek-R1": ("deepseek-ai", None, "MIT", None, None, None),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": ("deepseek-ai", None, "MIT", None, None, None),
    "google/gemma-2-9b-it": ("google", None, "gemma", "gated", ["text"], None),
    "legraphista/Mistral-Small-Instruct-2409-IMat-GGUF": (
        "legraphista",
        None,
        "mrl",
        None,
        ["text"],
        None,
    ),
    "lighteternal/Llama3-merge-biomed-8b": ("lighteternal", None, "llama3", None, None, None),
    "meta-llama/Llama-3.1-8B-Instruct": ("meta-llama", None, "llama3.1", "gated", ["text"], None),
    "microsoft/phi-2": ("microsoft", PHI2_SHA, "microsoft-research-license", None, ["text"], None),
    "mistralai/Mistral-7B-v0.1": ("mistralai", None, "Apache-2.0", None, ["text"], None),
    "princeton-nlp/gemma-2-9b-it-SimPO": ("princeton-nlp", None, "MIT", None, None, None),
}

PROVIDERS = {m[0] for m in MODELS.values()}

# (child, relation, parent, confidence)
LINEAGE = {
    ("Edens-Gate/Holland-Magnum-Merge-R2", "merge", "Delta-Vector/Holland-4B-V1", "inferred"),
    ("Edens-Gate/Holland-Magnum-Merge-R2", "merge", "NewEden/Holland-V2", "inferred"),
    ("Edens-Gate/Holland-Magnum-Merge-R2", "merge", "anthracite-org/magnum-v2-4b", "inferred"),
    ("HuggingFaceH4/zephyr-7b-beta", "finetune", "mistralai/Mistral-7B-v0.1", "inferred"),
    ("HuggingFaceH4/zephyr-7b-beta", "trained_on", "HuggingFaceH4/ultrachat_200k", "declared"),
    (
        "HuggingFaceH4/zephyr-7b-beta",
        "trained_on",
        "HuggingFaceH4/ultrafeedback_binarized",
        "declared",
    ),
    ("Qwen/QwQ-32B-Preview", "finetune", "Qwen/Qwen2.5-32B-Instruct", "inferred"),
    ("Qwen/Qwen2.5-32B-Instruct", "finetune", "Qwen/Qwen2.5-32B", "inferred"),
    ("Qwen/Qwen2.5-72B-Instruct", "finetune", "Qwen/Qwen2.5-72B", "inferred"),
    # a GGUF re-upload without base_model_relation: its name says gguf
    ("TheBloke/Llama-2-7B-Chat-GGUF", "quantized", "meta-llama/Llama-2-7b-chat-hf", "inferred"),
    ("TheBloke/Platypus2-13B-GPTQ", "trained_on", "garage-bAInd/OpenPlatypus", "declared"),
    ("bartowski/openai_gpt-oss-120b-GGUF", "quantized", "openai/gpt-oss-120b", "declared"),
    (
        "comet24082002/roberta-large-lora-token-classification",
        "adapter",
        "roberta-large",
        "inferred",
    ),
    # a distillation's card names its student's base; HF metadata has no "distillation"
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "finetune", "Qwen/Qwen2.5-32B", "inferred"),
    (
        "legraphista/Mistral-Small-Instruct-2409-IMat-GGUF",
        "quantized",
        "mistralai/Mistral-Small-Instruct-2409",
        "inferred",
    ),
    (
        "lighteternal/Llama3-merge-biomed-8b",
        "merge",
        "NousResearch/Hermes-2-Pro-Llama-3-8B",
        "inferred",
    ),
    ("lighteternal/Llama3-merge-biomed-8b", "merge", "aaditya/Llama3-OpenBioLLM-8B", "inferred"),
    (
        "lighteternal/Llama3-merge-biomed-8b",
        "merge",
        "meta-llama/Meta-Llama-3-8B-Instruct",
        "inferred",
    ),
    ("meta-llama/Llama-3.1-8B-Instruct", "finetune", "meta-llama/Meta-Llama-3.1-8B", "inferred"),
    ("princeton-nlp/gemma-2-9b-it-SimPO", "finetune", "google/gemma-2-9b-it", "inferred"),
    (
        "princeton-nlp/gemma-2-9b-it-SimPO",
        "trained_on",
        "princeton-nlp/gemma2-ultrafeedback-armorm",
        "declared",
    ),
}

STUB_MODELS = {
    "Delta-Vector/Holland-4B-V1": "Delta-Vector",
    "NewEden/Holland-V2": "NewEden",
    "NousResearch/Hermes-2-Pro-Llama-3-8B": "NousResearch",
    "Qwen/Qwen2.5-32B": "Qwen",
    "Qwen/Qwen2.5-72B": "Qwen",
    "aaditya/Llama3-OpenBioLLM-8B": "aaditya",
    "anthracite-org/magnum-v2-4b": "anthracite-org",
    "meta-llama/Llama-2-7b-chat-hf": "meta-llama",
    "meta-llama/Meta-Llama-3-8B-Instruct": "meta-llama",
    "meta-llama/Meta-Llama-3.1-8B": "meta-llama",
    "mistralai/Mistral-Small-Instruct-2409": "mistralai",
    "openai/gpt-oss-120b": "openai",
    "roberta-large": "huggingface",  # a legacy id without an organisation
}
STUB_DATASETS = {
    "HuggingFaceH4/ultrachat_200k",
    "HuggingFaceH4/ultrafeedback_binarized",
    "garage-bAInd/OpenPlatypus",
    "princeton-nlp/gemma2-ultrafeedback-armorm",
}


def test_every_card_is_read_without_a_problem(batch: ImportBatch) -> None:
    assert batch.problems == []
    assert batch.sources == 18


def test_models(batch: ImportBatch) -> None:
    models = records(batch.documents, "models")
    got = {
        mid: (
            m["provider"],
            m.get("version"),
            m.get("licence"),
            m.get("weights"),
            m.get("modality"),
            m.get("unknown"),
        )
        for mid, m in models.items()
    }
    assert got == MODELS
    assert all(m["name"] == mid.rpartition("/")[2] for mid, m in models.items())
    assert models["microsoft/phi-2"]["source"] == f"hf:microsoft/phi-2@{PHI2_SHA}"
    assert models["Qwen/QwQ-32B-Preview"]["source"] == "hf:Qwen/QwQ-32B-Preview"


def test_a_gated_card(batch: ImportBatch) -> None:
    models, terms = records(batch.documents, "models"), records(batch.documents, "terms")
    assert models["meta-llama/Llama-3.1-8B-Instruct"] == {
        "id": "meta-llama/Llama-3.1-8B-Instruct",
        "name": "Llama-3.1-8B-Instruct",
        "provider": "meta-llama",
        "source": "hf:meta-llama/Llama-3.1-8B-Instruct",
        "licence": "llama3.1",
        "weights": "gated",
        # the card's extra_gated_* fields only set up a gate; the Hub API says whether it is on
        "provenance": {"weights": {"confidence": "inferred"}},
        "terms": ["hf-gate:meta-llama/Llama-3.1-8B-Instruct"],
        "modality": ["text"],
        "tags": ["facebook", "meta", "pytorch", "llama", "llama-3"]
        + [f"language:{code}" for code in ("en", "de", "fr", "it", "pt", "hi", "es", "th")],
    }
    assert "provenance" not in models["google/gemma-2-9b-it"]  # the API's `gated: auto`
    assert terms == {
        "hf-gate:google/gemma-2-9b-it": {
            "id": "hf-gate:google/gemma-2-9b-it",
            "provider": "google",
            "kind": "tos",
            "title": "Access Gemma on Hugging Face",
            "url": "https://huggingface.co/google/gemma-2-9b-it",
            "source": "hf:google/gemma-2-9b-it",
        },
        "hf-gate:meta-llama/Llama-3.1-8B-Instruct": {
            "id": "hf-gate:meta-llama/Llama-3.1-8B-Instruct",
            "provider": "meta-llama",
            "kind": "tos",
            "title": "Access conditions of meta-llama/Llama-3.1-8B-Instruct on Hugging Face",
            "url": "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct",
            "source": "hf:meta-llama/Llama-3.1-8B-Instruct",
        },
    }


def test_licence_other(batch: ImportBatch) -> None:
    models = records(batch.documents, "models")
    assert models["Qwen/Qwen2.5-72B-Instruct"]["provenance"] == {
        "licence": {"source": "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE"}
    }
    # `license: other` without license_name: the licence is known to be unknown
    assert models["TheBloke/Platypus2-13B-GPTQ"]["provenance"] == {
        "licence": {"source": f"hf:TheBloke/Platypus2-13B-GPTQ@{PLATYPUS_SHA}: license: other"}
    }
    assert "licence" not in models["Edens-Gate/Holland-Magnum-Merge-R2"]  # no license: absent
    assert "unknown" not in models["Edens-Gate/Holland-Magnum-Merge-R2"]


def test_lineage(batch: ImportBatch) -> None:
    lineage = records(batch.documents, "lineage")
    got = {(e["child"], e["relation"], e["parent"], e["confidence"]) for e in lineage.values()}
    assert got == LINEAGE
    for lid, edge in lineage.items():
        # the id LineageBase gives an edge written without one
        default = LineageBase.model_validate({k: v for k, v in edge.items() if k != "id"})
        assert lid == default.id
    gguf = lineage["TheBloke/Llama-2-7B-Chat-GGUF~quantized~meta-llama/Llama-2-7b-chat-hf"]
    assert gguf["evidence"] == "no base_model_relation; the repository shows gguf"
    assert gguf["source"] == "hf:TheBloke/Llama-2-7B-Chat-GGUF"
    merge = lineage["Edens-Gate/Holland-Magnum-Merge-R2~merge~NewEden/Holland-V2"]
    assert merge["evidence"] == "several base_model and no base_model_relation"
    declared = lineage["bartowski/openai_gpt-oss-120b-GGUF~quantized~openai/gpt-oss-120b"]
    assert declared["evidence"] == "base_model_relation: quantized"


def test_stubs(batch: ImportBatch) -> None:
    models = records(batch.stubs, "models")
    assert {mid: m["provider"] for mid, m in models.items()} == STUB_MODELS
    assert models["openai/gpt-oss-120b"] == {
        "id": "openai/gpt-oss-120b",
        "name": "gpt-oss-120b",
        "provider": "openai",
        "tags": [STUB_MARK],
        "confidence": "inferred",
        "source": "hf:openai/gpt-oss-120b",
    }
    datasets = records(batch.stubs, "datasets")
    assert set(datasets) == STUB_DATASETS
    assert datasets["HuggingFaceH4/ultrachat_200k"] == {
        "id": "HuggingFaceH4/ultrachat_200k",
        "name": "ultrachat_200k",
        "url": "https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k",
        "tags": [STUB_MARK],
        "confidence": "inferred",
        "source": "hf:datasets/HuggingFaceH4/ultrachat_200k",
    }
    # providers of stub models only when no imported model has that organisation
    providers = records(batch.stubs, "providers")
    assert set(providers) == {
        "Delta-Vector",
        "NewEden",
        "NousResearch",
        "aaditya",
        "anthracite-org",
        "huggingface",
        "openai",
    }
    assert all(p["confidence"] == "inferred" for p in providers.values())
    imported = records(batch.documents, "providers")
    assert list(imported) == sorted(imported)
    assert set(imported) == PROVIDERS


def test_everything_validates(batch: ImportBatch) -> None:
    loaded, problems = validate_documents(batch.documents + batch.stubs)
    assert problems == []
    assert check_references(loaded, {}) == []
    stub_providers = 7
    assert (
        len(loaded)
        == len(MODELS)
        + len(LINEAGE)
        + 2
        + len(STUB_MODELS)
        + len(STUB_DATASETS)
        + len(PROVIDERS)
        + stub_providers
    )


def test_deterministic(batch: ImportBatch) -> None:
    again = read_hf([str(API), str(FIXTURES)])
    assert [(d.file, d.data) for d in again.documents] == [
        (d.file, d.data) for d in batch.documents
    ]
    assert [(d.file, d.data) for d in again.stubs] == [(d.file, d.data) for d in batch.stubs]


def test_records_are_located_in_their_card(batch: ImportBatch) -> None:
    by_model = {d.data["models"][0]["id"]: d for d in batch.documents}
    llama = by_model["meta-llama/Llama-3.1-8B-Instruct"]
    assert llama.file == str(FIXTURES / "meta-llama__Llama-3.1-8B-Instruct" / "README.md")
    assert llama.line_of(("models", 0, "licence")) == 13
    assert llama.line_of(("models", 0, "weights")) == 22  # extra_gated_prompt
    assert llama.line_of(("lineage", 0, "parent")) == 14  # base_model
    gemma = by_model["google/gemma-2-9b-it"]
    assert gemma.file == str(API)
    assert gemma.line_of(("models", 0, "licence")) == 23
    assert gemma.line_of(("models", 0, "weights")) == 18  # the API's "gated"
    zephyr = by_model["HuggingFaceH4/zephyr-7b-beta"]
    assert zephyr.line_of(("lineage", 1)) == 8  # the second dataset


# ------------------------------------------------------------------------- errors


def write(root: Path, folder: str, text: str) -> str:
    (root / folder).mkdir(parents=True)
    (root / folder / "README.md").write_text(text)
    return str(root / folder / "README.md")


ERROR_CARDS = {
    "a__no-header": (
        "# no metadata\n",
        1,
        "no metadata header: a model card starts with a '---' YAML block",
    ),
    "a__list-header": (
        "---\n- mit\n---\n",
        2,
        "the metadata header must be one mapping of fields, not a list",
    ),
    "a__malformed": (
        "---\nlicense: mit\ntags: [a, b\n---\n",
        4,
        "invalid YAML: while parsing a flow sequence did not find expected ',' or ']'",
    ),
    "a__bad-base": (
        "---\nlicense: mit\nbase_model:\n- org/ok\n- org--bad\n---\n",
        5,
        "base_model: invalid repository id 'org--bad': Cannot have -- or .. in repo_id: 'org--bad'.",
    ),
    "a__bad-relation": (
        "---\nbase_model: org/base\nbase_model_relation: distilled\n---\n",
        3,
        "unknown base_model_relation 'distilled' (expected one of: adapter, finetune, merge, quantized)",
    ),
    "a__bad-licence": (
        "---\nlibrary_name: x\nlicense: mit apache\n---\n",
        3,
        "license: invalid licence expression 'mit apache': two licences without an operator between them near 'apache'",
    ),
    "a__duplicate": ("---\nlicense: mit\nlicense: apache-2.0\n---\n", 3, "duplicate key 'license'"),
}


def test_every_error_is_reported_with_its_line(tmp_path: Path) -> None:
    files = {name: write(tmp_path, name, text) for name, (text, _, _) in ERROR_CARDS.items()}
    nameless = write(tmp_path, "gpt2", "---\nlicense: mit\n---\n")
    shapes = tmp_path / "shapes.json"
    shapes.write_text('[\n  "x",\n  {"id": "a/b",\n   "cardData": []},\n  {"sha": "1"}\n]\n')
    scalar = tmp_path / "scalar.json"
    scalar.write_text('"models"\n')
    missing = str(tmp_path / "missing")
    batch = read_hf([str(tmp_path), str(shapes), str(scalar), missing])
    expected = [
        Problem(files[name], line, message) for name, (_, line, message) in ERROR_CARDS.items()
    ]
    expected += [
        Problem(
            nameless,
            None,
            "cannot tell the model's organisation from the directory name 'gpt2': name it org__name (or models--org--name, as the Hub cache does), or give model_id",
        ),
        Problem(str(shapes), 2, "a model must be a JSON object, not a str"),
        Problem(str(shapes), 4, "'cardData' must be an object, not []"),
        Problem(str(shapes), 5, "no model 'id'"),
        Problem(
            str(scalar),
            1,
            "a Hub API file holds a model object (model_info) or a list of them (list_models), not a str",
        ),
        Problem(missing, None, "no such file or directory"),
    ]
    got = [Problem(p.file, p.line, p.message) for p in batch.problems]
    assert sorted(got) == sorted(expected)
    assert batch.documents == [] and batch.stubs == []  # a card with a problem gives no records


def test_a_card_without_a_licence_is_not_an_error(tmp_path: Path) -> None:
    write(tmp_path, "org__model", "---\npipeline_tag: text-generation\n---\nbody\n")
    batch = read_hf([str(tmp_path)])
    assert batch.problems == []
    assert batch.documents[0].data["models"] == [
        {
            "id": "org/model",
            "name": "model",
            "provider": "org",
            "source": "hf:org/model",
            "modality": ["text"],
        }
    ]


def test_model_id_names_a_single_card(tmp_path: Path) -> None:
    card = write(tmp_path, "local-copy", "---\nlicense: apache-2.0\n---\n")
    batch = read_hf([card], model_id="org/name")
    assert batch.problems == []
    assert batch.documents[0].data["models"][0]["id"] == "org/name"
    write(tmp_path, "second", "---\n---\n")
    batch = read_hf([str(tmp_path)], model_id="org/name")
    assert (
        Problem(
            "model_id", None, "model_id names the repository of a single card; 2 cards were found"
        )
        in batch.problems
    )
    assert batch.documents == []


def test_hub_cache_reads_the_main_snapshot(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--name"
    for sha, licence in (("a" * 40, "mit"), ("b" * 40, "apache-2.0")):
        write(repo / "snapshots", sha, f"---\nlicense: {licence}\n---\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    batch = read_hf([str(tmp_path)])
    [model] = batch.documents[0].data["models"]
    assert (model["version"], model["licence"], model["source"]) == (
        "b" * 40,
        "Apache-2.0",
        f"hf:org/name@{'b' * 40}",
    )


def test_gate_without_a_licence_name_is_the_licence(tmp_path: Path) -> None:
    api = tmp_path / "info.json"
    api.write_text(
        json.dumps(
            {
                "id": "org/gated",
                "gated": "manual",
                "cardData": {"license": "other", "extra_gated_prompt": "Agree to our terms."},
            }
        )
    )
    batch = read_hf([str(api)])
    [model] = batch.documents[0].data["models"]
    [terms] = batch.documents[0].data["terms"]
    assert model["licence"] == terms["id"] == "hf-gate:org/gated"
    assert terms["kind"] == "licence"
    loaded, problems = validate_documents(batch.documents)
    assert problems == [] and check_references(loaded, {}) == []
