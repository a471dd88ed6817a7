"""``aigov registry import --from FORMAT``: the contract every importer shares.

Atomic, idempotent, ``--dry-run``, errors with file and line, and the curated-field rule: a
re-import updates what the source gives and keeps what people added by hand; a source value
that contradicts a curated one is reported and kept (``--source-wins`` takes it). Driven
through the real CLI with Hugging Face model cards written for each test.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from aigov.cli.registry import IMPORT_FORMATS
from aigov.registry.importers import IMPORTERS
from aigov_testing.cli import invoke_cli


def card(root: Path, repo: str, header: str) -> Path:
    folder = root / repo.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(
        f"---\n{textwrap.dedent(header).strip()}\n---\n# {repo}\n", encoding="utf-8"
    )
    return folder


def run(tmp_path: Path, *args: str | Path, code: int = 0):
    result = invoke_cli(tmp_path, *args)
    assert result.exit_code == code, result.output
    return result


def record(tmp_path: Path, db: str, rid: str) -> dict:
    shown = run(tmp_path, "registry", "show", "--db", db, rid, "--format", "json")
    return json.loads(shown.stdout)["record"]


def curate(tmp_path: Path, db: str, rid: str, **fields: str) -> dict:
    """Edit an imported model by hand (export, change, import as a registry file): the
    model as curated."""
    exported = run(tmp_path, "registry", "export", "--db", db, "--format", "json").stdout
    (model,) = [m for m in json.loads(exported)["models"] if m["id"] == rid]
    model.update(fields)
    curated = tmp_path / "curated.json"
    curated.write_text(json.dumps({"models": [model]}), encoding="utf-8")
    run(tmp_path, "registry", "import", "--db", db, curated)
    return model


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    root = tmp_path / "cards"
    card(
        root,
        "acme/tuned-7b",
        """
        license: apache-2.0
        base_model: acme/base-7b
        base_model_relation: finetune
        datasets: [acme/instructions]
        tags: [text-generation]
        """,
    )
    return root


def test_every_importer_is_a_cli_format():
    assert set(IMPORT_FORMATS) == {"registry", *IMPORTERS}


def test_import_is_idempotent_and_dry_run_writes_nothing(tmp_path: Path, cards: Path, db_url):
    run(tmp_path, "init", "--db", db_url)
    dry = run(tmp_path, "registry", "import", "--db", db_url, "--from", "hf", "--dry-run", cards)
    assert "would import 6 records from 1 source item: 6 changes" in dry.stdout
    assert run(tmp_path, "registry", "list", "--db", db_url).stdout.count("\n") == 2  # header

    first = run(tmp_path, "registry", "import", "--db", db_url, "--from", "hf", cards)
    # the model and its provider, the base model and the dataset (stubs; the base's provider
    # is the same org), two lineage edges
    assert "imported 6 records from 1 source item: 6 changes" in first.stdout, first.stdout
    again = run(tmp_path, "registry", "import", "--db", db_url, "--from", "hf", cards)
    assert "0 changes" in again.stdout and "unchanged: 6" in again.stdout
    assert again.stderr == ""
    model = record(tmp_path, db_url, "acme/tuned-7b")
    assert model["licence"] == "Apache-2.0"
    assert model["source"].startswith("hf:acme/tuned-7b")
    base = record(tmp_path, db_url, "acme/base-7b")
    assert base["tags"] == ["stub"] and base["confidence"] == "inferred"


def test_curated_fields_survive_and_contradictions_are_reported(tmp_path: Path, cards: Path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    # a person curates the imported model: an owner the card cannot know, and a licence
    # established by legal review that differs from the card's
    curate(tmp_path, db, "acme/tuned-7b", owner="ml-platform@acme.example", licence="MIT")

    again = run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    assert "0 changes" in again.stdout
    assert "1 source value contradicting curated values (1 kept" in again.stderr
    assert "model 'acme/tuned-7b': field 'licence': registry 'MIT', source" in again.stderr
    assert "'Apache-2.0': kept the registry's" in again.stderr
    kept = record(tmp_path, db, "acme/tuned-7b")
    assert (kept["licence"], kept["owner"]) == ("MIT", "ml-platform@acme.example")

    # the card changes what it alone says (its tags): that follows the source, the curated
    # fields stay
    card(
        cards,
        "acme/tuned-7b",
        """
        license: apache-2.0
        base_model: acme/base-7b
        base_model_relation: finetune
        datasets: [acme/instructions]
        tags: [text-generation, conversational]
        """,
    )
    changed = run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    assert "1 change" in changed.stdout and "updated: 1 model" in changed.stdout
    after = record(tmp_path, db, "acme/tuned-7b")
    assert after["tags"] == ["text-generation", "conversational"]
    assert (after["licence"], after["owner"]) == ("MIT", "ml-platform@acme.example")

    wins = run(tmp_path, "registry", "import", "--db", db, "--from", "hf", "--source-wins", cards)
    assert "took the source's" in wins.stderr
    assert record(tmp_path, db, "acme/tuned-7b")["licence"] == "Apache-2.0"
    assert record(tmp_path, db, "acme/tuned-7b")["owner"] == "ml-platform@acme.example"


def test_a_field_the_source_withdraws_is_removed(tmp_path: Path, cards: Path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    card(cards, "acme/tuned-7b", "base_model: acme/base-7b\nbase_model_relation: finetune")
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    model = record(tmp_path, db, "acme/tuned-7b")
    assert "licence" not in model and "tags" not in model


def test_a_described_model_replaces_its_stub(tmp_path: Path, cards: Path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    card(cards, "acme/base-7b", "license: mit\ntags: [base]")
    result = run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    assert result.stderr == ""  # a stub's fields are no curated values
    base = record(tmp_path, db, "acme/base-7b")
    assert base["tags"] == ["base"] and base["licence"] == "MIT"
    assert base.get("confidence", "declared") == "declared"


def test_a_bad_card_imports_nothing_and_is_located(tmp_path: Path, cards: Path):
    db_file = tmp_path / "r.db"
    db = f"sqlite:///{db_file}"
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    before = db_file.read_bytes()
    bad = card(
        cards,
        "acme/broken",
        "license: apache-2.0\nbase_model_relation: telepathy\nbase_model: acme/x",
    )
    result = run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards, code=2)
    assert "nothing was imported" in result.stderr
    assert f"{bad / 'README.md'}:" in result.stderr or "acme__broken/README.md:" in result.stderr
    assert "telepathy" in result.stderr
    assert db_file.read_bytes() == before


def test_a_bad_first_import_creates_no_database(tmp_path: Path):
    root = tmp_path / "cards"
    card(
        root,
        "acme/broken",
        "license: apache-2.0\nbase_model_relation: telepathy\nbase_model: acme/x",
    )
    result = run(
        tmp_path, "registry", "import", "--db", f"sqlite:///{tmp_path / 'new.db'}",
        "--from", "hf", root, code=2,
    )  # fmt: skip
    assert "telepathy" in result.stderr
    assert not (tmp_path / "new.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--source-wins", "x.yaml"), "--source-wins applies to --from hf|cyclonedx"),
        (("--from", "spdx", "--model-id", "a/b", "x.json"), "--model-id applies to --from hf"),
        (("--from", "hf", "--provider", "acme", "x"), "--provider applies to --from mlflow"),
        (("--from", "nope", "x"), "Invalid value for '--from'"),
    ],
)
def test_option_misuse_is_a_usage_error(tmp_path: Path, args: tuple[str, ...], message: str):
    result = run(
        tmp_path, "registry", "import", "--db", f"sqlite:///{tmp_path / 'r.db'}", *args, code=2
    )
    assert message in result.stderr
    assert not (tmp_path / "r.db").exists()


def test_the_report_as_json_lists_conflicts(tmp_path: Path, cards: Path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", cards)
    model = curate(tmp_path, db, "acme/tuned-7b", licence="MIT")
    report = json.loads(
        run(
            tmp_path, "registry", "import", "--db", db, "--from", "hf", "--format", "json", cards
        ).stdout
    )
    assert report["conflicts"] == [
        {
            "kind": "model",
            "id": "acme/tuned-7b",
            "field": "licence",
            "registry": "MIT",
            "source": "Apache-2.0",
            "source_name": model["source"],
            "resolution": "kept",
        }
    ]


def test_no_stub_provider_for_a_base_model_the_registry_has(tmp_path: Path):
    """The card names a base model the registry already holds (under its curated provider):
    neither the stub model nor the stub provider its id suggests is created."""
    db = f"sqlite:///{tmp_path / 'r.db'}"
    (tmp_path / "base.yaml").write_text(
        "providers: [{id: vendor-inc, name: Vendor Inc.}]\n"
        "models: [{id: vendor/base, name: Base, provider: vendor-inc, licence: MIT}]\n",
        encoding="utf-8",
    )
    run(tmp_path, "registry", "import", "--db", db, tmp_path / "base.yaml")
    root = tmp_path / "cards"
    card(root, "acme/tuned", "license: mit\nbase_model: vendor/base\nbase_model_relation: adapter")
    run(tmp_path, "registry", "import", "--db", db, "--from", "hf", root)
    listed = run(tmp_path, "registry", "list", "--db", db, "--kind", "provider", "--format", "json")
    assert [p["id"] for p in json.loads(listed.stdout)] == ["acme", "vendor-inc"]
    assert record(tmp_path, db, "vendor/base")["provider"] == "vendor-inc"
