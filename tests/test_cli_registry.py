"""``aigov registry``: round trip, atomicity, idempotency, dry runs, list/show/export output,
concurrent imports and oversized files, through the real command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from aigov.shipped import shipped


def export(cli, db: str, fmt: str = "yaml") -> str:
    result = cli("registry", "export", "--format", fmt, "--db", db)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def import_report(cli, db: str, *paths: Path, dry_run: bool = False) -> dict[str, Any]:
    args = ["registry", "import", *map(str, paths), "--db", db, "--format", "json"]
    result = cli(*args, *(["--dry-run"] if dry_run else []))
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def write_split_sample(write_registry, sample: dict[str, Any]) -> Path:
    """The sample registry spread over several files, formats and documents, in a tree;
    returns the directory."""
    top = write_registry("10-providers.yaml", {k: sample[k] for k in ("providers", "terms")})
    docs = [{"models": sample["models"]}, {"datasets": sample["datasets"]}]
    write_registry(
        "models/20-models.yaml",
        text="---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True) for d in docs),
    )
    rest = ("lineage", "investigations", "approvals", "deployments", "waivers")
    write_registry("30-governance/rest.json", {k: sample[k] for k in rest})
    return top.parent


def contains(expected: Any, actual: Any) -> bool:
    """``actual`` has everything ``expected`` has (and maybe defaults more), recursively."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and contains(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return type(expected) is type(actual) and expected == actual


def sample_count(sample: dict[str, Any]) -> int:
    return sum(len(records) for records in sample.values())


def sqlite_files(path: Path) -> dict[str, bytes]:
    """The database file and its WAL companions, as bytes."""
    return {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)}


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(db_url: str, cli, tmp_path: Path, write_registry, sample_registry, fmt) -> None:
    source = write_split_sample(write_registry, sample_registry)
    report = import_report(cli, db_url, source)
    assert report["records"] == sample_count(sample_registry)
    exported = export(cli, db_url, fmt)

    # nothing was lost: every field of every input record is in the export, unchanged
    data = json.loads(exported) if fmt == "json" else yaml.safe_load(exported)
    assert data["schema_version"] == 2
    for section, records in sample_registry.items():
        by_id = {r["id"]: r for r in data[section]}
        assert len(by_id) == len(records)
        for record in records:
            rid = record.get("id") or f"{record['child']}~{record['relation']}~{record['parent']}"
            assert contains(record, by_id[rid]), (section, record, by_id[rid])

    # import(export(db)) reproduces the registry, here in a new SQLite database
    out = tmp_path / f"export.{fmt}"
    result = cli("registry", "export", "--format", fmt, "-o", out, "--db", db_url)
    assert (result.exit_code, result.stdout) == (0, "")
    assert out.read_text(encoding="utf-8") == exported
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    second = import_report(cli, fresh, out)
    assert second["records"] == report["records"]
    assert sum(second["created"].values()) == report["records"]
    assert export(cli, fresh, fmt) == exported
    assert export(cli, fresh, "yaml" if fmt == "json" else "json") == export(
        cli, db_url, "yaml" if fmt == "json" else "json"
    )
    # and importing the export back into the original changes nothing
    assert import_report(cli, db_url, out)["unchanged"] == report["records"]


def test_export_is_deterministic_and_sorted(db_url: str, cli, write_registry, sample_registry):
    reversed_sample = {k: list(reversed(v)) for k, v in reversed(sample_registry.items())}
    import_report(cli, db_url, write_registry(data=reversed_sample))
    first = export(cli, db_url)
    assert export(cli, db_url) == first
    data = yaml.safe_load(first)
    assert list(data) == [
        "schema_version",
        "providers",
        "terms",
        "models",
        "datasets",
        "lineage",
        "investigations",
        "approvals",
        "deployments",
        "waivers",
    ]
    for section, records in data.items():
        if section != "schema_version":
            ids = [r["id"] for r in records]
            assert ids == sorted(ids), section


def test_shipped_example_registry_round_trips(cli, tmp_path: Path) -> None:
    examples = shipped("examples")
    files = [p for p in examples.rglob("*") if p.suffix in (".yaml", ".yml", ".json")]
    assert files, f"the shipped example registry {examples} is empty"
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    report = import_report(cli, first, examples)
    assert report["records"] > 0
    assert import_report(cli, first, examples)["created"] == {}
    out = tmp_path / "export.yaml"
    out.write_text(export(cli, first), encoding="utf-8")
    import_report(cli, second, out)
    assert export(cli, second) == out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- atomicity


def test_import_is_atomic(
    db_url: str, cli, tmp_path: Path, write_registry, sample_registry
) -> None:
    """A directory whose last file holds one bad record imports nothing; every error is
    reported with file:line and field; the database is unchanged, byte for byte."""
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump({k: sample_registry[k] for k in ("providers", "models")}))
    import_report(cli, db_url, seed)
    before = export(cli, db_url)
    sqlite_db = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    files_before = sqlite_files(sqlite_db) if sqlite_db else None

    # a batch that would create, update and reference records...
    sample_registry["models"][0]["name"] = "GPT-4o (renamed)"
    batch = write_split_sample(write_registry, sample_registry)
    # ...and whose last file (in import order) has one bad record, and another file two
    write_registry(
        "zz-last.yaml",
        text="deployments:\n  - id: dep-ok\n    model: gpt-4o\n    platform: x\n"
        "    region: y\n    environment: prod\n"
        "  - id: dep-bad\n    model: gpt-4o\n    platform: x\n    region: y\n"
        "    environment: production\n",
    )
    write_registry(
        "50-more.yaml",
        text="models:\n  - id: extra\n    name: Extra\n    provider: nobody\n"
        "    release_date: 2025-02-30\n",
    )

    result = cli("registry", "import", batch, "--db", db_url)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "registry input rejected, nothing was imported: 2 errors"
    assert lines[1:] == [
        f"  {batch / '50-more.yaml'}:5: model 'extra': field 'release_date': "
        "invalid date '2025-02-30': day is out of range for month",
        f"  {batch / 'zz-last.yaml'}:11: deployment 'dep-bad': field 'environment': "
        "Input should be 'dev', 'staging' or 'prod' (got 'production')",
    ]

    # fix those two: the dangling reference of the model is reported next, alone
    write_registry(
        "50-more.yaml", text="models:\n  - id: extra\n    name: X\n    provider: nobody\n"
    )
    (batch / "zz-last.yaml").unlink()
    result = cli("registry", "import", batch, "--db", db_url)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[1:] == [
        f"  {batch / '50-more.yaml'}:4: model 'extra': field 'provider': "
        "dangling reference: no provider 'nobody'"
    ]

    assert export(cli, db_url) == before
    if sqlite_db:
        assert sqlite_files(sqlite_db) == files_before


def test_dry_run_with_errors_is_exit_2(db_url: str, cli, write_registry) -> None:
    assert cli("init", "--db", db_url).exit_code == 0
    path = write_registry(text="providers:\n  - id: p\n")
    result = cli("registry", "import", "--dry-run", path, "--db", db_url)
    assert result.exit_code == 2
    assert f"{path}:2: provider 'p': field 'name': required field is missing" in result.stderr


def test_id_that_names_another_kind_in_the_registry(db_url: str, cli, write_registry) -> None:
    import_report(
        cli, db_url, write_registry("a.yaml", text="providers:\n  - id: x\n    name: X\n")
    )
    path = write_registry("b.yaml", text="models:\n  - id: x\n    name: X\n    provider: x\n")
    result = cli("registry", "import", path, "--db", db_url)
    assert result.exit_code == 2
    assert f"{path}:2: model 'x': field 'id': id already names a provider" in result.stderr


def test_references_may_name_records_imported_earlier(db_url: str, cli, write_registry) -> None:
    import_report(
        cli, db_url, write_registry("a.yaml", text="providers:\n  - id: p\n    name: P\n")
    )
    report = import_report(
        cli,
        db_url,
        write_registry("b.yaml", text="models:\n  - id: m\n    name: M\n    provider: p\n"),
    )
    assert report["created"] == {"model": 1}


# --------------------------------------------------------------------------- idempotency


def test_import_is_idempotent_and_updates_changed_records(
    db_url: str, cli, write_registry, sample_registry
) -> None:
    source = write_split_sample(write_registry, sample_registry)
    total = sample_count(sample_registry)
    first = import_report(cli, db_url, source)
    assert first["created"] == {
        "provider": 3,
        "terms": 2,
        "model": 3,
        "dataset": 2,
        "lineage": 3,
        "investigation": 1,
        "approval": 1,
        "deployment": 2,
        "waiver": 1,
    }
    assert (first["updated"], first["unchanged"], first["dry_run"]) == ({}, 0, False)
    snapshot = export(cli, db_url)

    second = cli("registry", "import", source, "--db", db_url)
    assert second.exit_code == 0
    assert second.stdout == (
        f"imported {total} records from 3 files: 0 changes (created: none; updated: none; "
        f"unchanged: {total})\n"
    )
    assert export(cli, db_url) == snapshot

    # change a model, a dataset's generators and a nested approval field; drop a provider
    sample_registry["models"][2]["name"] = "R1 Distill Qwen 7B v2"
    sample_registry["datasets"][1]["generators"] = ["deepseek-r1"]
    sample_registry["approvals"][0]["scope"]["regions"].append("eu-central-1")
    dropped = sample_registry["providers"].pop()
    changed = write_registry("changed.yaml", sample_registry)
    third = import_report(cli, db_url, changed)
    assert third["created"] == {}
    assert third["updated"] == {"model": 1, "dataset": 1, "approval": 1}
    assert third["unchanged"] == total - 1 - 3
    data = yaml.safe_load(export(cli, db_url))
    models = {m["id"]: m for m in data["models"]}
    assert models["r1-distill-qwen-7b"]["name"] == "R1 Distill Qwen 7B v2"
    datasets = {d["id"]: d for d in data["datasets"]}
    assert datasets["r1-sft-data"]["generators"] == ["deepseek-r1"]
    assert data["approvals"][0]["scope"]["regions"] == ["eu-west-1", "eu-central-1"]
    # import never deletes: a record missing from the files stays
    assert dropped["id"] in {p["id"] for p in data["providers"]}
    # and the changed files are now idempotent too
    assert import_report(cli, db_url, changed)["updated"] == {}


def test_dry_run_writes_nothing(db_url: str, cli, write_registry, sample_registry) -> None:
    assert cli("init", "--db", db_url).exit_code == 0
    source = write_split_sample(write_registry, sample_registry)
    empty = export(cli, db_url)
    result = cli("registry", "import", "--dry-run", source, "--db", db_url)
    assert result.exit_code == 0, result.stderr
    total = sample_count(sample_registry)
    assert result.stdout.startswith(f"would import {total} records from 3 files: {total} changes")
    assert export(cli, db_url) == empty

    import_report(cli, db_url, source)
    snapshot = export(cli, db_url)
    sample_registry["models"][0]["name"] = "renamed"
    report = import_report(cli, db_url, write_registry("x.yaml", sample_registry), dry_run=True)
    assert (report["dry_run"], report["updated"], report["created"]) == (True, {"model": 1}, {})
    assert export(cli, db_url) == snapshot


# --------------------------------------------------------------------------- list, show, export


@pytest.fixture
def loaded_db(db_url: str, cli, write_registry) -> str:
    import_report(cli, db_url, write_registry())
    return db_url


def test_list_table(loaded_db: str, cli, sample_registry) -> None:
    result = cli("registry", "list", "--kind", "model", "--db", loaded_db)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "ID", "NAME"]
    assert set(lines[1]) <= {"-", " "}
    assert [line.split(None, 2) for line in lines[2:]] == [
        ["model", "deepseek-r1", "DeepSeek R1"],
        ["model", "gpt-4o", "GPT-4o"],
        ["model", "r1-distill-qwen-7b", "R1 Distill Qwen 7B"],
    ]
    everything = cli("registry", "list", "--db", loaded_db).stdout.splitlines()
    assert len(everything) == 2 + sample_count(sample_registry)


def test_list_json_and_kind_filters(loaded_db: str, cli) -> None:
    result = cli(
        "registry", "list", "--kind", "lineage", "--kind", "waiver", "--format", "json",
        "--db", loaded_db,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "kind": "lineage",
            "id": "deepseek-r1~trained_on_outputs~gpt-4o",
            "label": "deepseek-r1 <-trained_on_outputs- gpt-4o",
        },
        {
            "kind": "lineage",
            "id": "deepseek-r1~trained_on~web-crawl",
            "label": "deepseek-r1 <-trained_on- web-crawl",
        },
        {
            "kind": "lineage",
            "id": "distill-7b",
            "label": "r1-distill-qwen-7b <-distillation- deepseek-r1",
        },
        {"kind": "waiver", "id": "waiver-7b-dev", "label": "HOST-001"},
    ]


def test_list_unknown_kind_and_empty_registry(db_url: str, cli) -> None:
    assert cli("init", "--db", db_url).exit_code == 0
    result = cli("registry", "list", "--kind", "modle", "--db", db_url)
    assert result.exit_code == 2
    assert "unknown kind 'modle'" in result.stderr
    result = cli("registry", "list", "--format", "json", "--db", db_url)
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def _ids(items: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        tuple(str(i[k]) for k in ("kind", "id", "relation", "depth") if i.get(k) is not None)
        for i in items
    ]


def test_show_model_with_its_relations(loaded_db: str, cli, sample_registry) -> None:
    result = cli("registry", "show", "deepseek-r1", "--format", "json", "--db", loaded_db)
    assert result.exit_code == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["kind"] == "model"
    expected = {"confidence": "declared", **sample_registry["models"][1]}
    assert view["record"] == expected
    assert _ids(view["ancestors"]) == [
        ("model", "gpt-4o", "trained_on_outputs", "1"),
        ("dataset", "web-crawl", "trained_on", "1"),
    ]
    assert _ids(view["descendants"]) == [
        ("model", "r1-distill-qwen-7b", "distillation", "1"),
        ("dataset", "r1-sft-data", "generated_by", "1"),
    ]
    assert _ids(view["datasets"]) == [("dataset", "web-crawl", "trained_on", "1")]
    assert _ids(view["deployments"]) == [("deployment", "dep-r1-eu-prod")]
    assert _ids(view["approvals"]) == [("approval", "appr-r1-eu")]
    assert _ids(view["investigations"]) == [("investigation", "inv-openai-deepseek")]
    assert ("deployment", "dep-r1-eu-prod", "model") in _ids(view["referenced_by"])


def test_show_follows_lineage_transitively(loaded_db: str, cli) -> None:
    view = json.loads(
        cli("registry", "show", "r1-distill-qwen-7b", "--format", "json", "--db", loaded_db).stdout
    )
    ancestors = {a["id"]: a for a in view["ancestors"]}
    assert ancestors["deepseek-r1"]["depth"] == 1
    assert (ancestors["gpt-4o"]["depth"], ancestors["gpt-4o"]["via"]) == (2, "deepseek-r1")
    # the ancestor's provider is under investigation; the deployment has a waiver
    assert _ids(view["investigations"]) == [("investigation", "inv-openai-deepseek")]
    assert _ids(view["waivers"]) == [("waiver", "waiver-7b-dev")]


def test_show_a_dataset_with_its_declared_links(loaded_db: str, cli, sample_registry) -> None:
    view = json.loads(
        cli("registry", "show", "r1-sft-data", "--format", "json", "--db", loaded_db).stdout
    )
    assert view["record"]["generators"] == ["gpt-4o", "deepseek-r1"]
    assert view["record"]["sources"] == ["web-crawl"]
    assert _ids(view["ancestors"]) == [
        ("model", "deepseek-r1", "generated_by", "1"),
        ("model", "gpt-4o", "generated_by", "1"),
        ("dataset", "web-crawl", "derived_from", "1"),
    ]


def test_show_lists_what_references_a_record_through_a_list_field(loaded_db: str, cli) -> None:
    model = json.loads(
        cli("registry", "show", "gpt-4o", "--format", "json", "--db", loaded_db).stdout
    )
    assert ("dataset", "r1-sft-data", "generators") in _ids(model["referenced_by"])
    investigation = json.loads(
        cli("registry", "show", "inv-openai-deepseek", "--format", "json", "--db", loaded_db).stdout
    )
    assert ("approval", "appr-r1-eu", "acknowledged_investigations") in _ids(
        investigation["referenced_by"]
    )


def test_show_text(loaded_db: str, cli) -> None:
    result = cli("registry", "show", "r1-distill-qwen-7b", "--db", loaded_db)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("model r1-distill-qwen-7b\nid: r1-distill-qwen-7b\n")
    assert (
        "\nlineage up (ancestors):\n  model deepseek-r1 (DeepSeek R1) [distillation, depth 1]\n"
        in out
    )
    assert "  model gpt-4o (GPT-4o) [trained_on_outputs, depth 2] via deepseek-r1\n" in out
    assert "\ndeployments:\n  deployment dep-7b-dev (acme-cloud)\n" in out
    assert "\nwaivers:\n  waiver waiver-7b-dev (HOST-001)\n" in out


def test_show_unknown_id(loaded_db: str, cli) -> None:
    result = cli("registry", "show", "no-such-model", "--db", loaded_db)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no record with id 'no-such-model'" in result.stderr


def test_db_option_wins_over_environment(
    loaded_db: str, cli, tmp_path: Path, sample_registry
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert cli("init", "--db", other).exit_code == 0
    by_env = cli("registry", "list", "--format", "json", env={"AIGOV_DB": loaded_db})
    assert len(json.loads(by_env.stdout)) == sample_count(sample_registry)
    both = cli("registry", "list", "--format", "json", "--db", other, env={"AIGOV_DB": loaded_db})
    assert json.loads(both.stdout) == []


def test_usage_errors_exit_2(cli) -> None:
    for args in (
        ["registry", "import"],
        ["registry", "export", "--format", "xml"],
        ["nope"],
        ["gate", "deepseek-r1"],  # no --platform
        ["gate", "deepseek-r1", "--deployment", "dep.yaml"],  # both forms at once
    ):
        result = cli(*args)
        assert result.exit_code == 2, args
        # the gate states its verdict on stdout even for a usage error; the others print nothing
        if args[0] == "gate":
            assert result.stdout.startswith("DENY (error:"), args
        else:
            assert result.stdout == ""
        assert "Usage:" in result.stderr


# --------------------------------------------------------------------------- real processes


def _big_registry(prefix: str, providers: int, models: int, tag: str) -> dict[str, Any]:
    return {
        "providers": [{"id": f"shared-{i}", "name": f"{tag} {i}"} for i in range(providers)],
        "models": [
            {
                "id": f"{prefix}-{i}",
                "name": f"{tag} model {i}",
                "provider": f"shared-{i % providers}",
            }
            for i in range(models)
        ],
    }


def test_concurrent_imports_into_one_sqlite_file(
    aigov_process, write_registry, sqlite_url: str, sqlite_file: Path
) -> None:
    """Two imports started at once against one SQLite file both succeed, serialised."""
    rounds = [
        ("a", "b"),  # the database does not exist yet: both create it
        ("c", "d"),  # both update the same shared providers: one whole batch wins
    ]
    for one, two in rounds:
        paths = [
            write_registry(f"{name}.yaml", _big_registry(name, 300, 3000, f"batch-{name}"))
            for name in (one, two)
        ]
        procs = [
            aigov_process.start("registry", "import", path, "--db", sqlite_url) for path in paths
        ]
        reader = None
        if one == "c":  # and a reader at the same time
            reader = aigov_process.start(
                "registry", "export", "--format", "json", "--db", sqlite_url
            )
        for proc in procs + ([reader] if reader else []):
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert "locked" not in err.lower()
            assert err == ""

    conn = sqlite3.connect(sqlite_file)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        models = {row[0] for row in conn.execute("SELECT id FROM model")}
        assert models == {f"{p}-{i}" for p in "abcd" for i in range(3000)}
        names = {row[0].split()[0] for row in conn.execute("SELECT name FROM provider")}
        assert names in ({"batch-c"}, {"batch-d"}), names
        assert conn.execute("SELECT count(*) FROM registry_object").fetchone() == (300 + 12000,)
    finally:
        conn.close()


def test_a_50_megabyte_file_is_rejected_cleanly(
    aigov_process, write_registry, sqlite_url: str
) -> None:
    seed = write_registry("seed/seed.yaml")
    assert aigov_process.run("registry", "import", seed, "--db", sqlite_url).returncode == 0
    before = aigov_process.run("registry", "export", "--db", sqlite_url).stdout

    big = seed.parent.parent / "batch" / "big.yaml"
    big.parent.mkdir()
    record = "  - id: p{0}\n    name: Provider number {0} with a long padded name {1}\n"
    with big.open("w", encoding="utf-8") as out:
        out.write("providers:\n")
        i = 0
        while out.tell() < 50 * 1024 * 1024:
            out.write("".join(record.format(i + j, "x" * 40) for j in range(10_000)))
            i += 10_000
    write_registry(
        "batch/small.yaml", text="models:\n  - id: m\n    name: M\n    provider: openai\n"
    )
    size = big.stat().st_size

    result = aigov_process.run("registry", "import", big.parent, "--db", sqlite_url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "registry input rejected, nothing was imported: 1 error",
        f"  {big}: file is {size:,} bytes, over the {16 * 1024 * 1024:,}-byte limit per file; "
        "split it into several files (a directory is read recursively) or raise "
        "AIGOV_MAX_FILE_BYTES",
    ]
    assert aigov_process.run("registry", "export", "--db", sqlite_url).stdout == before


def test_installed_script_runs(aigov_process) -> None:
    result = aigov_process.run("--help")
    assert result.returncode == 0
    assert "registry" in result.stdout
    schema = aigov_process.run("registry", "schema")
    assert json.loads(schema.stdout)["title"] == "aigov registry file (v2)"
