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
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import JSON
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel, col

from aigov.documents import field_path, pydantic_message
from aigov.errors import MissingDatabaseError, RegistryError, clip, shown
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

SCHEMA_VERSION = 3
_RECORD_TABLES = (
    "provider",
    "terms",
    "model",
    "dataset",
    "lineage",
    "investigation",
    "approval",
    "deployment",
    "waiver",
)
# The statements that take a database from the version before each key to that version, run
# in the transaction that records the new version. v2: per-field provenance and known
# unknowns on every record, licence histories, who created a dataset, who performed a
# lineage step. v3: the governance fields of SPDX 3's AI and Dataset profiles, dataset tags,
# the terms a model is used under, dates known to the month or year.
# A statement is SQL for every backend, or (backend, SQL) for one backend only.
Migration = str | tuple[str, str]
MIGRATIONS: dict[int, tuple[Migration, ...]] = {
    2: (
        *(
            f"ALTER TABLE {table} ADD COLUMN {column} JSON NOT NULL DEFAULT '{empty}'"
            for table in _RECORD_TABLES
            for column, empty in (("provenance", "{}"), ("unknown", "[]"))
        ),
        "ALTER TABLE model ADD COLUMN licence_history JSON NOT NULL DEFAULT '[]'",
        "ALTER TABLE dataset ADD COLUMN licence_history JSON NOT NULL DEFAULT '[]'",
        "ALTER TABLE dataset ADD COLUMN creator VARCHAR REFERENCES provider (id)",
        "CREATE INDEX ix_dataset_creator ON dataset (creator)",
        "ALTER TABLE lineage ADD COLUMN performed_by VARCHAR REFERENCES provider (id)",
    ),
    3: (
        "ALTER TABLE model ADD COLUMN safety_risk_assessment VARCHAR",
        "ALTER TABLE model ADD COLUMN standard_compliance JSON NOT NULL DEFAULT '[]'",
        "ALTER TABLE model ADD COLUMN autonomy_type BOOLEAN",
        "ALTER TABLE model ADD COLUMN domain JSON NOT NULL DEFAULT '[]'",
        "ALTER TABLE model ADD COLUMN terms JSON NOT NULL DEFAULT '[]'",
        "ALTER TABLE dataset ADD COLUMN tags JSON NOT NULL DEFAULT '[]'",
        "ALTER TABLE dataset ADD COLUMN availability VARCHAR",
        "ALTER TABLE dataset ADD COLUMN sensitive_personal_information BOOLEAN",
        # dates that may be known to the month or year only are kept as their ISO text
        # (SQLite's DATE columns already hold text; PostgreSQL's must change type)
        *(
            ("postgresql", f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR")
            for table, column in (
                ("model", "release_date"),
                ("model", "eu_placed_on_market"),
                ("terms", "effective_from"),
                ("terms", "effective_to"),
            )
        ),
    ),
}
DEFAULT_DB_URL = "sqlite:///aigov.db"
SQLITE_BUSY_TIMEOUT_S = 60  # how long a SQLite writer waits for another to finish
# PostgreSQL advisory lock keys (transaction-scoped): schema creation, and imports, which
# must not interleave (SQLite gets the same from BEGIN IMMEDIATE).
PG_SCHEMA_LOCK = 4247
PG_IMPORT_LOCK = 4248


class StoredRecordError(RegistryError):
    """A row read from the database fails the validation every import applies: it was
    written by SQL or by another tool, and nothing read from it can be trusted."""


class CorruptDatabaseError(RegistryError):
    """The database file is damaged (its b-trees disagree, or SQLite reports it malformed)."""


class RegistryObject(SQLModel, table=True):
    """Every record id with its kind: global id uniqueness and polymorphic foreign keys."""

    __tablename__ = "registry_object"
    id: str = Field(primary_key=True)
    kind: str = Field(index=True)
    digest: str = Field(default="", description="sha256 of the record's interchange form")


class SourceSnapshot(SQLModel, table=True):
    """What an importer's source last said of a record (its fields in interchange form), the
    way ``kubectl apply`` keeps the last applied configuration: on a re-import, a field whose
    stored value is still the source's last word follows the source, and one that differs
    from it was curated by hand (see :mod:`aigov.registry.merge`)."""

    __tablename__ = "source_snapshot"
    id: str = Field(primary_key=True)
    source: str
    fields: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class RecordOrigin(SQLModel, table=True):
    """Where a record was imported from: its file (as named at import, and resolved) and the
    line of its ``id``, for reports that point at the source (SARIF). A table of its own, so
    the record tables keep their shape: a database created before it gets it on its next
    import, and one without it simply has no origins."""

    __tablename__ = "record_origin"
    kind: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    file: str = Field(description="the file as the import named it")
    path: str = Field(description="the file's absolute path at import")
    line: int


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


def missing_sqlite_file(url: str | None) -> bool:
    """Whether ``url`` (default: ``$AIGOV_DB`` or ``./aigov.db``) names a SQLite file that
    does not exist yet (opening it with ``create=True`` would create it)."""
    try:
        path = _sqlite_file(sa.make_url(resolve_url(url)))
    except sa.exc.ArgumentError:
        return False
    return path is not None and not path.exists()


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

    def create_schema(self) -> int | None:
        """Create missing tables, or upgrade an older schema, and record the schema version
        (idempotent, concurrency-safe). Returns the version the database had (None: new)."""
        with self.write() as conn:
            if self.url.get_backend_name() == "postgresql":
                conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_SCHEMA_LOCK})"))
            existing = (
                conn.execute(
                    sa.select(col(Meta.value)).where(col(Meta.key) == "schema_version")
                ).scalar_one_or_none()
                if sa.inspect(conn).has_table(Meta.__tablename__)
                else None
            )
            if existing is not None:
                for version in range(int(existing) + 1, SCHEMA_VERSION + 1):
                    for migration in MIGRATIONS.get(version, ()):
                        backend, statement = (
                            migration if isinstance(migration, tuple) else (None, migration)
                        )
                        if backend in (None, self.url.get_backend_name()):
                            conn.execute(sa.text(statement))
            SQLModel.metadata.create_all(conn)
            if existing is None:
                conn.execute(
                    sa.insert(sa_table(Meta)).values(
                        key="schema_version", value=str(SCHEMA_VERSION)
                    )
                )
            elif int(existing) < SCHEMA_VERSION:
                conn.execute(
                    sa.update(sa_table(Meta))
                    .where(col(Meta.key) == "schema_version")
                    .values(value=str(SCHEMA_VERSION))
                )
            return int(existing) if existing is not None else None

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


def open_registry(
    url: str | None = None, *, create: bool = False, upgrade: bool = False
) -> Registry:
    """Open the registry at ``url`` (default: ``$AIGOV_DB`` or ``sqlite:///aigov.db``).

    Args:
        url: a SQLAlchemy database URL: ``sqlite:///relative.db``,
            ``sqlite:////absolute/path.db`` or ``postgresql+psycopg://user@host:5432/db``
            (PostgreSQL needs the ``postgres`` extra). None: ``$AIGOV_DB``, else
            ``sqlite:///aigov.db`` in the current directory.
        create: create the SQLite file (and its folder) if missing, and the schema if the
            database has none, or upgrade an older schema (:data:`MIGRATIONS`), as
            ``aigov init`` does. Default False: open only an existing registry of the
            current schema version and change nothing.
        upgrade: accept an existing registry of an older schema version, for the caller
            to upgrade with :meth:`Registry.create_schema` (``aigov registry migrate``).

    Returns:
        An open :class:`Registry`. Use it as a context manager (``with open_registry(url) as
        registry:``) or call ``close()``; :func:`aigov.audit` and :func:`aigov.gate` take it,
        or a URL to open and close themselves.

    Raises:
        MissingDatabaseError: ``create`` is False and the SQLite file does not exist.
        RegistryError: an invalid URL, a server that cannot be reached, a database without
            the aigov schema or with an older one (unless ``create``), or one whose schema
            version is newer than this aigov supports (nothing is touched: upgrade aigov).
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
    # hide_parameters: an error never echoes bound values (a failed bulk insert would print
    # thousands of them, record contents included).
    kwargs: dict[str, Any] = {"json_serializer": _json_serializer, "hide_parameters": True}
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
        if version is not None and version < SCHEMA_VERSION and not (create or upgrade):
            raise RegistryError(
                f"{registry.display_url} has registry schema version {version}, older than "
                f"this aigov's ({SCHEMA_VERSION}); upgrade it with 'aigov registry migrate' "
                "(an import upgrades it too)"
            )
        if create:
            registry.create_schema()
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise RegistryError(f"cannot read {registry.display_url}: {db_error(exc)}") from None
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


def db_error(exc: sa.exc.DBAPIError) -> str:
    """A database error in one short line: the driver's first line, never the statement or
    its bound parameters (SQLAlchemy's own text holds both)."""
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return clip(text.splitlines()[0] if text else type(exc).__name__)


def stored_problems(kind: str, record_id: Any, exc: ValidationError) -> list[str]:
    """One line per failing field of a stored record:
    ``stored investigation 'inv-x': field 'status': Input should be … (got 'Open')``."""
    label = f"stored {kind} '{clip(str(record_id))}'"
    lines = []
    for error in exc.errors():
        where = field_path(tuple(error["loc"])) or None
        message = pydantic_message(error)
        lines.append(f"{label}: field '{where}': {message}" if where else f"{label}: {message}")
    return lines


def stored_record_error(problems: list[str]) -> StoredRecordError:
    return StoredRecordError(
        "invalid record in the registry (written outside 'aigov registry import'): "
        + "; ".join(problems)
        + " (correct the record; 'aigov registry check' lists every problem)"
    )


def validate_stored(kind: str, data: dict[str, Any]) -> RecordBase:
    """Validate stored data with the import's model; :class:`StoredRecordError` if invalid."""
    try:
        return KINDS[kind].record.model_validate(data)
    except ValidationError as exc:
        raise stored_record_error(stored_problems(kind, data.get("id"), exc)) from None


def row_to_record(kind: str, row: Any, extra: dict[str, Any] | None = None) -> RecordBase:
    """A stored row back as a validated record (the same object an import produced); a row
    that fails validation raises :class:`StoredRecordError` naming kind, id and field."""
    data = dict(row._mapping)
    if extra:
        data.update(extra)
    return validate_stored(kind, data)


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size`` (bound-parameter and batch limits)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def undecodable_cells(conn: Connection, table: sa.Table, limit: int = 5) -> list[str]:
    """Cells of ``table`` that its column types cannot decode (text that is not JSON in a JSON
    column, a date column holding something else: SQLite stores what SQL writes), as
    ``stored KIND 'ID': field 'F': …``, at most ``limit`` of them."""
    raw = sa.select(*(sa.type_coerce(c, sa.types.NullType()).label(c.name) for c in table.c))
    processors = {c.name: c.type.result_processor(conn.dialect, None) for c in table.c}
    kind = KIND_OF_TABLE.get(table.name, table.name)
    found: list[str] = []
    for row in conn.execute(raw):
        for name, value in row._mapping.items():
            process = processors.get(name)
            if process is None or value is None:
                continue
            try:
                process(value)
            except (ValueError, TypeError) as exc:
                rid = row._mapping.get("id", row._mapping.get("dataset", "?"))
                found.append(
                    f"stored {kind} '{clip(str(rid))}': field '{name}': cannot be read "
                    f"({clip(str(exc))}; got {shown(value)})"
                )
                if len(found) >= limit:
                    return found
    return found


def _decode_failure(conn: Connection, table: sa.Table, exc: Exception) -> StoredRecordError:
    cells = undecodable_cells(conn, table) or [
        f"stored {table.name} rows cannot be read: {clip(str(exc))}"
    ]
    return stored_record_error(cells)


def fetch_rows(conn: Connection, query: sa.Select[Any], table: sa.Table) -> list[Any]:
    """The rows of ``query`` over ``table``; a value its column type cannot decode raises
    :class:`StoredRecordError` naming the record and field, not a bare decoding error."""
    try:
        return list(conn.execute(query).all())
    except (ValueError, TypeError) as exc:
        raise _decode_failure(conn, table, exc) from None


def records_where(
    conn: Connection, kind: str, column: str, values: Iterable[str]
) -> list[RecordBase]:
    """The records of ``kind`` whose ``column`` is one of ``values``, in id order."""
    table = table_of(kind)
    found: list[RecordBase] = []
    for chunk in chunked(sorted(set(values)), 500):
        rows = fetch_rows(conn, sa.select(table).where(table.c[column].in_(chunk)), table)
        links = dataset_links(conn, [row.id for row in rows]) if kind == "dataset" else {}
        found += [row_to_record(kind, row, links.get(row.id)) for row in rows]
    return sorted(found, key=lambda record: record.id)


def iter_records(conn: Connection, kind: str) -> Iterator[RecordBase]:
    """Every record of ``kind`` in id order, each validated (see :func:`row_to_record`)."""
    table = table_of(kind)
    links = dataset_links(conn) if kind == "dataset" else {}
    rows = conn.execute(sa.select(table).order_by(table.c.id))
    while True:
        try:
            row = next(rows, None)
        except (ValueError, TypeError) as exc:
            raise _decode_failure(conn, table, exc) from None
        if row is None:
            return
        yield row_to_record(kind, row, links.get(row.id))


# --------------------------------------------------------------------------- integrity


KIND_OF_TABLE = {sa_table(model).name: kind for kind, model in TABLES.items()}
# Every table a read command relies on (run history is checked by 'aigov registry check').
REGISTRY_TABLES = [
    RegistryObject.__tablename__,
    Meta.__tablename__,
    *(sa_table(model).name for model in TABLES.values()),
    DatasetLink.__tablename__,
]
_VERIFIED: dict[tuple[Any, ...] | None, bool] = {}


def _file_signature(path: Path) -> tuple[Any, ...] | None:
    """What changes whenever the file (or its write-ahead log) is written."""
    try:
        parts: list[Any] = [str(path.resolve())]
        for candidate in (path, path.with_name(path.name + "-wal")):
            if candidate.exists():
                st = candidate.stat()
                parts += [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
            else:
                parts.append(None)
        return tuple(parts)
    except OSError:
        return None


def btree_problems(conn: Connection, tables: Iterable[str] | None = None) -> list[str]:
    """SQLite: the row count of each registry table against the entry count of each of its
    indexes. A damaged b-tree page (a zeroed cell count, a lost child page) hides its rows
    from every query that goes through that b-tree, and no query error reveals it; the counts
    then disagree. The table is counted from its pages' headers, each index by a scan of the
    index alone (``count(*) … INDEXED BY`` without a condition would count the smallest
    index whatever it names): on the 100,000-model benchmark registry this costs about a
    third of ``PRAGMA quick_check``, 0.1 s against 0.35 s."""
    problems: list[str] = []
    wanted = list(tables or REGISTRY_TABLES)
    try:
        indexes: dict[str, list[str]] = defaultdict(list)
        for name, table in conn.exec_driver_sql(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ):
            indexes[table].append(name)
        present = set(
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
        )
        for table in wanted:
            if table not in present:
                problems.append(f"table '{table}' is missing")
                continue
            rows = conn.exec_driver_sql(f'SELECT count(*) FROM "{table}" NOT INDEXED').scalar()
            for index in indexes.get(table, []):
                entries = conn.exec_driver_sql(
                    f'SELECT count(*) FROM "{table}" INDEXED BY "{index}" WHERE rowid IS NOT NULL'
                ).scalar()
                if entries != rows:
                    problems.append(
                        f"index '{index}' of table '{table}' has {entries} entries but the "
                        f"table has {rows} rows"
                    )
    except sa.exc.DBAPIError as exc:
        problems.append(db_error(exc))
    return problems


def damaged(url: str, problems: list[str]) -> CorruptDatabaseError:
    return CorruptDatabaseError(
        f"registry database {url} is damaged, its records cannot be trusted: "
        + "; ".join(problems)
        + " (run 'aigov registry check' for a full integrity check; restore the file from a "
        "backup or re-import the registry into a new one)"
    )


def verify_readable(conn: Connection) -> None:
    """Refuse a damaged SQLite registry before anything is evaluated from it (see
    :func:`btree_problems`). Checked once per state of the file in a process: the result is
    kept while the file and its WAL are unchanged, and forked workers inherit it.
    PostgreSQL keeps its own structures consistent; nothing to do there."""
    if conn.dialect.name != "sqlite":
        return
    path = _sqlite_file(conn.engine.url)
    if path is not None and _VERIFIED.get(_file_signature(path)):
        return
    problems = btree_problems(conn)
    if problems:
        raise damaged(conn.engine.url.render_as_string(hide_password=True), problems)
    key = _file_signature(path) if path is not None else None  # after: reading made the WAL
    if key is not None:
        if len(_VERIFIED) > 1000:
            _VERIFIED.clear()
        _VERIFIED[key] = True
