"""The model registry store: SQLModel tables, connections and schema versioning.

SQLite (the default, ``sqlite:///aigov.db``) and PostgreSQL (``postgresql+psycopg://…``) are
both supported through SQLAlchemy. Every record also has a row in ``registry_object`` (id →
kind): ids are unique across kinds, and references that may name several kinds (a lineage
parent, an investigation subject, a waiver subject) are real foreign keys to that table.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel, col

from aigov.errors import MissingDatabaseError, RegistryError
from aigov.registry import run_tables  # noqa: F401  (registers the run-history tables)
from aigov.registry.records import (
    KINDS,
    ApprovalBase,
    DatasetBase,
    DeploymentBase,
    InvestigationBase,
    LineageBase,
    ModelBase,
    ProviderBase,
    RecordBase,
    TermsBase,
    WaiverBase,
)

SCHEMA_VERSION = 1
DEFAULT_DB_URL = "sqlite:///aigov.db"
SQLITE_BUSY_TIMEOUT_S = 60  # how long a SQLite writer waits for another to finish


class RegistryObject(SQLModel, table=True):
    """Every record id with its kind: global id uniqueness and polymorphic foreign keys."""

    __tablename__ = "registry_object"
    id: str = Field(primary_key=True)
    kind: str = Field(index=True)
    digest: str = Field(default="", description="sha256 of the record's interchange form")


class Meta(SQLModel, table=True):
    __tablename__ = "aigov_meta"
    key: str = Field(primary_key=True)
    value: str


class Provider(ProviderBase, table=True):
    __tablename__ = "provider"


class Terms(TermsBase, table=True):
    __tablename__ = "terms"


class Model(ModelBase, table=True):
    __tablename__ = "model"


class Dataset(DatasetBase, table=True):
    __tablename__ = "dataset"


class DatasetLink(SQLModel, table=True):
    """A dataset's declared generators (``generated_by``) and sources (``derived_from``)."""

    __tablename__ = "dataset_link"
    dataset: str = Field(foreign_key="dataset.id", primary_key=True)
    relation: str = Field(primary_key=True)
    target: str = Field(foreign_key="registry_object.id", primary_key=True, index=True)
    position: int = 0


DATASET_LINK_FIELDS = {"generators": "generated_by", "sources": "derived_from"}


class Lineage(LineageBase, table=True):
    __tablename__ = "lineage"


class Investigation(InvestigationBase, table=True):
    __tablename__ = "investigation"


class Approval(ApprovalBase, table=True):
    __tablename__ = "approval"


class Deployment(DeploymentBase, table=True):
    __tablename__ = "deployment"


class Waiver(WaiverBase, table=True):
    __tablename__ = "waiver"


TABLES: dict[str, type[SQLModel]] = {
    "provider": Provider,
    "terms": Terms,
    "model": Model,
    "dataset": Dataset,
    "lineage": Lineage,
    "investigation": Investigation,
    "approval": Approval,
    "deployment": Deployment,
    "waiver": Waiver,
}
assert list(TABLES) == list(KINDS), "table order must follow the import order of KINDS"


def record_rows(kind: str, record: RecordBase) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The table row of a record, and its dataset_link rows (datasets only)."""
    if kind != "dataset":
        return record.model_dump(), []
    row = record.model_dump(exclude=set(DATASET_LINK_FIELDS))
    links = [
        {"dataset": record.id, "relation": relation, "target": target, "position": index}
        for field, relation in DATASET_LINK_FIELDS.items()
        for index, target in enumerate(getattr(record, field))
    ]
    return row, links


def sa_table(model: type[SQLModel]) -> sa.Table:
    """The SQLAlchemy table of a SQLModel table class."""
    return model.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ at runtime


def table_of(kind: str) -> sa.Table:
    return sa_table(TABLES[kind])


def _json_serializer(value: Any) -> str:
    return json.dumps(value, default=pydantic_core.to_jsonable_python, sort_keys=True)


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("AIGOV_DB") or DEFAULT_DB_URL


def _sqlite_file(url: sa.URL) -> Path | None:
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


class Registry:
    """An open registry database. Use :func:`open_registry` to get one."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.url = engine.url

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)
        so two concurrent writers queue on the busy timeout instead of failing."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(aigov_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def schema_version(self) -> int | None:
        with self.read() as conn:
            if not sa.inspect(conn).has_table(Meta.__tablename__):
                return None
            value = conn.execute(
                sa.select(col(Meta.value)).where(col(Meta.key) == "schema_version")
            ).scalar_one_or_none()
            return int(value) if value is not None else None

    def create_schema(self) -> None:
        """Create missing tables and record the schema version (idempotent, concurrency-safe)."""
        with self.write() as conn:
            if self.url.get_backend_name() == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(4247)"))
            SQLModel.metadata.create_all(conn)
            existing = conn.execute(
                sa.select(col(Meta.value)).where(col(Meta.key) == "schema_version")
            ).scalar_one_or_none()
            if existing is None:
                conn.execute(
                    sa.insert(sa_table(Meta)).values(
                        key="schema_version", value=str(SCHEMA_VERSION)
                    )
                )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _configure_sqlite(engine: Engine, *, create: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite recipe), so that
        # write transactions can be BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if create:
            # WAL is recorded in the file: set it when creating or writing, never on a plain
            # read, which must not modify a file that is not (yet) a registry.
            _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("aigov_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL, retrying while another process holds its write lock.

    SQLite changes the journal mode without calling the busy handler: when two processes
    create the same registry at once, the PRAGMA fails at once with "database is locked", or
    keeps the rollback journal and reports so. Either way, wait and try again.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            mode = None
        if mode not in (None, "delete", "truncate", "persist"):
            return  # "wal", or "memory" for an in-memory database, which has no WAL
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError(
                f"database is locked: could not switch to WAL in {SQLITE_BUSY_TIMEOUT_S} s"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def _forget_in_forked_children(engine: Engine) -> None:
    """Worker processes (audit --workers) are forked: they must not use or close the
    parent's pooled connections (SQLAlchemy's documented pattern for os.fork)."""
    ref = weakref.ref(engine)

    def after_in_child() -> None:
        forked = ref()
        if forked is not None:
            forked.dispose(close=False)

    os.register_at_fork(after_in_child=after_in_child)


def open_registry(url: str | None = None, *, create: bool = False) -> Registry:
    """Open the registry at ``url`` (default: ``$AIGOV_DB`` or ``sqlite:///aigov.db``).

    With ``create=False`` a missing SQLite file is an error and nothing is created; a database
    without the aigov schema, or with a newer schema version than this release knows, is an
    error too.
    """
    raw = resolve_url(url)
    try:
        parsed = sa.make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise RegistryError(f"invalid database URL {raw!r}: {exc}") from None
    path = _sqlite_file(parsed)
    if path is not None and not create and not path.exists():
        raise MissingDatabaseError(
            f"registry database {path} does not exist; create it with 'aigov init' "
            "or 'aigov registry import PATH'"
        )
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"json_serializer": _json_serializer}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise RegistryError(f"cannot open {raw!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, create=create)
    _forget_in_forked_children(engine)
    registry = Registry(engine)
    try:
        version = registry.schema_version()
        if version is None and not create:
            raise RegistryError(
                f"{registry.display_url} is not an aigov registry (no schema); "
                "run 'aigov init' first"
            )
        if version is not None and version > SCHEMA_VERSION:
            raise RegistryError(
                f"{registry.display_url} has registry schema version {version}, newer than "
                f"this aigov supports ({SCHEMA_VERSION}); upgrade aigov"
            )
        if create:
            registry.create_schema()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise RegistryError(f"cannot read {registry.display_url}: {reason}") from None
    except RegistryError:
        engine.dispose()
        raise
    return registry


def dataset_links(
    conn: Connection, ids: list[str] | None = None
) -> dict[str, dict[str, list[str]]]:
    """dataset id -> {"generators": [...], "sources": [...]} in declared order."""
    table = sa_table(DatasetLink)
    query = sa.select(table).order_by(table.c.dataset, table.c.relation, table.c.position)
    if ids is not None:
        query = query.where(table.c.dataset.in_(ids))
    fields = {rel: name for name, rel in DATASET_LINK_FIELDS.items()}
    links: dict[str, dict[str, list[str]]] = {}
    for row in conn.execute(query):
        links.setdefault(row.dataset, {}).setdefault(fields[row.relation], []).append(row.target)
    return links


def row_to_record(kind: str, row: Any, extra: dict[str, Any] | None = None) -> RecordBase:
    """A stored row back as a validated record (the same object an import produced)."""
    data = dict(row._mapping)
    if extra:
        data.update(extra)
    return KINDS[kind].record.model_validate(data)


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size`` (bound-parameter and batch limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def records_where(
    conn: Connection, kind: str, column: str, values: Iterable[str]
) -> list[RecordBase]:
    """The records of ``kind`` whose ``column`` is one of ``values``, in id order."""
    table = table_of(kind)
    found: list[RecordBase] = []
    for chunk in chunked(sorted(set(values)), 500):
        rows = conn.execute(sa.select(table).where(table.c[column].in_(chunk))).all()
        links = dataset_links(conn, [row.id for row in rows]) if kind == "dataset" else {}
        found += [row_to_record(kind, row, links.get(row.id)) for row in rows]
    return sorted(found, key=lambda record: record.id)


def iter_records(conn: Connection, kind: str) -> Iterator[RecordBase]:
    table = table_of(kind)
    links = dataset_links(conn) if kind == "dataset" else {}
    for row in conn.execute(sa.select(table).order_by(table.c.id)):
        yield row_to_record(kind, row, links.get(row.id))
