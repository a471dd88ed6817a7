"""Registry schema v2 and v3: older databases are upgraded by a migration, never read
half-understood.

``fixtures/registry-v1.sql`` is a real v1 database (the example registry imported by aigov
at schema version 1, dumped with SQLite's ``.dump``). PostgreSQL has no such dump: there the
v1 layout is made by removing the v2 and v3 columns from a fresh schema (and giving its dates
back their DATE type).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import sqlalchemy as sa
import yaml

from aigov.registry.store import SCHEMA_VERSION, open_registry
from aigov_testing.cli import invoke_cli

V1_DUMP = Path(__file__).parent / "fixtures" / "registry-v1.sql"
EXAMPLES = Path(__file__).parents[1] / "examples" / "registry"


def v1_sqlite(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_DUMP.read_text(encoding="utf-8"))
    return f"sqlite:///{path}"


def _version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(
            sa.text("SELECT value FROM aigov_meta WHERE key = 'schema_version'")
        ).scalar_one()
    engine.dispose()
    return value


def test_reading_commands_refuse_a_v1_database_and_change_nothing(tmp_path: Path) -> None:
    url = v1_sqlite(tmp_path / "v1.db")
    before = (tmp_path / "v1.db").read_bytes()
    for args in (
        ("audit", "--db", url, "--as-of", "2025-06-01"),
        ("gate", "--db", url, "deepseek-r1", "--platform", "aws-bedrock", "--region", "x"),
        ("registry", "export", "--db", url),
    ):
        result = invoke_cli(tmp_path, *args)
        assert result.exit_code == 2, (args, result.output)
        assert f"schema version 1, older than this aigov's ({SCHEMA_VERSION})" in result.stderr
        assert "aigov registry migrate" in result.stderr
    assert (tmp_path / "v1.db").read_bytes() == before


def test_migrate_upgrades_a_v1_database_keeping_every_record(tmp_path: Path) -> None:
    url = v1_sqlite(tmp_path / "v1.db")
    exported_v1 = tmp_path / "v1-export.yaml"
    result = invoke_cli(tmp_path, "registry", "migrate", "--db", url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"from schema version 1 to {SCHEMA_VERSION}")
    assert _version(url) == str(SCHEMA_VERSION)
    again = invoke_cli(tmp_path, "registry", "migrate", "--db", url)
    assert again.exit_code == 0 and f"already at schema version {SCHEMA_VERSION}" in again.stdout

    # every v1 record is still there, and each still validates (export reads them all) ...
    export = invoke_cli(tmp_path, "registry", "export", "--db", url, "-o", str(exported_v1))
    assert export.exit_code == 0, export.output
    exported = yaml.safe_load(exported_v1.read_text(encoding="utf-8"))
    with sqlite3.connect(tmp_path / "v1.db") as conn:
        for section, records in exported.items():
            if isinstance(records, list):
                table = {"terms": "terms", "lineage": "lineage"}.get(section, section[:-1])
                (stored,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert len(records) == stored, section
    assert sum(len(v) for v in exported.values() if isinstance(v, list)) == 84
    # ... and the new fields can be written: a dataset creator, who ran a lineage step
    (tmp_path / "v2.yaml").write_text(
        "datasets:\n"
        "  - {id: v2-data, name: V2 data, creator: deepseek, licences: [MIT],\n"
        "     url: {value: 'https://example.org/d', confidence: unverified}, unknown: [synthetic]}\n"
        "lineage:\n"
        "  - {child: deepseek-r1, parent: v2-data, relation: trained_on, performed_by: deepseek,\n"
        "     evidence: test}\n",
        encoding="utf-8",
    )
    imported = invoke_cli(tmp_path, "registry", "import", "--db", url, str(tmp_path / "v2.yaml"))
    assert imported.exit_code == 0, imported.output
    shown = invoke_cli(tmp_path, "registry", "show", "--db", url, "v2-data", "--format", "json")
    record = json.loads(shown.stdout)["record"]
    assert record["creator"] == "deepseek" and record["unknown"] == ["synthetic"]
    assert record["provenance"] == {"url": {"confidence": "unverified"}}


def test_import_upgrades_a_v1_database(tmp_path: Path) -> None:
    url = v1_sqlite(tmp_path / "v1.db")
    result = invoke_cli(tmp_path, "registry", "import", "--db", url, str(EXAMPLES))
    assert result.exit_code == 0, result.output
    assert _version(url) == str(SCHEMA_VERSION)


def test_migration_on_each_backend(db_url: str, tmp_path: Path) -> None:
    """The migration statements run on PostgreSQL too: a v3 schema stripped back to v1.
    After it, a date known only to the month is stored and read back as written."""
    if db_url.startswith("sqlite"):
        Path(sa.make_url(db_url).database or "").parent.mkdir(parents=True, exist_ok=True)
        v1_sqlite(Path(sa.make_url(db_url).database or ""))
    else:
        with open_registry(db_url, create=True) as registry, registry.write() as conn:
            conn.execute(sa.text("DROP INDEX ix_dataset_creator"))
            conn.execute(sa.text("ALTER TABLE dataset DROP COLUMN creator"))
            conn.execute(sa.text("ALTER TABLE lineage DROP COLUMN performed_by"))
            conn.execute(sa.text("ALTER TABLE model DROP COLUMN licence_history"))
            for table, column in (("model", "safety_risk_assessment"), ("model", "domain"),
                                  ("model", "standard_compliance"), ("model", "autonomy_type"), ("model", "terms"),
                                  ("dataset", "tags"), ("dataset", "availability"),
                                  ("dataset", "sensitive_personal_information")):  # fmt: skip
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            for table, column in (("model", "release_date"), ("model", "eu_placed_on_market"),
                                  ("terms", "effective_from"), ("terms", "effective_to")):  # fmt: skip
                conn.execute(
                    sa.text(
                        f"ALTER TABLE {table} ALTER COLUMN {column} TYPE DATE USING {column}::date"
                    )
                )
            conn.execute(sa.text("ALTER TABLE dataset DROP COLUMN licence_history"))
            for table in ("provider", "terms", "model", "dataset", "lineage", "investigation",
                          "approval", "deployment", "waiver"):  # fmt: skip
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN provenance"))
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN unknown"))
            conn.execute(sa.text("UPDATE aigov_meta SET value = '1'"))
    with open_registry(db_url, upgrade=True) as registry:
        assert registry.create_schema() == 1
    assert _version(db_url) == str(SCHEMA_VERSION)
    with open_registry(db_url) as registry, registry.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("dataset")}
        assert {"creator", "availability", "tags"} <= columns
    (tmp_path / "partial.yaml").write_text(
        "providers: [{id: acme, name: Acme}]\n"
        "models: [{id: m, name: m, provider: acme, release_date: '2025-01',\n"
        "          eu_placed_on_market: 2025, safety_risk_assessment: low}]\n",
        encoding="utf-8",
    )
    imported = invoke_cli(tmp_path, "registry", "import", "--db", db_url, tmp_path / "partial.yaml")
    assert imported.exit_code == 0, imported.output
    shown = invoke_cli(tmp_path, "registry", "show", "--db", db_url, "m", "--format", "json")
    record = json.loads(shown.stdout)["record"]
    assert (record["release_date"], record["eu_placed_on_market"]) == ("2025-01", "2025")
