"""The SPDX 3.0.1 (AI and Dataset profiles) importer: records, edges, licences, stubs, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aigov.errors import Problem
from aigov.registry.importers import STUB_MARK, MappedDocument, importer
from aigov.registry.importers.spdx import json_lines, read_spdx
from aigov.registry.interchange import check_references, validate_documents

FIXTURES = Path(__file__).parent / "fixtures" / "spdx"
ACME = str(FIXTURES / "acme-assistant.spdx3.json")
HTR = str(FIXTURES / "simplehtr.spdx3.json")
INVALID = str(FIXTURES / "invalid-elements.spdx3.json")
A = "spdx:acme-assistant.spdx3.json#https://spdx.example/acme-assistant/"
H = "spdx:simplehtr.spdx3.json#https://my-first-aibom.example/"
CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"


def by_id(document: Any, section: str) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in document.data.get(section, [])}


@pytest.fixture(scope="module")
def acme() -> Any:
    batch = read_spdx([ACME])
    assert batch.problems == []
    assert len(batch.documents) == 1 and len(batch.stubs) == 1
    return batch


# ------------------------------------------------------------------------------ records

EXPECTED_MODELS = {
    "meta-llama/Llama-3.1-8B": {
        "id": "meta-llama/Llama-3.1-8B",
        "name": "Llama-3.1-8B",
        "version": "3.1",
        "domain": ["natural language processing", "text generation"],
        "safety_risk_assessment": "medium",
        "autonomy_type": False,
        "description": "Pretrained 8B-parameter multilingual large language model.",
        "release_date": "2024-07-23",
        "provider": "meta",
        "source": A + "model/llama-3.1-8b",
        "licence": "llama3.1",
        "provenance": {"licence": {"source": A + "relationship/llama-concluded"}},
    },
    "acme-support-8b": {
        "id": "acme-support-8b",
        "name": "acme-support-8b",
        "version": "1.2.0",
        "standard_compliance": ["ISO/IEC 42001:2023", "EU AI Act Article 53"],
        "domain": ["customer support"],
        "safety_risk_assessment": "high",
        "description": "Llama 3.1 8B fine-tuned to answer Acme customer-support questions.",
        "release_date": "2025-03-01",
        "provider": "acme-corp",
        "source": A + "model/acme-support-8b",
        "unknown": ["autonomy_type"],
        "licence": "llama3.1",
        "provenance": {
            "licence": {
                "source": A + "relationship/support-concluded "
                "(hasConcludedLicense; hasDeclaredLicense says Apache-2.0)"
            }
        },
    },
    "acme-support-8b-q4": {
        "id": "acme-support-8b-q4",
        "name": "acme-support-8b-q4",
        "version": "1.2.0",
        "safety_risk_assessment": "low",
        "autonomy_type": True,
        "description": "4-bit GGUF build of acme-support-8b for on-premise inference.",
        "release_date": "2025-03-02",
        "provider": "acme-corp",
        "source": A + "model/acme-support-8b-q4",
        "licence": "llama3.1",
        "provenance": {"licence": {"source": A + "relationship/q4-declared"}},
    },
    "olmo-2-7b": {
        "id": "olmo-2-7b",
        "name": "OLMo 2 7B",
        "version": "1124",
        "domain": ["natural language processing"],
        "release_date": "2024-11-26",
        "provider": "allen-institute-for-ai",
        "source": A + "model/olmo-2-7b",
        "licence": "Apache-2.0",
        "provenance": {"licence": {"source": A + "relationship/olmo-concluded"}},
    },
    "acme-router": {
        "id": "acme-router",
        "name": "acme-router",
        "version": "0.4.0",
        "description": "Routes incoming questions to the right support queue.",
        "release_date": "2025-01-15",
        "provider": "acme-corp",
        "source": A + "model/acme-router",
        "unknown": ["licence"],
    },
}

EXPECTED_DATASETS = {
    "acme-support-tickets": {
        "id": "acme-support-tickets",
        "name": "acme-support-tickets",
        "url": "https://data.acme.example/support-tickets/v3",
        "availability": "registration",
        "sensitive_personal_information": True,
        "tags": ["structured", "text"],
        "description": "Acme support conversations 2023-2024, de-identified.",
        "creator": "acme-corp",
        "source": A + "dataset/acme-support-tickets",
        "licences": ["LicenseRef-acme-internal-data"],
        "provenance": {"licences": {"source": A + "relationship/tickets-concluded"}},
    },
    "acme-support-eval": {
        "id": "acme-support-eval",
        "name": "acme-support-eval",
        "url": "https://data.acme.example/support-eval/v1",
        "availability": "direct_download",
        "tags": ["text"],
        "description": "Held-out evaluation split of the support tickets.",
        "creator": "acme-corp",
        "source": A + "dataset/acme-support-eval",
        "unknown": ["sensitive_personal_information"],
        "licences": ["CC-BY-4.0"],
        "provenance": {"licences": {"source": A + "relationship/eval-declared"}},
    },
    "tatsu-lab/alpaca": {
        "id": "tatsu-lab/alpaca",
        "name": "Stanford Alpaca",
        "url": "https://github.com/tatsu-lab/stanford_alpaca",
        "availability": "direct_download",
        "tags": ["text"],
        "description": "52K instruction-following demonstrations generated with text-davinci-003.",
        "creator": "tatsu-lab",
        "source": A + "dataset/alpaca",
        "licences": ["CC-BY-NC-4.0 AND Apache-2.0"],
        "provenance": {"licences": {"source": A + "relationship/alpaca-concluded"}},
    },
}

EXPECTED_PROVIDERS = {
    "acme-corp": {"id": "acme-corp", "name": "Acme Corp", "source": A + "org/acme"},
    "allen-institute-for-ai": {
        "id": "allen-institute-for-ai",
        "name": "Allen Institute for AI",
        "source": A + "org/ai2",
    },
    "meta": {"id": "meta", "name": "Meta", "source": A + "org/meta"},
    # an agent without a name: the last segment of its spdxId
    "tatsu-lab": {"id": "tatsu-lab", "name": "tatsu-lab", "source": A + "agent/tatsu-lab"},
}


@pytest.mark.parametrize("rid", sorted(EXPECTED_MODELS))
def test_models(acme: Any, rid: str) -> None:
    assert by_id(acme.documents[0], "models")[rid] == EXPECTED_MODELS[rid]


@pytest.mark.parametrize("rid", sorted(EXPECTED_DATASETS))
def test_datasets(acme: Any, rid: str) -> None:
    assert by_id(acme.documents[0], "datasets")[rid] == EXPECTED_DATASETS[rid]


def test_exactly_these_records_sorted_by_id(acme: Any) -> None:
    """No more records than expected (the software_Package, the software_File and the document
    author are not kept), each section in id order."""
    data = acme.documents[0].data
    assert list(data) == ["providers", "models", "datasets", "lineage"]
    assert [r["id"] for r in data["providers"]] == sorted(EXPECTED_PROVIDERS)
    assert [r["id"] for r in data["models"]] == sorted(EXPECTED_MODELS)
    assert [r["id"] for r in data["datasets"]] == sorted(EXPECTED_DATASETS)
    assert by_id(acme.documents[0], "providers") == EXPECTED_PROVIDERS


# (child, relation, parent, relation confidence, evidence, source relationship)
EXPECTED_EDGES = [
    ("acme-router", "finetune", "Qwen/Qwen2.5-0.5B-Instruct", "inferred", None,
     "router-descends-from-qwen"),
    # ancestorOf: the `to` end is the child
    ("acme-support-8b-q4", "finetune", "acme-support-8b", "inferred",
     "acme-support-8b-q4 is the 4-bit GGUF quantisation of acme-support-8b.",
     "support-ancestor-of-q4"),
    # descendantOf: the `from` end is the child
    ("acme-support-8b", "finetune", "meta-llama/Llama-3.1-8B", "inferred",
     "Full-parameter supervised fine-tune of Llama-3.1-8B.", "support-descends-from-llama"),
    ("acme-support-8b", "trained_on", "acme-support-tickets", None, None, "support-trained-on"),
    ("acme-support-8b", "trained_on", "tatsu-lab/alpaca", None, None, "support-trained-on"),
    ("acme-support-eval", "derived_from", "acme-support-tickets", None, None,
     "eval-descends-from-tickets"),
    ("olmo-2-7b", "trained_on", "allenai/olmo-mix-1124", None, None, "olmo-trained-on"),
]  # fmt: skip


def test_lineage_edges(acme: Any) -> None:
    """testedOn (support-8b on the eval set), the software_File's trainedOn and the
    package's dependsOn / contains produce no edge."""
    edges = [
        (
            e["child"],
            e["relation"],
            e["parent"],
            e.get("provenance", {}).get("relation", {}).get("confidence"),
            e.get("evidence"),
            e["source"].removeprefix(A + "relationship/"),
        )
        for e in acme.documents[0].data["lineage"]
    ]
    assert edges == EXPECTED_EDGES
    assert all(set(e) <= {"child", "parent", "relation", "source", "provenance", "evidence"}
               for e in acme.documents[0].data["lineage"])  # fmt: skip


def test_stubs_for_imported_elements(acme: Any) -> None:
    """Elements the SpdxDocument imports (ExternalMap) become stubs; the Hugging Face
    address gives the id and the provider."""
    stub = acme.stubs[0]
    rel = A.removesuffix("https://spdx.example/acme-assistant/")
    assert stub.data == {
        "providers": [
            {"id": "Qwen", "name": "Qwen", "confidence": "inferred",
             "source": rel + "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"},
        ],
        "models": [
            {"id": "Qwen/Qwen2.5-0.5B-Instruct", "name": "Qwen/Qwen2.5-0.5B-Instruct",
             "tags": [STUB_MARK], "provider": "Qwen", "confidence": "inferred",
             "source": rel + "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"},
        ],
        "datasets": [
            {"id": "allenai/olmo-mix-1124", "name": "allenai/olmo-mix-1124",
             "tags": [STUB_MARK], "confidence": "inferred",
             "source": rel + "https://huggingface.co/datasets/allenai/olmo-mix-1124"},
        ],
    }  # fmt: skip
    # each stub is located at the relationship `to` that named it
    assert stub.line_of(("models", 0)) == 495
    assert stub.line_of(("datasets", 0)) == 485


def test_everything_validates(acme: Any) -> None:
    batch = read_spdx([ACME, HTR])
    assert batch.problems == [] and batch.sources == 2
    records, problems = validate_documents(batch.documents + batch.stubs)
    assert problems == []
    assert check_references(records, {}) == []
    counts = Counter(r.kind for r in records)
    # acme: 4 providers (+1 stub), 5 models (+1 stub), 3 datasets (+1 stub), 7 edges;
    # simplehtr: 2 providers, 2 models, 1 dataset, 2 edges
    assert counts == {"provider": 7, "model": 8, "dataset": 5, "lineage": 9}


def test_lines_point_at_the_source(acme: Any) -> None:
    document = acme.documents[0]
    assert isinstance(document, MappedDocument)
    models = [r["id"] for r in document.data["models"]]
    support = ("models", models.index("acme-support-8b"))
    assert document.line_of(support) == 109  # the element's opening brace
    assert document.line_of((*support, "id")) == 113  # "name"
    assert document.line_of((*support, "release_date")) == 115  # "releaseTime"
    assert document.line_of((*support, "safety_risk_assessment")) == 125
    assert document.line_of((*support, "licence")) == 321  # the concluded relationship's "to"
    assert document.line_of((*support, "provider")) == 116  # "suppliedBy"
    lineage = document.data["lineage"]
    quantised = ("lineage", [e["child"] for e in lineage].index("acme-support-8b-q4"))
    assert document.line_of((*quantised, "child")) == 453  # ancestorOf: the child is `to`
    assert document.line_of((*quantised, "parent")) == 451


def test_validation_errors_name_the_source_line(tmp_path: Path) -> None:
    """A value passed on unchanged (releaseTime not a date) fails registry validation at the
    line of the SPDX key that gave it."""
    text = (FIXTURES / "acme-assistant.spdx3.json").read_text()
    bad = tmp_path / "bad-date.spdx3.json"
    bad.write_text(text.replace('"releaseTime": "2025-01-15"', '"releaseTime": "15 Jan 2025"'))
    batch = read_spdx([str(bad)])
    assert batch.problems == []
    _, problems = validate_documents(batch.documents)
    assert [(p.file, p.line, p.record, p.field) for p in problems] == [
        (str(bad), 167, "model 'acme-router'", "release_date")
    ]


# ------------------------------------------------------------------------------ the SimpleHTR shape


def test_simplehtr_shape() -> None:
    """Person agents, a listed licence named by address without an element, a custom licence,
    trainedOn kept and testedOn skipped."""
    (document,) = read_spdx([HTR]).documents
    assert by_id(document, "providers") == {
        "harald-scheidl": {"id": "harald-scheidl", "name": "Harald Scheidl",
                           "source": "spdx:simplehtr.spdx3.json#https://github.com/githubharald"},
        "u-marti": {"id": "u-marti", "name": "U. Marti",
                    "source": "spdx:simplehtr.spdx3.json#https://spdx.example/spdxdocs/"
                    "Person2-29791633-ba83-413d-a888-f96a9f450ca1"},
    }  # fmt: skip
    models = by_id(document, "models")
    assert {
        rid: (m["licence"], m["provider"], m["autonomy_type"]) for rid, m in models.items()
    } == {
        "line-model": ("MIT", "harald-scheidl", False),
        "word-model": ("MIT", "harald-scheidl", False),
    }
    assert models["word-model"]["description"] == "Word level handwriting recognition model"
    assert by_id(document, "datasets")["IAMdataset"]["licences"] == [
        "LicenseRef-CustomLicense-c63547c2-62e0-48ec-b98d-ff1b917d67db"
    ]
    assert [(e["child"], e["relation"], e["parent"]) for e in document.data["lineage"]] == [
        ("line-model", "trained_on", "IAMdataset"),
        ("word-model", "trained_on", "IAMdataset"),
    ]
    assert not any("id" in e for e in document.data["lineage"])  # ids left to their default


# ------------------------------------------------------------------------------ determinism


def test_deterministic() -> None:
    first, second = read_spdx([ACME, HTR]), read_spdx([ACME, HTR])
    shown = [(d.file, d.data, dict(d.lines)) for d in first.documents + first.stubs]
    assert shown == [(d.file, d.data, dict(d.lines)) for d in second.documents + second.stubs]
    reversed_batch = read_spdx([HTR, ACME])
    assert sorted((d.file, json.dumps(d.data)) for d in reversed_batch.documents) == sorted(
        (d.file, json.dumps(d.data)) for d in first.documents
    )


def test_registered_as_the_spdx_format() -> None:
    assert importer("spdx") is read_spdx


# ------------------------------------------------------------------------------ errors

E = "https://spdx.example/invalid/"
EXPECTED_PROBLEMS = [
    (9, "element has no 'type'", "@graph element #2", "type"),
    (13, "element has no 'spdxId'", "@graph element #3", "spdxId"),
    (22, "invalid value 'extreme' (SPDX 3.0.1 allows: serious, high, medium, low)",
     f"ai_AIPackage '{E}model/risky'", "ai_safetyRiskAssessment"),
    (23, "invalid value 'sometimes' (SPDX 3.0.1 allows: yes, no, noAssertion)",
     f"ai_AIPackage '{E}model/risky'", "ai_autonomyType"),
    (30, "invalid value 'direct_download' (SPDX 3.0.1 allows: clickthrough, directDownload, "
     "query, registration, scrapingScript)",
     f"dataset_DatasetPackage '{E}dataset/snake'", "dataset_datasetAvailability"),
    (31, "invalid value 'tabular' (SPDX 3.0.1 allows: audio, categorical, graph, image, numeric, "
     "other, sensor, structured, syntactic, text, timeseries, timestamp, video, noAssertion)",
     f"dataset_DatasetPackage '{E}dataset/snake'", "dataset_datasetType"),
    (36, "a model needs a provider: give it 'suppliedBy' (or 'originatedBy')",
     f"ai_AIPackage '{E}model/orphan'", "suppliedBy"),
    (45, f"'{E}org/ghost' is not an element of @graph, nor imported by the SpdxDocument "
     "(an ExternalMap in its 'import')", f"ai_AIPackage '{E}model/ghost-supplied'", "suppliedBy"),
    (53, f"duplicate id 'dup-model': already given to the model read at {INVALID}:47",
     "model 'dup-model'", "id"),
    (59, "duplicate spdxId: already given to the element at line 4",
     f"Organization '{E}org/acme'", "spdxId"),
    (67, "invalid licence expression 'MIT OR': an operator without a licence",
     f"simplelicensing_LicenseExpression '{E}licence/broken'", "simplelicensing_licenseExpression"),
    (83, f"'{E}dataset/missing' is not an element of @graph, nor imported by the SpdxDocument "
     "(an ExternalMap in its 'import')", f"Relationship '{E}relationship/risky-trained-on'", "to"),
    (90, f"'{E}model/missing' is not an element of @graph, nor imported by the SpdxDocument "
     "(an ExternalMap in its 'import')", f"Relationship '{E}relationship/missing-descends'",
     "from"),
]  # fmt: skip


def test_every_graph_error_with_its_line() -> None:
    batch = read_spdx([INVALID])
    assert [(p.file, p.line, p.message, p.record, p.field) for p in batch.problems] == [
        (INVALID, *expected) for expected in EXPECTED_PROBLEMS
    ]


def test_invalid_values_are_not_mapped() -> None:
    """A field whose SPDX value was refused is left out, never passed on half-read."""
    (document,) = read_spdx([INVALID]).documents
    risky = by_id(document, "models")["risky-model"]
    assert "safety_risk_assessment" not in risky and "autonomy_type" not in risky
    assert "availability" not in by_id(document, "datasets")["snake-dataset"]
    assert "licence" not in risky


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("wrong-context.spdx3.json", 2,
         "not an SPDX 3.0.1 JSON-LD document: @context is "
         f"'https://spdx.org/rdf/3.0.0/spdx-context.jsonld', expected '{CONTEXT}'"),
        ("spdx-2.3.json", 1,
         f"not an SPDX 3.0.1 JSON-LD document: it has no @context, expected '{CONTEXT}'"),
        ("no-graph.spdx3.json", 3,
         "@graph must be a list of elements (an SPDX 3 JSON-LD document holds its elements "
         "in @graph)"),
        ("not-json.spdx3.json", 4, "invalid JSON: Expecting ':' delimiter"),
        ("duplicate-key.spdx3.json", 8, "duplicate key 'name'"),
    ],
)  # fmt: skip
def test_not_an_spdx_301_document(name: str, line: int, message: str) -> None:
    source = str(FIXTURES / name)
    batch = read_spdx([source])
    assert batch.problems == [Problem(source, line, message)]
    assert batch.documents == [] and batch.stubs == []


def test_problems_of_every_file_are_collected(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.spdx3.json")
    batch = read_spdx([str(FIXTURES / "wrong-context.spdx3.json"), missing, INVALID])
    assert [(p.file, p.line) for p in batch.problems][:2] == [
        (str(FIXTURES / "wrong-context.spdx3.json"), 2),
        (missing, None),
    ]
    assert batch.problems[1].message.startswith("cannot read: ")
    assert len(batch.problems) == 2 + len(EXPECTED_PROBLEMS)


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    """Two files describing a record of the same id is an error; the same provider in both is
    one provider."""
    other = tmp_path / "other.spdx3.json"
    other.write_text(json.dumps({"@context": CONTEXT, "@graph": [
        {"type": "Organization", "spdxId": "urn:x:acme", "name": "Acme Corp"},
        {"type": "ai_AIPackage", "spdxId": "urn:x:m", "name": "acme-router",
         "suppliedBy": "urn:x:acme"},
    ]}, indent=2))  # fmt: skip
    batch = read_spdx([ACME, str(other)])
    assert batch.problems == [
        Problem(str(other), 9, f"duplicate id 'acme-router': already given to the model read at "
                f"{ACME}:161", "model 'acme-router'", "id"),
    ]  # fmt: skip
    # nothing of the second file is kept: its provider is the one read from the first
    assert [d.file for d in batch.documents] == [ACME]


# ------------------------------------------------------------------------------ small cases


def write(tmp_path: Path, graph: list[dict[str, Any]]) -> str:
    path = tmp_path / "doc.spdx3.json"
    path.write_text(json.dumps({"@context": [CONTEXT], "@graph": graph}, indent=2))
    return str(path)


def test_licence_forms_and_imported_supplier(tmp_path: Path) -> None:
    """WITH and or-later operators, a disjunctive set, several declared targets joined by AND;
    an imported supplier is a stub provider; a Hugging Face purl with qualifiers."""
    graph = [
        {"type": "SpdxDocument", "spdxId": "urn:x:doc",
         "import": [{"type": "ExternalMap", "externalSpdxId": "https://huggingface.co/acme"}]},
        {"type": "ai_AIPackage", "spdxId": "urn:x:m", "name": "m",
         "software_packageUrl": "pkg:huggingface/acme/tiny%2Dmodel@abc123?repository_url=x",
         "suppliedBy": "https://huggingface.co/acme"},
        {"type": "dataset_DatasetPackage", "spdxId": "urn:x:d", "name": "d"},
        {"type": "expandedlicensing_WithAdditionOperator", "spdxId": "urn:x:with",
         "expandedlicensing_subjectExtendableLicense": "https://spdx.org/licenses/Apache-2.0",
         "expandedlicensing_subjectAddition": "https://spdx.org/licenses/LLVM-exception"},
        {"type": "expandedlicensing_OrLaterOperator", "spdxId": "urn:x:later",
         "expandedlicensing_subjectLicense": "https://spdx.org/licenses/GPL-2.0"},
        {"type": "expandedlicensing_DisjunctiveLicenseSet", "spdxId": "urn:x:or",
         "expandedlicensing_member": ["urn:x:with", "https://spdx.org/licenses/MIT"]},
        {"type": "Relationship", "spdxId": "urn:x:r1", "from": "urn:x:m",
         "relationshipType": "hasConcludedLicense", "to": ["urn:x:or"]},
        {"type": "Relationship", "spdxId": "urn:x:r2", "from": "urn:x:d",
         "relationshipType": "hasDeclaredLicense", "to": ["urn:x:later", "urn:x:or"]},
    ]  # fmt: skip
    batch = read_spdx([write(tmp_path, graph)])
    assert batch.problems == []
    (document,) = batch.documents
    model = by_id(document, "models")["acme/tiny-model"]
    assert (model["licence"], model["provider"]) == (
        "Apache-2.0 WITH LLVM-exception OR MIT",
        "acme",
    )
    assert by_id(document, "datasets")["d"]["licences"] == [
        "GPL-2.0-or-later AND (Apache-2.0 WITH LLVM-exception OR MIT)"
    ]
    assert batch.stubs[0].data == {"providers": [
        {"id": "acme", "name": "acme", "confidence": "inferred",
         "source": "spdx:doc.spdx3.json#https://huggingface.co/acme"},
    ]}  # fmt: skip
    records, problems = validate_documents(batch.documents + batch.stubs)
    assert problems == [] and check_references(records, {}) == []


def test_licence_cycle_and_unsupported_licence_type(tmp_path: Path) -> None:
    graph = [
        {"type": "Organization", "spdxId": "urn:x:o", "name": "O"},
        {"type": "ai_AIPackage", "spdxId": "urn:x:m", "name": "m", "suppliedBy": "urn:x:o"},
        {"type": "expandedlicensing_ConjunctiveLicenseSet", "spdxId": "urn:x:a",
         "expandedlicensing_member": ["urn:x:b", "https://spdx.org/licenses/MIT"]},
        {"type": "expandedlicensing_ConjunctiveLicenseSet", "spdxId": "urn:x:b",
         "expandedlicensing_member": ["urn:x:a", "https://spdx.org/licenses/MIT"]},
        {"type": "simplelicensing_SimpleLicensingText", "spdxId": "urn:x:t"},
        {"type": "Relationship", "spdxId": "urn:x:r1", "from": "urn:x:m",
         "relationshipType": "hasConcludedLicense", "to": ["urn:x:a"]},
        {"type": "Relationship", "spdxId": "urn:x:r2", "from": "urn:x:m",
         "relationshipType": "hasDeclaredLicense", "to": ["urn:x:t"]},
        {"type": "dataset_DatasetPackage", "spdxId": "urn:x:d", "name": "d"},
        {"type": "expandedlicensing_WithAdditionOperator", "spdxId": "urn:x:w",
         "expandedlicensing_subjectExtendableLicense": "https://spdx.org/licenses/MIT"},
        {"type": "Relationship", "spdxId": "urn:x:r3", "from": "urn:x:d",
         "relationshipType": "hasDeclaredLicense", "to": ["urn:x:w"]},
    ]  # fmt: skip
    source = write(tmp_path, graph)
    batch = read_spdx([source])
    assert [(p.line, p.message, p.record) for p in batch.problems] == [
        (17, "licence elements refer to each other in a cycle",
         "expandedlicensing_ConjunctiveLicenseSet 'urn:x:a'"),
        (33, "unsupported licence element type 'simplelicensing_SimpleLicensingText' (read: "
         "simplelicensing_LicenseExpression, expandedlicensing_ListedLicense, "
         "expandedlicensing_CustomLicense, expandedlicensing_ConjunctiveLicenseSet, "
         "expandedlicensing_DisjunctiveLicenseSet, expandedlicensing_WithAdditionOperator, "
         "expandedlicensing_OrLaterOperator)", "simplelicensing_SimpleLicensingText 'urn:x:t'"),
        (60, "'expandedlicensing_subjectAddition' must be text",
         "expandedlicensing_WithAdditionOperator 'urn:x:w'"),
    ]  # fmt: skip
    (document,) = batch.documents  # the licences that could not be read are left out
    assert "licence" not in document.data["models"][0]
    assert "licences" not in document.data["datasets"][0]


def test_json_lines() -> None:
    text = '{"@context": "c",\n "@graph": [\n  "not an object",\n  {"type": "T",\n   "to": [{"x": 1}],\n   "spdxId": "s"}\n ]\n}'
    found = json_lines(text)
    assert found.top == {"@context": 1, "@graph": 2}
    assert found.elements == {1: {None: 4, "type": 4, "to": 5, "spdxId": 6}}
    assert found.element(1, "spdxId") == 6
    assert found.element(1, "absent") == 4
    assert found.element(0) == 2  # not an object: the line of @graph
