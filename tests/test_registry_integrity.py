"""A registry that cannot be trusted never gives a verdict: rows changed outside
``aigov registry import``, a damaged SQLite file, rejected imports, concurrent imports.

Through the real CLI, on every backend of the ``db_url`` fixture where the item concerns the
database (SQLite file and PostgreSQL).
"""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from aigov_testing.cli import AigovProcess
from aigov_testing.databases import corrupt_index

AS_OF = "2025-06-01"
GATE = ("gate", "deepseek-r1", "--platform", "azure", "--region", "eastus", "--environment", "prod")

POLICY = """
policies:
  - id: INV-T1
    title: Active deployment of a model whose provider is under investigation
    description: test
    family: investigation
    severity: high
    remediation: Withdraw the deployment.
    message: "{{ dep.id }} of {{ model.id }} while {{ inv.id }} is open"
    subject: {as: dep, kind: deployment, where: {status: {in: [active, planned]}}}
    when:
      exists:
        as: inv
        kind: investigation
        where: {subject: {ref: model.provider}, status: {in: [open, reported]}}
"""

REGISTRY: dict[str, Any] = {
    "providers": [{"id": "deepseek", "name": "DeepSeek"}, {"id": "acme", "name": "Acme"}],
    "models": [
        {"id": "deepseek-r1", "name": "DeepSeek-R1", "provider": "deepseek", "tags": ["llm"]},
        {"id": "acme-7b", "name": "Acme 7B", "provider": "acme"},
    ],
    "investigations": [
        {
            "id": "inv-garante",
            "subject": "deepseek",
            "authority": "Garante",
            "authority_type": "regulator",
            "allegation": "privacy",
            "status": "open",
            "opened_at": "2025-01-30",
        },
    ],
}

ENUM_MESSAGE = (
    "stored investigation 'inv-garante': field 'status': Input should be 'reported', 'open'"
)


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "inv.yaml").write_text(textwrap.dedent(POLICY))
    return folder


@pytest.fixture
def seeded(cli, db_url: str, tmp_path: Path, policies: Path):
    """The REGISTRY imported into ``db_url``; returns a function running aigov against it."""
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(REGISTRY))
    imported = cli("registry", "import", "--db", db_url, path)
    assert imported.exit_code == 0, imported.stderr

    def run(*args: str | Path):
        common = ["--db", db_url]
        if args[0] in ("audit", "gate"):
            common += ["--policies", str(policies), "--as-of", AS_OF]
        return cli(*args, *common)

    run.db_url = db_url  # type: ignore[attr-defined]
    return run


def execute_sql(url: str, statement: str) -> None:
    """Write to the database behind aigov's back (as SQL or another tool would)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def assert_error(result: Any, fragment: str) -> None:
    output = result.stdout + result.stderr
    assert result.exit_code == 2, output
    assert fragment in output, output
    assert "internal error" not in output and "Traceback" not in output, output


# ----------------------------------------------------------------------- stored rows (5)


def test_stored_value_outside_its_enum_fails_closed(seeded) -> None:
    assert seeded(*GATE).exit_code == 1  # the open investigation denies
    execute_sql(seeded.db_url, "UPDATE investigation SET status = 'Open'")

    gate = seeded(*GATE)
    assert_error(gate, ENUM_MESSAGE)
    assert gate.stdout.startswith("DENY (error: ")
    assert "(got 'Open')" in gate.stdout
    assert_error(seeded("audit"), ENUM_MESSAGE)
    export = seeded("registry", "export")
    assert_error(export, ENUM_MESSAGE)
    assert export.stdout == ""
    assert_error(seeded("registry", "show", "inv-garante"), ENUM_MESSAGE)
    assert_error(seeded("registry", "list"), ENUM_MESSAGE)
    check = seeded("registry", "check")
    assert_error(check, ENUM_MESSAGE)
    assert "1 problem " in check.stderr


def test_a_row_changed_after_a_run_is_validated_again(seeded) -> None:
    """Records are validated once per unchanged row, not once per id: a row changed between
    two runs in one process (the in-process CLI keeps the cache) is validated again."""
    assert seeded(*GATE).exit_code == 1
    execute_sql(seeded.db_url, "UPDATE provider SET name = '' WHERE id = 'deepseek'")
    assert_error(seeded(*GATE), "stored provider 'deepseek': field 'name'")


def test_an_invalid_record_of_an_unrelated_model_fails_the_audit(seeded) -> None:
    execute_sql(seeded.db_url, "UPDATE model SET id = 'bad id' WHERE id = 'acme-7b'")
    assert_error(seeded("audit"), "stored model 'bad id': field 'id': String should match")


def test_undecodable_sqlite_values_name_record_and_field(cli, sqlite_url: str, seeded_sqlite):
    execute_sql(sqlite_url, "UPDATE model SET tags = 'not json' WHERE id = 'deepseek-r1'")
    fragment = "stored model 'deepseek-r1': field 'tags': cannot be read"
    assert_error(seeded_sqlite(*GATE), fragment)
    assert_error(seeded_sqlite("registry", "export"), fragment)
    assert_error(seeded_sqlite("registry", "check"), fragment)


@pytest.fixture
def seeded_sqlite(cli, sqlite_url: str, tmp_path: Path, policies: Path):
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(REGISTRY))
    assert cli("registry", "import", "--db", sqlite_url, path).exit_code == 0

    def run(*args: str | Path):
        common = ["--db", sqlite_url]
        if args[0] in ("audit", "gate"):
            common += ["--policies", str(policies), "--as-of", AS_OF]
        return cli(*args, *common)

    return run


# ----------------------------------------------------------------- registry check (5, 6)


def test_registry_check_passes_a_sound_registry(seeded) -> None:
    result = seeded("registry", "check")
    assert result.exit_code == 0, result.stderr
    assert "is sound: 5 records checked" in result.stdout
    as_json = json.loads(seeded("registry", "check", "--format", "json").stdout)
    assert as_json["ok"] is True and as_json["problems"] == [] and as_json["records"] == 5


def test_registry_check_reports_a_valid_row_changed_outside_import(seeded) -> None:
    execute_sql(seeded.db_url, "UPDATE model SET name = 'Renamed' WHERE id = 'acme-7b'")
    assert seeded("audit").exit_code in (0, 1)  # valid: evaluation goes on
    assert_error(
        seeded("registry", "check"),
        "stored model 'acme-7b': changed outside 'aigov registry import'",
    )


# --------------------------------------------------------------------- damaged file (6)


def test_a_damaged_index_never_allows(sqlite_file: Path, seeded_sqlite) -> None:
    assert seeded_sqlite(*GATE).exit_code == 1
    corrupt_index(sqlite_file, "ix_investigation_subject")
    with sqlite3.connect(sqlite_file) as conn:  # the damage is real: the index hides it
        query = "SELECT id FROM investigation {} WHERE subject = 'deepseek'"
        assert conn.execute(query.format("INDEXED BY ix_investigation_subject")).fetchall() == []
        assert conn.execute(query.format("NOT INDEXED")).fetchall() == [("inv-garante",)]
    conn.close()

    fragment = "index 'ix_investigation_subject' of table 'investigation' has 0 entries"
    gate = seeded_sqlite(*GATE)
    assert_error(gate, fragment)
    assert gate.stdout.startswith("DENY (error: ") and "ALLOW" not in gate.stdout
    assert_error(seeded_sqlite("audit"), fragment)
    check = seeded_sqlite("registry", "check")
    assert_error(check, "integrity_check: ")
    assert "ix_investigation_subject" in check.stderr


def test_a_damaged_table_page_never_allows(sqlite_file: Path, seeded_sqlite) -> None:
    with sqlite3.connect(sqlite_file) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'investigation'")
        root = page.fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(sqlite_file, "r+b") as handle:
        handle.seek((root - 1) * page_size + 3)
        handle.write(b"\x00\x00")
    assert_error(seeded_sqlite(*GATE), "of table 'investigation' has 1 entries but the table")


# ------------------------------------------------------------------ rejected import (7)


@pytest.mark.parametrize(
    "text",
    [
        None,  # a path that does not exist
        "providers: [{id: x}]\n",  # an invalid record
        "models: [{id: m, name: M, provider: nope}]\n",  # a dangling reference
    ],
    ids=["missing-path", "invalid-record", "dangling-reference"],
)
def test_a_rejected_import_creates_no_database(cli, tmp_path: Path, text: str | None) -> None:
    source = tmp_path / "input.yaml"
    if text is not None:
        source.write_text(text)
    result = cli("registry", "import", source)
    assert result.exit_code == 2
    assert "registry input rejected, nothing was imported" in result.stderr
    assert sorted(p.name for p in cli.cwd.iterdir()) == []  # no aigov.db, -wal or -shm
    target = tmp_path / "new" / "reg.db"
    assert cli("registry", "import", "--db", f"sqlite:///{target}", source).exit_code == 2
    assert not target.parent.exists()


def test_a_valid_import_still_creates_the_database(cli, tmp_path: Path) -> None:
    source = tmp_path / "input.yaml"
    source.write_text(yaml.safe_dump(REGISTRY))
    assert cli("registry", "import", source).exit_code == 0
    assert (cli.cwd / "aigov.db").is_file()
    assert cli("registry", "check").exit_code == 0


# ------------------------------------------------------------ database errors (18)


def test_a_database_error_echoes_no_bound_parameters(cli, db_url: str, tmp_path: Path) -> None:
    assert cli("init", "--db", db_url).exit_code == 0
    # a provider row without its registry_object entry: the import's insert collides
    execute_sql(
        db_url,
        "INSERT INTO provider (id, name, confidence, aliases, provenance, unknown) "
        "VALUES ('p-7', 'x', 'declared', '[]', '{}', '[]')",
    )
    providers = [{"id": f"p-{i}", "name": f"secret-name-{i}"} for i in range(300)]
    source = tmp_path / "many.yaml"
    source.write_text(yaml.safe_dump({"providers": providers}))
    result = cli("registry", "import", "--db", db_url, source)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "failed, nothing was imported" in result.stderr
    assert "secret-name-" not in result.stderr and "parameters" not in result.stderr
    assert "INSERT" not in result.stderr and len(result.stderr) < 600, result.stderr


def test_concurrent_postgres_imports_of_the_same_new_records(
    aigov_process: AigovProcess, db_url: str, tmp_path: Path
) -> None:
    """(SQLite serialises writers with BEGIN IMMEDIATE, see test_registry.py.)"""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    url = db_url
    assert aigov_process.run("init", "--db", url).returncode == 0
    providers = [{"id": f"p-{i:04d}", "name": f"Provider {i}"} for i in range(3000)]
    source = tmp_path / "providers.yaml"
    source.write_text(yaml.safe_dump({"providers": providers}))
    app = f"aigov-concurrent-import-{os.getpid()}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        # Hold one of the new ids uncommitted, so both imports reach their inserts (or the
        # lock before them) while it is held: without serialisation, once it is released
        # both insert the same 3,000 rows and the second fails.
        with engine.connect() as blocker:
            holding = blocker.begin()
            blocker.execute(
                sa.text("INSERT INTO registry_object (id, kind, digest) VALUES ('p-0000', 'x', '')")
            )
            env = {"PGAPPNAME": app}
            command = ("registry", "import", "--db", url, "--format", "json", source)
            first = aigov_process.start(*command, env=env)
            second = aigov_process.start(*command, env=env)
            deadline = time.monotonic() + 120
            waiting = 0
            while waiting < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                with engine.connect() as watcher:  # its own transaction: a fresh snapshot
                    waiting = watcher.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = :app AND wait_event_type = 'Lock'"
                        ),
                        {"app": app},
                    ).scalar_one()
            holding.rollback()
            assert waiting == 2, "both imports should have been waiting"
        outputs = [process.communicate(timeout=300) for process in (first, second)]
        codes = [first.returncode, second.returncode]
        assert codes == [0, 0], outputs
        reports = [json.loads(out) for out, _err in outputs]
        created = sorted(report["created"].get("provider", 0) for report in reports)
        assert created == [0, 3000]
        assert sorted(report["unchanged"] for report in reports) == [0, 3000]
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM provider")).scalar_one()
        assert count == 3000
    finally:
        engine.dispose()
