"""The registry store: opening, schema versioning, foreign keys and SQLite settings."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from aigov.errors import RegistryError
from aigov.registry.operations import export_registry, import_paths
from aigov.registry.store import (
    SCHEMA_VERSION,
    SQLITE_BUSY_TIMEOUT_S,
    Meta,
    Registry,
    open_registry,
    table_of,
)


def _set_schema_version(url: str, value: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.update(Meta.__table__).values(value=value))  # type: ignore[attr-defined]
    engine.dispose()


def test_create_records_the_schema_version(db_url: str) -> None:
    with open_registry(db_url, create=True) as reg:
        assert reg.schema_version() == SCHEMA_VERSION
    # Opening again (with or without create) keeps the version and the data.
    with open_registry(db_url, create=True) as reg:
        assert reg.schema_version() == SCHEMA_VERSION
    with open_registry(db_url) as reg, reg.read() as conn:
        rows = conn.execute(sa.select(Meta.key, Meta.value)).all()
    assert rows == [("schema_version", str(SCHEMA_VERSION))]


def test_database_without_schema_is_refused(db_url: str) -> None:
    # db_url is an empty database (PostgreSQL) or a missing file (SQLite): neither is a registry.
    with pytest.raises(RegistryError, match=r"aigov init"):
        open_registry(db_url)


def test_newer_schema_version_is_refused(db_url: str) -> None:
    open_registry(db_url, create=True).close()
    _set_schema_version(db_url, "99")
    for create in (False, True):  # not even 'aigov init' may touch it
        with pytest.raises(RegistryError) as info:
            open_registry(db_url, create=create)
        message = str(info.value)
        assert "schema version 99" in message
        assert f"({SCHEMA_VERSION})" in message
        assert "upgrade aigov" in message
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(sa.select(Meta.value)).scalar_one() == "99"
    engine.dispose()


def test_cli_refuses_newer_schema_version(db_url: str, cli, write_registry) -> None:
    path = write_registry()
    assert cli("registry", "import", path, "--db", db_url).exit_code == 0
    _set_schema_version(db_url, "99")
    for args in (
        ["registry", "list"],
        ["registry", "export"],
        ["registry", "show", "openai"],
        ["registry", "import", str(path)],
        ["init"],
    ):
        result = cli(*args, "--db", db_url)
        assert result.exit_code == 2, args
        assert result.stdout == ""
        assert "schema version 99" in result.stderr
        assert "upgrade aigov" in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "aigov.db"
    with pytest.raises(RegistryError, match="does not exist"):
        open_registry(f"sqlite:///{path}")
    assert not path.exists()
    assert not path.parent.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["registry", "list"],
        ["registry", "export"],
        ["registry", "show", "openai"],
    ],
)
def test_read_commands_do_not_create_a_missing_database(
    args: list[str], cli, work_dir: Path, write_registry
) -> None:
    path = write_registry()
    args = [a.replace("{registry}", str(path)) for a in args]
    # the default database, ./aigov.db
    result = cli(*args)
    assert result.exit_code == 2
    assert "aigov.db does not exist" in result.stderr
    assert list(work_dir.iterdir()) == []
    # an explicit --db, and AIGOV_DB
    target = work_dir / "sub" / "other.db"
    for extra, env in (
        (["--db", f"sqlite:///{target}"], None),
        ([], {"AIGOV_DB": f"sqlite:///{target}"}),
    ):
        result = cli(*args, *extra, env=env)
        assert result.exit_code == 2
        assert f"{target} does not exist" in result.stderr
        assert list(work_dir.iterdir()) == []


def test_dry_run_without_a_database_validates_and_creates_nothing(
    cli, work_dir: Path, write_registry
) -> None:
    good = cli("registry", "import", "--dry-run", write_registry())
    assert good.exit_code == 0, good.stderr
    assert "would import" in good.stdout and "empty registry" in good.stderr
    bad = cli("registry", "import", "--dry-run", write_registry(text="providers:\n  - id: p\n"))
    assert bad.exit_code == 2
    assert "field 'name': required field is missing" in bad.stderr
    assert list(work_dir.iterdir()) == []


def test_init_creates_the_default_database_in_cwd(cli, work_dir: Path) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.stderr
    assert (work_dir / "aigov.db").is_file()
    assert "sqlite:///aigov.db" in result.stdout
    with open_registry(f"sqlite:///{work_dir / 'aigov.db'}") as reg:
        assert reg.schema_version() == SCHEMA_VERSION


def test_aigov_db_environment_variable_selects_the_database(cli, work_dir: Path) -> None:
    target = work_dir / "elsewhere.db"
    assert cli("init", env={"AIGOV_DB": f"sqlite:///{target}"}).exit_code == 0
    assert target.is_file()
    assert not (work_dir / "aigov.db").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not an aigov registry"),
        (b"this is not a database, just some text " * 50, "file is not a database"),
    ],
)
def test_a_file_that_is_not_a_registry_is_a_clear_error(
    tmp_path: Path, cli, content: bytes, message: str
) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(content)
    result = cli("registry", "list", "--db", f"sqlite:///{path}")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "internal error" not in result.stderr
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid database URL"),
        ("nosuchdialect://x/y", "cannot open"),
    ],
)
def test_bad_database_urls(cli, url: str, message: str) -> None:
    result = cli("registry", "list", "--db", url)
    assert result.exit_code == 2
    assert message in result.stderr


def test_foreign_keys_are_enforced_by_the_database(registry: Registry) -> None:
    """Raw inserts that bypass the import checks still cannot create a dangling reference."""
    deployment, lineage = table_of("deployment"), table_of("lineage")
    row = {
        "id": "dep-x",
        "model": "no-such-model",
        "platform": "p",
        "region": "r",
        "environment": "prod",
        "exposure": "internal",
        "status": "active",
        "guardrails": [],
        "confidence": "declared",
    }
    with pytest.raises(sa.exc.IntegrityError), registry.write() as conn:
        conn.execute(sa.insert(deployment).values(row))
    with pytest.raises(sa.exc.IntegrityError), registry.write() as conn:
        conn.execute(
            sa.insert(lineage).values(
                id="a~merge~b", child="a", parent="b", relation="merge", confidence="declared"
            )
        )
    with registry.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deployment)).scalar() == 0


def test_foreign_keys_protect_imported_records(registry: Registry, write_registry) -> None:
    import_paths(registry, [write_registry()])
    model = table_of("model")
    with pytest.raises(sa.exc.IntegrityError), registry.write() as conn:
        conn.execute(sa.delete(model).where(model.c.id == "deepseek-r1"))
    records = export_registry(registry)
    assert "deepseek-r1" in {m.id for m in records["model"]}


def test_sqlite_connection_settings(sqlite_url: str, sqlite_file: Path) -> None:
    with open_registry(sqlite_url, create=True) as reg, reg.read() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_S * 1000
    # WAL is a property of the file: a plain sqlite3 connection sees it too.
    plain = sqlite3.connect(sqlite_file)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert plain.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        plain.close()


def test_sqlite_write_transactions_take_the_lock_up_front(
    sqlite_url: str, sqlite_file: Path
) -> None:
    """A writer holds the write lock from BEGIN, so a second writer waits (busy timeout)
    instead of failing half-way with 'database is locked'."""
    with open_registry(sqlite_url, create=True) as reg, reg.write():
        other = sqlite3.connect(sqlite_file, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_creating_a_registry_waits_for_a_writer_on_a_rollback_journal(sqlite_file: Path) -> None:
    """Switching to WAL needs the write lock and SQLite does not wait for it (no busy handler):
    this is what two imports creating one file at once ran into. Creation must wait for the
    other writer, not fail with 'database is locked'."""
    sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    holder = sqlite3.connect(sqlite_file, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_tool (x)")
    release = threading.Timer(1.0, holder.execute, ["COMMIT"])
    release.start()
    try:
        with open_registry(f"sqlite:///{sqlite_file}", create=True) as reg, reg.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert reg.schema_version() == SCHEMA_VERSION
            assert conn.exec_driver_sql("SELECT count(*) FROM other_tool").scalar() == 0
    finally:
        release.join()
        holder.close()
