"""The interchange format: every class of bad input is reported with file:line, record and
field; hostile text survives a round trip; the JSON Schema describes the files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from aigov.errors import InputError, Problem
from aigov.registry.interchange import check_references, read_registry_files, registry_json_schema
from aigov.registry.records import (
    KINDS,
    ApprovalCondition,
    ApprovalScope,
    Clause,
    EvidenceItem,
    RecordBase,
)

REGISTRY_DOC = Path(__file__).resolve().parent.parent / "docs" / "registry.md"


def problems_in(*paths: Path, existing: dict[str, str] | None = None) -> list[Problem]:
    """Every problem an import of ``paths`` reports, in report order."""
    records, problems = read_registry_files(list(paths))
    return sorted(problems + check_references(records, existing or {}))


def located(problems: list[Problem]) -> list[tuple[str, int | None, str | None, str | None]]:
    return [(Path(p.file).name, p.line, p.record, p.field) for p in problems]


PROVIDER = "providers:\n  - id: p1\n    name: P1\n"


def test_valid_sample_has_no_problems(write_registry, sample_registry) -> None:
    records, problems = read_registry_files([write_registry()])
    assert problems == []
    assert problems_in(write_registry()) == []
    kinds = {r.kind for r in records}
    assert kinds == set(KINDS), "the sample registry must cover every kind"


def test_problem_format_names_file_line_record_and_field(write_registry) -> None:
    path = write_registry(text=PROVIDER + "    colour: red\n")
    [problem] = problems_in(path)
    assert str(problem) == f"{path}:4: provider 'p1': field 'colour': unknown field"


# --------------------------------------------------------------------------- YAML / JSON syntax


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            PROVIDER + "    jurisdiction: US: CA\n",
            4,
            "invalid YAML: mapping values are not allowed",
        ),
        (PROVIDER + "  - id: p2\n   name: x\n", 5, "invalid YAML"),
        (PROVIDER + '    jurisdiction: "US\n', 5, "invalid YAML"),
        (PROVIDER + "    name: again\n", 4, "duplicate key 'name'"),
        (  # reported at the anchored node: the composed tree keeps no trace of the alias
            "providers:\n  - &p {id: p1, name: P1}\n  - *p\n",
            2,
            "YAML aliases are not supported",
        ),
        (
            "providers:\n  - id: p1\n    <<: {name: P1}\n",
            3,
            "YAML merge keys ('<<') are not supported",
        ),
    ],
    ids=["mapping-value", "indentation", "unclosed-quote", "duplicate-key", "alias", "merge"],
)
def test_yaml_syntax_errors(write_registry, text: str, line: int, message: str) -> None:
    path = write_registry("bad.yaml", text=text)
    [problem] = problems_in(path)
    assert (problem.file, problem.line) == (str(path), line)
    assert problem.message.startswith(message), problem.message


def test_json_syntax_error_has_its_line(write_registry) -> None:
    path = write_registry("bad.json", text='{\n  "providers": [\n    {"id": "p1",}\n  ]\n}\n')
    [problem] = problems_in(path)
    assert problem.line == 3
    # Python 3.13's json module words the same error differently
    assert problem.message in (
        "invalid JSON: Expecting property name enclosed in double quotes",
        "invalid JSON: Illegal trailing comma before end of object",
    ), problem.message


def test_json_validation_errors_have_their_lines(write_registry) -> None:
    data = {"providers": [{"id": "p1", "name": "P1"}, {"id": "p2", "name": "P2", "x": 1}]}
    path = write_registry("bad.json", data)
    assert located(problems_in(path)) == [("bad.json", 10, "provider 'p2'", "x")]


def test_lines_are_absolute_in_multi_document_files(write_registry) -> None:
    text = PROVIDER + "---\nmodels:\n  - id: m1\n    name: M1\n    provider: p1\n    bad: 1\n"
    path = write_registry(text=text)
    assert located(problems_in(path)) == [("registry.yaml", 9, "model 'm1'", "bad")]


# --------------------------------------------------------------------------- unknown fields


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PROVIDER + "    colour: red\n", [(4, "provider 'p1'", "colour", "unknown field")]),
        (
            PROVIDER + "terms:\n  - id: t\n    provider: p1\n    kind: tos\n    title: T\n"
            "    clauses:\n      - section: '1'\n        type: attribution\n        colour: x\n",
            [(12, "terms 't'", "clauses[0].colour", "unknown field")],
        ),
        (
            "modles:\n  - id: m\n",
            [(1, None, None, "unknown section 'modles' (expected one of: providers, terms,")],
        ),
        (
            "schema_version: 3\n" + PROVIDER,
            [(1, None, None, "unsupported schema_version 3 (this aigov reads 1 and 2)")],
        ),
        ("- id: p1\n", [(1, None, None, "a registry document must be a mapping of sections")]),
        ("providers:\n  - just text\n", [(2, "provider #1", None, "a record must be a mapping")]),
        ("providers: {id: p1}\n", [(1, None, None, "section 'providers' must be a list")]),
    ],
    ids=["field", "nested-field", "section", "format-version", "not-mapping", "record", "list"],
)
def test_unknown_fields_and_sections(write_registry, text: str, expected: list) -> None:
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.record, p.field) for p in problems] == [e[:3] for e in expected]
    for problem, (*_, message) in zip(problems, expected, strict=True):
        assert problem.message.startswith(message), problem.message


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("field_text", "field", "message"),
    [
        ("name: 123", "name", "Input should be a valid string (got 123)"),
        ("name: ''", "name", "String should have at least 1 character"),
        ("aliases: OpenAI", "aliases", "Input should be a valid list (got 'OpenAI')"),
        ("aliases: [ok, 7]", "aliases[1]", "Input should be a valid string (got 7)"),
        ("jurisdiction: [US]", "jurisdiction", "Input should be a valid string (got ['US'])"),
        ("source: {url: x}", "source", "Input should be a valid string"),
        ("confidence: 1", "confidence", "Input should be 'declared', 'verified', 'alleged'"),
        ("id: 42", "id", "Input should be a valid string (got 42)"),
    ],
)
def test_wrong_types_in_a_provider(
    write_registry, field_text: str, field: str, message: str
) -> None:
    key = field_text.split(":")[0]
    others = "".join(f"    {f}\n" for f in ("id: p1", "name: P1") if not f.startswith(f"{key}:"))
    text = f"providers:\n  - {field_text}\n{others}"
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.field) for p in problems] == [(2, field)]
    assert problems[0].message.startswith(message), problems[0].message


@pytest.mark.parametrize(
    ("field_text", "field", "message"),
    [
        ("training_compute_flop: lots", "training_compute_flop", "Input should be a valid number"),
        (
            "training_compute_flop: -1",
            "training_compute_flop",
            "Input should be greater than or equal to 0",
        ),
        ("is_gpai: [true]", "is_gpai", "Input should be a valid boolean"),
        ("modality: {text: true}", "modality", "Input should be a valid list"),
        ("systemic_risk_evidence: [red_team]", "systemic_risk_evidence[0]", "Input should be"),
        ("provider: [p1]", "provider", "Input should be a valid string"),
    ],
)
def test_wrong_types_in_a_model(write_registry, field_text: str, field: str, message: str) -> None:
    text = PROVIDER + "models:\n  - id: m1\n    name: M1\n    provider: p1\n    " + field_text
    if field_text.startswith("provider:"):
        text = text.replace("    provider: p1\n", "")
    problems = problems_in(write_registry(text=text + "\n"))
    assert [(p.line, p.record, p.field) for p in problems] == [
        (text.count("\n") + 1, "model 'm1'", field)
    ]
    assert problems[0].message.startswith(message), problems[0].message


def test_missing_required_fields(write_registry) -> None:
    text = PROVIDER + "deployments:\n  - id: d1\n    platform: x\n"
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.field, p.message) for p in problems] == [
        (5, "environment", "required field is missing"),
        (5, "model", "required field is missing"),
    ]


def test_invalid_ids(write_registry) -> None:
    text = "providers:\n  - id: '<script>'\n    name: x\n  - id: '" + "a" * 201 + "'\n    name: y\n"
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.field) for p in problems] == [(2, "id"), (4, "id")]
    assert "should match pattern" in problems[0].message
    assert "at most 200 characters" in problems[1].message


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13-01", "invalid date '2025-13-01': month must be in 1..12"),
        ("2025-02-30", "invalid date '2025-02-30': day is out of range for month"),
        ("'2025-02-30'", "invalid date '2025-02-30': day is out of range for month"),
        ("'20 Jan 2025'", "invalid date '20 Jan 2025': expected ISO 8601 YYYY-MM-DD"),
        ("'2025/01/20'", "invalid date '2025/01/20': expected ISO 8601 YYYY-MM-DD"),
        ("2025-01-20T10:00:00", "expected a date (YYYY-MM-DD), got a date and time"),
        ("20250120", "invalid date 20250120: expected ISO 8601 YYYY-MM-DD"),
    ],
)
def test_bad_dates(write_registry, value: str, message: str) -> None:
    text = (
        PROVIDER + f"models:\n  - id: m1\n    name: M1\n    provider: p1\n"
        f"    commission_notified_at: {value}\n"
    )
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.record, p.field, p.message) for p in problems] == [
        (8, "model 'm1'", "commission_notified_at", message)
    ]


def test_bad_dates_in_json_and_nested(write_registry) -> None:
    data = {
        "providers": [{"id": "p1", "name": "P1"}],
        "models": [
            {
                "id": "m1",
                "name": "M1",
                "provider": "p1",
                "systemic_risk_evidence": [{"type": "red_team", "ref": "x", "date": "2025-00-10"}],
            }
        ],
    }
    problems = problems_in(write_registry("r.json", data))
    assert [(p.field, p.message) for p in problems] == [
        (
            "systemic_risk_evidence[0].date",
            "invalid date '2025-00-10': month must be in 1..12",
        )
    ]


def test_good_dates_in_both_spellings(write_registry) -> None:
    text = PROVIDER + (
        "models:\n  - id: m1\n    name: M1\n    provider: p1\n    release_date: 2025-01-20\n"
        "  - id: m2\n    name: M2\n    provider: p1\n    release_date: '2024-02-29'\n"
    )
    records, problems = read_registry_files([write_registry(text=text)])
    assert problems == []
    dates = {r.record.id: r.record.release_date.isoformat() for r in records if r.kind == "model"}
    assert dates == {"m1": "2025-01-20", "m2": "2024-02-29"}


# --------------------------------------------------------------------------- enums


@pytest.mark.parametrize(
    ("record_text", "line", "field", "got"),
    [
        (
            "models:\n  - id: m1\n    name: M1\n    provider: p1\n    weights: half_open\n",
            8,
            "weights",
            "'half_open'",
        ),
        (
            "terms:\n  - id: t1\n    provider: p1\n    kind: eula\n    title: T\n",
            7,
            "kind",
            "'eula'",
        ),
        (
            "approvals:\n  - id: a1\n    model: m\n    approver: x\n    granted_at: 2025-01-01\n"
            "    scope:\n      environments: [prod, qa]\n",
            10,
            "scope.environments[1]",
            "'qa'",
        ),
        (
            "lineage:\n  - child: a\n    parent: b\n    relation: cloned\n",
            7,
            "relation",
            "'cloned'",
        ),
    ],
    ids=["weights", "terms-kind", "nested-list", "relation"],
)
def test_unknown_enum_values(
    write_registry, record_text: str, line: int, field: str, got: str
) -> None:
    problems = problems_in(write_registry(text=PROVIDER + record_text))
    assert [(p.line, p.field) for p in problems] == [(line, field)]
    assert problems[0].message.startswith("Input should be ")
    assert problems[0].message.endswith(f"(got {got})")


# --------------------------------------------------------------------------- duplicates


def test_duplicate_id_within_a_file(write_registry) -> None:
    text = PROVIDER + "  - id: p1\n    name: again\n"
    path = write_registry(text=text)
    problems = problems_in(path)
    assert [(p.line, p.record, p.field, p.message) for p in problems] == [
        (4, "provider 'p1'", "id", f"duplicate id: already defined as provider at {path}:2")
    ]


def test_duplicate_id_across_files_and_kinds(write_registry) -> None:
    first = write_registry("a.yaml", text=PROVIDER)
    write_registry(
        "b/c.yaml", text="providers:\n  - id: p2\n    name: P2\n  - id: p1\n    name: x\n"
    )
    write_registry("d.json", {"models": [{"id": "p2", "name": "M", "provider": "p1"}]})
    problems = problems_in(first.parent)
    assert located(problems) == [
        ("c.yaml", 4, "provider 'p1'", "id"),
        ("d.json", 4, "model 'p2'", "id"),  # the line of the "id" key
    ]
    assert problems[0].message == f"duplicate id: already defined as provider at {first}:2"
    assert problems[1].message.startswith("duplicate id: already defined as provider at ")


def test_id_of_another_kind_already_in_the_registry(write_registry) -> None:
    path = write_registry(text="models:\n  - id: p1\n    name: M\n    provider: p0\n")
    problems = problems_in(path, existing={"p1": "provider", "p0": "provider"})
    assert [(p.line, p.field, p.message) for p in problems] == [
        (2, "id", "id already names a provider in the registry")
    ]
    # the same kind is an update, not a duplicate
    assert problems_in(path, existing={"p1": "model", "p0": "provider"}) == []


# --------------------------------------------------------------------------- references


def test_dangling_references(write_registry) -> None:
    text = PROVIDER + (
        "models:\n  - id: m1\n    name: M1\n    provider: nobody\n"
        "datasets:\n  - id: d1\n    name: D\n    generators:\n      - m1\n      - ghost-model\n"
        "lineage:\n  - child: m1\n    parent: ghost-parent\n    relation: finetune\n"
        "deployments:\n  - id: dep\n    model: m1\n    platform: x\n    region: y\n"
        "    environment: dev\n    approval: no-approval\n"
    )
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.record, p.field, p.message) for p in problems] == [
        (7, "model 'm1'", "provider", "dangling reference: no provider 'nobody'"),
        (13, "dataset 'd1'", "generators", "dangling reference: no model 'ghost-model'"),
        (
            16,
            "lineage 'm1~finetune~ghost-parent'",
            "parent",
            "dangling reference: no model or dataset 'ghost-parent'",
        ),
        (24, "deployment 'dep'", "approval", "dangling reference: no approval 'no-approval'"),
    ]


def test_references_of_the_wrong_kind(write_registry) -> None:
    text = PROVIDER + (
        "models:\n  - id: m1\n    name: M1\n    provider: p1\n"
        "deployments:\n  - id: dep\n    model: p1\n    platform: x\n    region: y\n"
        "    environment: dev\n"
        "lineage:\n  - child: m1\n    parent: m1\n    relation: trained_on\n"
    )
    problems = problems_in(write_registry(text=text))
    assert [(p.line, p.field, p.message) for p in problems] == [
        (10, "model", "'p1' is a provider, expected a model"),
        (16, "parent", "a record cannot be its own parent"),
        (
            17,
            "relation",
            "relation 'trained_on' cannot link model <- model (allowed: model <- dataset)",
        ),
    ]


def test_references_to_records_already_in_the_registry(write_registry) -> None:
    path = write_registry(text="models:\n  - id: m1\n    name: M1\n    provider: p1\n")
    assert [p.message for p in problems_in(path)] == ["dangling reference: no provider 'p1'"]
    assert problems_in(path, existing={"p1": "provider"}) == []


# --------------------------------------------------------------------------- empty and big files


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.yaml", ""),
        ("b.yaml", "# nothing but a comment\n"),
        ("c.yaml", "---\n...\n"),
        ("d.json", ""),
        ("e.json", " \n\n"),
    ],
)
def test_empty_files(write_registry, name: str, text: str) -> None:
    path = write_registry(name, text=text)
    assert [(p.file, p.line, p.message) for p in problems_in(path)] == [
        (str(path), None, "empty file: it holds no records")
    ]


def test_empty_directory_and_missing_path(tmp_path: Path, write_registry) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("not a registry file")
    missing = tmp_path / "missing.yaml"
    problems = problems_in(empty, missing, write_registry())
    assert [(p.file, p.message) for p in problems] == [
        (str(empty), "no .yaml, .yml, .json files in this directory"),
        (str(missing), "no such file or directory"),
    ]


def test_file_size_limit(write_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_registry()
    size = path.stat().st_size
    monkeypatch.setenv("AIGOV_MAX_FILE_BYTES", str(size - 1))
    [problem] = problems_in(path)
    assert problem.file == str(path)
    assert f"file is {size:,} bytes, over the {size - 1:,}-byte limit" in problem.message
    monkeypatch.setenv("AIGOV_MAX_FILE_BYTES", str(size))
    assert problems_in(path) == []


def test_not_utf8(write_registry) -> None:
    path = write_registry(text="")
    path.write_bytes(b"providers:\n  - id: p1\n    name: caf\xe9\n")
    [problem] = problems_in(path)
    assert problem.message.startswith("not UTF-8 text")


def test_all_problems_of_all_files_are_reported_together(write_registry) -> None:
    write_registry("1-syntax.yaml", text="providers: [\n")
    write_registry("2-empty.yaml", text="")
    write_registry("3-fields.yaml", text=PROVIDER + "    colour: red\n    jurisdiction: [x]\n")
    last = write_registry("4-refs.json", {"models": [{"id": "m", "name": "M", "provider": "q"}]})
    problems = problems_in(last.parent)
    assert [(Path(p.file).name, p.field) for p in problems] == [
        ("1-syntax.yaml", None),
        ("2-empty.yaml", None),
        ("3-fields.yaml", "colour"),
        ("3-fields.yaml", "jurisdiction"),
        ("4-refs.json", "provider"),
    ]
    assert InputError(problems).render().startswith("invalid input: 5 errors\n  ")


def test_nul_characters_are_refused_on_every_backend(write_registry) -> None:
    """PostgreSQL cannot store NUL in text, so no backend accepts it."""
    path = write_registry("nul.json", {"providers": [{"id": "p1", "name": "a\u0000b"}]})
    assert [(p.field, p.message) for p in problems_in(path)] == [
        ("name", "text must not contain NUL (\\x00) characters")
    ]


# --------------------------------------------------------------------------- hostile text

HOSTILE = [
    "<script>alert('x')</script>",
    "He said \"hi\" & 'bye'",
    "Robert'); DROP TABLE model;--",
    "深度求索 🚀 naïve café \u202eRTL\u202c zero\u200bwidth",
    "e\u0301 (combining)",
    "line one\nline two\n\ttabbed\r\nend",
    "\n\nleading breaks",
    "trailing break\n",
    "  padded  ",
    "a\u2028b\u2029c\x85d",
    "\ufeffbyte order mark",
    "escape \x1b[31m red \x07 bell",
    "null",
    "~",
    "yes",
    "No",
    "on",
    "true",
    "123",
    "1e3",
    "0x1F",
    "2025-01-01",
    "- dash",
    "key: value",
    "# hash",
    "&anchor",
    "*alias",
    "!tag",
    "{flow}",
    "[list]",
    "%percent",
    "@at",
    "|",
    ">",
    "'",
    '"',
    "\\back\\slash",
    "{{ 7 * 7 }} ${HOME} $(id)",
    "\U0001f600" * 50,
    "n" * 10_000,
]


def _hostile_registry() -> dict[str, Any]:
    return {
        "providers": [
            {
                "id": f"h{i:02d}",
                "name": text,
                "aliases": [text, "plain"],
                "jurisdiction": text,
                "source": text,
            }
            for i, text in enumerate(HOSTILE)
        ],
        "terms": [
            {
                "id": "t",
                "provider": "h00",
                "kind": "tos",
                "title": HOSTILE[0],
                "clauses": [
                    {
                        "section": text,
                        "type": "attribution",
                        "quote": text,
                        "params": {"notice": text, "list": [text]},
                    }
                    for text in HOSTILE
                ],
            }
        ],
        "models": [
            {"id": "m", "name": HOSTILE[-1], "provider": "h01", "description": "\n".join(HOSTILE)}
        ],
    }


@pytest.mark.parametrize("source_format", ["yaml", "json"])
def test_hostile_strings_round_trip_unchanged(
    db_url: str, cli, tmp_path: Path, write_registry, source_format: str
) -> None:
    data = _hostile_registry()
    if source_format == "json":
        path = write_registry("hostile.json", data)
    else:  # every non-ASCII character escaped: independent of the exporter under test
        path = write_registry(text=yaml.safe_dump(data, sort_keys=False, allow_unicode=False))
    result = cli("registry", "import", path, "--db", db_url)
    assert result.exit_code == 0, result.stderr
    for fmt in ("yaml", "json"):
        exported = cli("registry", "export", "--format", fmt, "--db", db_url)
        assert exported.exit_code == 0, exported.stderr
        back = json.loads(exported.stdout) if fmt == "json" else yaml.safe_load(exported.stdout)
        providers = {p["id"]: p for p in back["providers"]}
        for i, text in enumerate(HOSTILE):
            provider = providers[f"h{i:02d}"]
            assert provider["name"] == text
            assert provider["aliases"] == [text, "plain"]
            assert provider["jurisdiction"] == provider["source"] == text
        clauses = back["terms"][0]["clauses"]
        assert [c["quote"] for c in clauses] == HOSTILE
        assert [c["params"] for c in clauses] == [{"notice": t, "list": [t]} for t in HOSTILE]
        assert back["models"][0]["description"] == "\n".join(HOSTILE)
        # and the export imports into a fresh database, which exports the same text
        again = tmp_path / f"again-{fmt}.db"
        out = tmp_path / f"export.{fmt}"
        out.write_text(exported.stdout, encoding="utf-8")
        assert cli("registry", "import", out, "--db", f"sqlite:///{again}").exit_code == 0
        second = cli("registry", "export", "--format", fmt, "--db", f"sqlite:///{again}")
        assert second.stdout == exported.stdout


def test_hostile_strings_in_show_and_list_output(db_url: str, cli, write_registry) -> None:
    path = write_registry("h.json", _hostile_registry())
    assert cli("registry", "import", path, "--db", db_url).exit_code == 0
    shown = cli("registry", "show", "h00", "--format", "json", "--db", db_url)
    assert json.loads(shown.stdout)["record"]["name"] == HOSTILE[0]
    listed = cli("registry", "list", "--kind", "provider", "--format", "json", "--db", db_url)
    assert [row["label"] for row in json.loads(listed.stdout)] == HOSTILE


# --------------------------------------------------------------------------- JSON Schema


def _validator() -> jsonschema.Draft202012Validator:
    schema = registry_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_cli_prints_the_json_schema(cli) -> None:
    result = cli("registry", "schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == registry_json_schema()


def test_json_schema_accepts_valid_files(sample_registry) -> None:
    validator = _validator()
    validator.validate({"schema_version": 1, **sample_registry})
    validator.validate(_hostile_registry())


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["providers"][0].update(colour="red"), "Additional properties"),
        (lambda d: d.update(modles=[]), "Additional properties"),
        (lambda d: d["models"][0].update(weights="half_open"), "is not one of"),
        (lambda d: d["models"][0].update(commission_notified_at="20 Jan 2025"), "is not a 'date'"),
        # a date that may be known to the month or year only
        (lambda d: d["models"][0].update(release_date="20 Jan 2025"), "does not match"),
        (lambda d: d["models"][0].pop("name"), "'name' is a required property"),
        (lambda d: d["models"][0].update(name=123), "is not of type 'string'"),
        (lambda d: d["deployments"][0].update(environment="qa"), "is not one of"),
    ],
)
def test_json_schema_rejects_invalid_files(sample_registry, change, fragment: str) -> None:
    change(sample_registry)
    messages = []
    pending = list(_validator().iter_errors(sample_registry))
    while pending:  # with the alternatives of anyOf (optional fields)
        error = pending.pop()
        messages.append(error.message)
        pending += error.context or []
    assert any(fragment in m for m in messages), messages


# --------------------------------------------------------------------------- docs/registry.md


def _readme_example() -> str:
    text = REGISTRY_DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- registry-example -->\s*```yaml\n(.*?)```", text, re.S)
    assert match, "docs/registry.md lost its '<!-- registry-example -->' YAML block"
    return match.group(1)


def test_readme_example_is_a_valid_registry_covering_every_kind(
    db_url: str, cli, write_registry
) -> None:
    example = _readme_example()
    _validator().validate(json.loads(json.dumps(yaml.safe_load(example), default=str)))
    path = write_registry("readme.yaml", text=example)
    records, problems = read_registry_files([path])
    assert problems == []
    assert {r.kind for r in records} == set(KINDS)
    result = cli("registry", "import", path, "--db", db_url)
    assert result.exit_code == 0, result.stderr


def _readme_section(title: str) -> str:
    text = REGISTRY_DOC.read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(title)}$(.*?)(?=^#)", text, re.S | re.M)
    assert match, f"docs/registry.md has no '### {title}' section"
    return match.group(1)


def test_readme_documents_every_field_of_every_kind() -> None:
    """The field reference in docs/registry.md names every field the code accepts."""
    documented = {"Common fields": RecordBase}
    documented |= {f"`{kind}`": spec.record for kind, spec in KINDS.items()}
    nested = {"`terms`": [Clause], "`approval`": [ApprovalScope, ApprovalCondition, EvidenceItem]}
    for title, model in documented.items():
        section = _readme_section(title)
        common = {"source", "confidence", "provenance", "unknown"}
        own = set(model.model_fields) - (set() if model is RecordBase else common)
        if model is not RecordBase and model.model_fields["id"].is_required():
            own.discard("id")  # documented under common fields, unless a kind changes it
        for extra in nested.get(title, []):
            own |= set(extra.model_fields)
        missing = sorted(f for f in own if f"`{f}`" not in section)
        assert missing == [], f"docs/registry.md section {title} does not document {missing}"
