"""CycloneDX ML-BOMs (aigov.registry.importers.cyclonedx): a BOM maps onto exact records,
stubs and lineage edges with their source lines; every bad BOM is reported with file:line;
the export is a valid CycloneDX 1.6 BOM, deterministic, and reads back into the same records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from aigov.errors import Problem
from aigov.registry.importers import ImportBatch, MappedDocument, importer
from aigov.registry.importers.cyclonedx import (
    dump_cyclonedx,
    json_value_lines,
    read_cyclonedx,
    write_cyclonedx,
)
from aigov.registry.interchange import (
    LoadedRecord,
    check_references,
    read_registry_files,
    validate_documents,
)
from aigov.registry.records import RecordBase

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cyclonedx"
ML_BOM = FIXTURES / "ml-bom.cdx.json"
SOURCE = "cyclonedx:ml-bom.cdx.json#"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


def line_of(path: Path | str, needle: str, nth: int = 1) -> int:
    """The line of the ``nth`` occurrence of ``needle`` in a file."""
    hits = [n for n, text in enumerate(Path(path).read_text().splitlines(), 1) if needle in text]
    return hits[nth - 1]


def loaded(batch: ImportBatch) -> list[LoadedRecord]:
    """The batch's records, validated and reference-checked (stubs cover its references)."""
    records, problems = validate_documents(batch.documents + batch.stubs)
    assert problems == []
    assert check_references(records, {}) == []
    return records


def sections_of(records: list[LoadedRecord]) -> dict[str, list[RecordBase]]:
    sections: dict[str, list[RecordBase]] = {}
    for record in records:
        sections.setdefault(record.kind, []).append(record.record)
    return sections


def schema_errors(text: str) -> list[str]:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(error) for error in errors or []]


def facts(records: list[LoadedRecord]) -> dict[tuple[str, str], dict[str, Any]]:
    """Models, datasets and providers as comparable data: every field but where the record
    was read (``source``) and per-field provenance, which a BOM does not carry."""
    out = {}
    for item in records:
        if item.kind in ("model", "dataset", "provider"):
            data = item.record.model_dump(mode="json", exclude_none=True)
            for meta in ("source", "provenance", "generators", "sources"):
                data.pop(meta, None)
            if item.kind == "provider":
                data.pop("aliases")  # CycloneDX organisations have a name only
            out[(item.kind, item.record.id)] = data
    return out


def edges(records: list[LoadedRecord]) -> set[tuple[str, str, str, str, str | None]]:
    """Every lineage edge (child, relation, parent, confidence, evidence), with a dataset's
    generators and sources as the edges they are stored as."""
    found = set()
    for item in records:
        record: Any = item.record
        if item.kind == "lineage":
            found.add(
                (
                    record.child,
                    record.relation.value,
                    record.parent,
                    record.confidence.value,
                    record.evidence,
                )
            )
        if item.kind == "dataset":
            found |= {(record.id, "generated_by", g, "declared", None) for g in record.generators}
            found |= {(record.id, "derived_from", s, "declared", None) for s in record.sources}
    return found


def reimport(records: list[LoadedRecord], tmp_path: Path) -> list[LoadedRecord]:
    path = tmp_path / "export.cdx.json"
    path.write_text(dump_cyclonedx(sections_of(records)), encoding="utf-8")
    batch = read_cyclonedx([str(path)])
    assert batch.problems == []
    return loaded(batch)


# --------------------------------------------------------------------------- import


def test_registered_as_the_cyclonedx_format() -> None:
    assert importer("cyclonedx") is read_cyclonedx


def test_ml_bom_maps_to_exact_records() -> None:
    batch = read_cyclonedx([str(ML_BOM)])
    assert batch.problems == []
    assert batch.sources == 1
    [document] = batch.documents
    assert document.file == str(ML_BOM)
    acme = f"{SOURCE}acme-support-7b"
    assert document.data == {
        "providers": [
            {"id": "acme-corp", "name": "Acme Corp", "jurisdiction": "US", "source": acme},
            {
                "id": "alibaba-qwen",  # the supplier's bom-ref
                "name": "Alibaba Cloud (Qwen)",
                "jurisdiction": "CN",
                "source": f"{SOURCE}Qwen/Qwen2.5-7B",
            },
        ],
        "models": [
            {
                "id": "Qwen/Qwen2.5-7B",
                "name": "Qwen2.5-7B",
                "version": "2.5",
                "provider": "alibaba-qwen",
                "source": f"{SOURCE}Qwen/Qwen2.5-7B",
                "licence": "Apache-2.0",
            },
            {
                "id": "acme-router-1b",
                "name": "Acme-Router-1B",
                "provider": "acme-corp",
                "source": f"{SOURCE}acme-router-1b",
                "licence": "llama3.2",  # a license.name that is a licence id
            },
            {
                "id": "acme-support-7b",
                "name": "Acme-Support-7B",
                "version": "1.2.0",
                "provider": "acme-corp",  # manufacturer, before supplier
                "description": "Customer-support assistant, Qwen2.5-7B fine-tuned on Acme support tickets.",
                "source": acme,
                "tags": ["support", "chat"],
                "licence": "Apache-2.0 AND CC-BY-4.0",
                "weights": "gated",
                "modality": ["text"],
            },
            {
                "id": "acme-support-7b-gguf",
                "name": "Acme-Support-7B-GGUF",
                "version": "1.2.0-q4_k_m",
                "provider": "acme-corp",
                "source": f"{SOURCE}acme-support-7b-gguf",
                "licence": "Apache-2.0 AND CC-BY-4.0",
            },
        ],
        "datasets": [
            {
                "id": "OpenAssistant-oasst1",  # written inline in the model card
                "name": "OpenAssistant-oasst1",
                "url": "https://huggingface.co/datasets/OpenAssistant/oasst1",
                "source": acme,
            },
            {
                "id": "ds-support-tickets",
                "name": "Acme support tickets 2024",
                "creator": "acme-corp",
                "url": "s3://acme-ml/datasets/support-tickets-2024/",
                "sensitive_personal_information": True,
                "provenance": {
                    "sensitive_personal_information": {"confidence": "inferred"},
                    "licences": {"confidence": "inferred"},
                },
                "source": f"{SOURCE}ds-support-tickets",
                "licences": ["LicenseRef-Acme-Internal-Data-Licence"],
            },
            {
                "id": "ds-synthetic-dialogues",
                "name": "Synthetic routing dialogues",
                "creator": "acme-corp",
                "description": "Dialogues generated with Acme-Support-7B to train the router.",
                "source": f"{SOURCE}ds-synthetic-dialogues",
                "licences": ["CC-BY-4.0", "Apache-2.0"],
                "synthetic": "true",
            },
        ],
        "lineage": [
            lineage("acme-router-1b", "finetune", "meta-llama/Llama-3.2-1B", "inferred"),
            lineage("acme-router-1b", "trained_on", "ds-synthetic-dialogues", "inferred"),
            lineage("acme-support-7b-gguf", "quantized", "acme-support-7b", "declared"),
            lineage("acme-support-7b", "finetune", "Qwen/Qwen2.5-7B", "inferred"),
            lineage("acme-support-7b", "trained_on", "OpenAssistant-oasst1", "declared"),
            lineage("acme-support-7b", "trained_on", "ds-public-faq", "declared"),
            lineage("acme-support-7b", "trained_on", "ds-support-tickets", "declared"),
            lineage("ds-synthetic-dialogues", "generated_by", "acme-support-7b", "inferred"),
        ],
    }


def lineage(child: str, relation: str, parent: str, confidence: str) -> dict[str, str]:
    return {
        "id": f"{child}~{relation}~{parent}",
        "child": child,
        "parent": parent,
        "relation": relation,
        "source": f"{SOURCE}{child}",
        "confidence": confidence,
    }


def test_referenced_but_undescribed_records_are_stubs() -> None:
    batch = read_cyclonedx([str(ML_BOM)])
    [stubs] = batch.stubs
    router = f"{SOURCE}acme-router-1b"
    assert stubs.data == {
        "providers": [{"id": "meta", "name": "Meta", "source": router}],
        "models": [
            {
                "id": "meta-llama/Llama-3.2-1B",  # an ancestor with a group: group/name
                "name": "Llama-3.2-1B",
                "provider": "meta",
                "version": "3.2",
                "tags": ["stub"],
                "source": router,
                "confidence": "inferred",
            }
        ],
        "datasets": [
            {
                "id": "ds-public-faq",  # a model-card ref no component of the BOM has
                "name": "ds-public-faq",
                "tags": ["stub"],
                "source": f"{SOURCE}acme-support-7b",
                "confidence": "inferred",
            }
        ],
    }
    assert {r.record.id for r in loaded(batch)} >= {"meta-llama/Llama-3.2-1B", "ds-public-faq"}


def test_fields_map_to_their_bom_lines() -> None:
    [document] = read_cyclonedx([str(ML_BOM)]).documents
    assert isinstance(document, MappedDocument)
    text = ML_BOM
    # models sorted by id: Qwen/Qwen2.5-7B, acme-router-1b, acme-support-7b, acme-support-7b-gguf
    assert document.line_of(("models", 2)) == line_of(text, '"bom-ref": "acme-support-7b"') - 1
    assert document.line_of(("models", 2, "licence")) == line_of(text, '"licenses"', 2)
    assert document.line_of(("models", 2, "weights")) == line_of(text, '"aigov:weights"')
    assert document.line_of(("models", 0, "provider")) == line_of(text, '"supplier"')
    assert document.line_of(("datasets", 1, "licences")) == line_of(text, '"licenses"', 5)
    # the quantized edge: its pedigree entry, and the property that names the relation
    assert document.line_of(("lineage", 2)) == line_of(text, '"name": "acme-support-7b"') - 2
    assert document.line_of(("lineage", 2, "relation")) == line_of(text, '"aigov:relation"')
    # an implied edge: the dependsOn item that gives it
    assert document.line_of(("lineage", 7)) == line_of(text, '{"ref": "ds-synthetic-dialogues"')


def test_imported_records_validate_and_their_references_resolve() -> None:
    records = loaded(read_cyclonedx([str(ML_BOM)]))
    assert len(records) == 3 + 5 + 4 + 8


def test_a_bom_read_twice_gives_its_records_once(tmp_path: Path) -> None:
    copy = tmp_path / "ml-bom.cdx.json"
    copy.write_text(ML_BOM.read_text())
    batch = read_cyclonedx([str(ML_BOM), str(copy)])
    assert batch.problems == []
    assert batch.sources == 2
    assert batch.documents[1].data == {}
    assert len(loaded(batch)) == 20


def test_a_record_described_differently_by_two_boms(tmp_path: Path) -> None:
    other = tmp_path / "other.cdx.json"
    other.write_text(ML_BOM.read_text().replace('"version": "2.5"', '"version": "2.5.1"'))
    batch = read_cyclonedx([str(ML_BOM), str(other)])
    line = line_of(ML_BOM, '"bom-ref": "Qwen/Qwen2.5-7B"') - 1
    assert batch.problems == [
        Problem(
            str(other),
            line,
            f"described differently in {ML_BOM}:{line}",
            record="model 'Qwen/Qwen2.5-7B'",
        )
    ]


# --------------------------------------------------------------------------- bad input


def test_schema_errors_are_reported_with_file_and_line() -> None:
    path = fixture("schema-error.cdx.json")
    batch = read_cyclonedx([path])
    assert batch.documents == [] and batch.stubs == []
    assert batch.problems == [
        Problem(
            path,
            9,
            "CycloneDX 1.6 schema: $.components[0].type: 'ml-model' is not one of the values "
            "it allows (application, framework, library, container, platform, "
            "operating-system, device, device-driver, firmware, file, machine-learning-model, "
            "data, cryptographic-asset)",
        ),
        Problem(
            path,
            18,
            "CycloneDX 1.6 schema: $.components[1].licenses[0].license.id: 'Apache2' is not "
            "one of the values it allows",
        ),
        Problem(path, 21, "CycloneDX 1.6 schema: $.components[2]: 'name' is a required property"),
    ]


def test_duplicate_keys_are_rejected() -> None:
    path = fixture("duplicate-key.cdx.json")
    batch = read_cyclonedx([path])
    assert batch.documents == []
    assert batch.problems == [Problem(path, 11, "duplicate key 'name'")]


def test_an_expression_that_is_no_licence_expression() -> None:
    path = fixture("bad-licence.cdx.json")
    batch = read_cyclonedx([path])
    assert batch.problems == [
        Problem(
            path,
            11,
            "invalid licence expression 'Apache-2.0 OR': an operator without a licence",
            record="model 'm1'",
            field="licenses",
        )
    ]


def test_bad_lineage_and_properties_are_each_reported() -> None:
    path = fixture("bad-lineage.cdx.json")
    batch = read_cyclonedx([path])
    messages = [(p.line, p.record, p.message.split(" (")[0]) for p in batch.problems]
    assert sorted(messages) == [
        (
            6,
            "model 'm1'",
            "no manufacturer, supplier, author, publisher or group names the model's provider",
        ),
        (16, "model 'm1'", "unknown relation 'cloned'"),
        (28, "model 'm2'", "unknown property 'aigov:weight' on a machine-learning-model component"),
        (29, "model 'm2'", "dataset ref 'm1' names a component that is not of type data"),
    ]
    # a confidence that is none: the registry's validation names the property's line
    _, problems = validate_documents(batch.documents + batch.stubs)
    assert [(p.line, p.record, p.field) for p in problems] == [
        (17, "lineage 'm1~finetune~m2'", "confidence")
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"bomFormat": "SPDX"}', 1, 'not a CycloneDX BOM (no "bomFormat": "CycloneDX")'),
        (
            '{\n "bomFormat": "CycloneDX",\n "specVersion": "1.4"\n}',
            3,
            "specVersion '1.4' is not read (aigov reads CycloneDX 1.5 and 1.6 ML-BOMs)",
        ),
        (
            '{"bomFormat": "CycloneDX",',
            1,
            "invalid JSON: Expecting property name enclosed in double quotes",
        ),
    ],
)
def test_files_that_are_no_ml_bom(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bom.json"
    path.write_text(text)
    assert read_cyclonedx([str(path)]).problems == [Problem(str(path), line, message)]


def test_a_cyclonedx_1_5_bom_is_read_with_its_author(tmp_path: Path) -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "components": [{"type": "machine-learning-model", "name": "m", "author": "Acme Corp"}],
    }
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(bom))
    batch = read_cyclonedx([str(path)])
    assert batch.problems == []
    assert batch.documents[0].data == {
        "providers": [{"id": "acme-corp", "name": "Acme Corp", "source": "cyclonedx:bom.json"}],
        "models": [
            {"id": "m", "name": "m", "provider": "acme-corp", "source": "cyclonedx:bom.json"}
        ],
    }


def write_bom(path: Path, components: list[dict[str, Any]], **extra: Any) -> str:
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}
    path.write_text(json.dumps(bom | extra, indent=2))
    return str(path)


def test_variants_are_children_and_several_licences_all_apply(tmp_path: Path) -> None:
    base = {
        "bom-ref": "base",
        "type": "machine-learning-model",
        "name": "Base",
        "publisher": "Example Labs",
        "licenses": [{"license": {"id": "MIT"}}, {"license": {"name": "Example Model Licence"}}],
        "pedigree": {
            "variants": [
                {
                    "type": "machine-learning-model",
                    "name": "base-int4",
                    "publisher": "Example Labs",
                    "properties": [{"name": "aigov:relation", "value": "quantization"}],
                }
            ],
            "descendants": [{"type": "machine-learning-model", "name": "base-chat"}],
        },
    }
    batch = read_cyclonedx([write_bom(tmp_path / "bom.json", [base])])
    assert batch.problems == []
    [document] = batch.documents
    source = "cyclonedx:bom.json#base"
    assert document.data["models"] == [
        {
            "id": "base",
            "name": "Base",
            "provider": "example-labs",
            "provenance": {
                "provider": {"confidence": "inferred"},
                "licence": {"confidence": "inferred"},
            },
            "source": source,
            "licence": "MIT AND LicenseRef-Example-Model-Licence",
        }
    ]
    assert document.data["providers"] == [
        {"id": "example-labs", "name": "Example Labs", "source": source, "confidence": "inferred"}
    ]
    assert [
        (e["child"], e["relation"], e["parent"], e["confidence"]) for e in document.data["lineage"]
    ] == [
        ("base-chat", "finetune", "base", "inferred"),
        ("base-int4", "quantized", "base", "declared"),
    ]
    # base-int4 names its provider: a stub; base-chat does not: the edge stays, to a record
    # the registry must hold
    [stubs] = batch.stubs
    assert [m["id"] for m in stubs.data["models"]] == ["base-int4"]
    records, problems = validate_documents(batch.documents + batch.stubs)
    assert problems == []
    line = line_of(tmp_path / "bom.json", '"descendants"') + 1  # the entry's brace
    assert [str(p) for p in check_references(records, {})] == [
        f"{tmp_path / 'bom.json'}:{line}: "
        "lineage 'base-chat~finetune~base': field 'child': dangling reference: no model or "
        "dataset 'base-chat'"
    ]


def test_two_components_with_one_id(tmp_path: Path) -> None:
    model = {"type": "machine-learning-model", "name": "m", "supplier": {"name": "Acme"}}
    path = write_bom(tmp_path / "bom.json", [model | {"version": "1"}, model | {"version": "2"}])
    second = line_of(path, '"type"', 2) - 1  # the second component's brace
    assert read_cyclonedx([path]).problems == [
        Problem(
            path,
            second,
            "a second component with this id (the first is at line 6): give each a distinct bom-ref",
            record="model 'm'",
        )
    ]


def test_a_directory_stands_for_its_json_files(tmp_path: Path) -> None:
    (tmp_path / "boms").mkdir()
    (tmp_path / "boms" / "ml-bom.cdx.json").write_text(ML_BOM.read_text())
    (tmp_path / "boms" / "notes.yaml").write_text("not: a bom\n")
    batch = read_cyclonedx([str(tmp_path / "boms")])
    assert batch.problems == []
    assert batch.sources == 1
    assert [Path(d.file).name for d in batch.documents] == ["ml-bom.cdx.json"]


def test_json_value_lines() -> None:
    text = '{\n "a": [\n  1,\n  {"b": "x,y"}\n ],\n "c": {\n  "d": null\n }\n}'
    assert json_value_lines(text) == {
        (): 1,
        ("a",): 2,
        ("a", 0): 3,
        ("a", 1): 4,
        ("a", 1, "b"): 4,
        ("c",): 6,
        ("c", "d"): 7,
    }


# --------------------------------------------------------------------------- export


def test_the_export_validates_against_the_1_6_schema() -> None:
    text = dump_cyclonedx(sections_of(loaded(read_cyclonedx([str(ML_BOM)]))))
    assert schema_errors(text) == []


def test_the_export_writes_each_fact_where_cyclonedx_has_it() -> None:
    bom = write_cyclonedx(sections_of(loaded(read_cyclonedx([str(ML_BOM)]))))
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"] == {
        "tools": {"components": [{"type": "application", "name": "aigov", "version": "0.1.0"}]}
    }
    by_ref = {component["bom-ref"]: component for component in bom["components"]}
    acme = {"name": "Acme Corp", "address": {"country": "US"}}
    assert by_ref["acme-support-7b"] == {
        "type": "machine-learning-model",
        "bom-ref": "acme-support-7b",
        "name": "Acme-Support-7B",
        "version": "1.2.0",
        "supplier": acme,
        "manufacturer": acme,
        "licenses": [{"expression": "Apache-2.0 AND CC-BY-4.0"}],
        "description": "Customer-support assistant, Qwen2.5-7B fine-tuned on Acme support tickets.",
        "tags": ["support", "chat"],
        "modelCard": {
            "modelParameters": {
                "datasets": [
                    {"ref": "OpenAssistant-oasst1"},
                    {"ref": "ds-public-faq"},
                    {"ref": "ds-support-tickets"},
                ]
            }
        },
        "pedigree": {
            "ancestors": [
                ancestor("data", "OpenAssistant-oasst1", "OpenAssistant-oasst1", "trained_on"),
                ancestor(
                    "machine-learning-model",
                    "Qwen2.5-7B",
                    "Qwen/Qwen2.5-7B",
                    "finetune",
                    "inferred",
                ),
                ancestor("data", "ds-public-faq", "ds-public-faq", "trained_on"),
                ancestor("data", "Acme support tickets 2024", "ds-support-tickets", "trained_on"),
            ]
        },
        "properties": [
            {"name": "aigov:modality", "value": "text"},
            {"name": "aigov:weights", "value": "gated"},
        ],
    }
    qwen = by_ref["Qwen/Qwen2.5-7B"]
    assert qwen["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    # the provider's id is not the slug of its name: it travels as a property
    assert qwen["properties"] == [{"name": "aigov:provider", "value": "alibaba-qwen"}]
    assert by_ref["acme-router-1b"]["licenses"] == [{"license": {"name": "llama3.2"}}]
    assert by_ref["ds-public-faq"]["properties"] == [
        {"name": "aigov:confidence", "value": "inferred"}
    ]
    assert {"ref": "acme-support-7b-gguf", "dependsOn": ["acme-support-7b"]} in bom["dependencies"]


def ancestor(
    type_: str, name: str, rid: str, relation: str, confidence: str = "declared"
) -> dict[str, Any]:
    properties = [{"name": "aigov:id", "value": rid}, {"name": "aigov:relation", "value": relation}]
    if confidence != "declared":
        properties.append({"name": "aigov:confidence", "value": confidence})
    return {"type": type_, "name": name, "properties": properties}


def test_import_of_the_export_gives_the_same_records_and_edges(tmp_path: Path) -> None:
    records = loaded(read_cyclonedx([str(ML_BOM)]))
    again = reimport(records, tmp_path)
    assert facts(again) == facts(records)
    assert edges(again) == edges(records)
    assert len(edges(records)) == 8


def test_the_export_is_byte_identical_for_the_same_records() -> None:
    records = loaded(read_cyclonedx([str(ML_BOM)]))
    first = dump_cyclonedx(sections_of(records))
    assert dump_cyclonedx(sections_of(records)) == first
    assert dump_cyclonedx(sections_of(records[::-1])) == first
    assert first.endswith("}\n") and json.loads(first)["serialNumber"].startswith("urn:uuid:")


def test_the_serial_number_follows_the_content() -> None:
    records = loaded(read_cyclonedx([str(ML_BOM)]))
    sections = sections_of(records)
    serial = write_cyclonedx(sections)["serialNumber"]
    sections["model"] = [r for r in sections["model"] if r.id != "Qwen/Qwen2.5-7B"]
    sections["lineage"] = [r for r in sections["lineage"] if "Qwen" not in r.id]
    assert write_cyclonedx(sections)["serialNumber"] != serial


@pytest.fixture(scope="module")
def example_registry() -> list[LoadedRecord]:
    records, problems = read_registry_files([ROOT / "examples" / "registry"])
    assert problems == []
    return records


def test_the_example_registry_exports_as_a_valid_ml_bom(example_registry) -> None:
    text = dump_cyclonedx(sections_of(example_registry))
    assert schema_errors(text) == []
    bom = json.loads(text)
    kinds = [component["type"] for component in bom["components"]]
    models = [r for r in example_registry if r.kind == "model"]
    datasets = [r for r in example_registry if r.kind == "dataset"]
    assert kinds == ["machine-learning-model"] * len(models) + ["data"] * len(datasets)


def test_the_example_registry_round_trips(example_registry, tmp_path: Path) -> None:
    again = reimport(example_registry, tmp_path)
    # every provider a model or dataset names; one the registry holds for terms only is not
    # in a BOM, which has organisations only as suppliers and manufacturers
    named = {key for key in facts(example_registry) if key[0] != "provider"}
    assert {key for key in facts(again) if key[0] != "provider"} == named
    for key, data in facts(again).items():
        assert facts(example_registry)[key] == data, key
    assert edges(again) == edges(example_registry)
