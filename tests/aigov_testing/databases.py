"""The database backends the ``db_url`` fixture runs on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa


def reset_postgres(url: str) -> None:
    """Drop every table and enum type in the test database, so that each test starts empty."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            metadata = sa.MetaData()
            metadata.reflect(conn)
            metadata.drop_all(conn)
            enums = conn.execute(
                sa.text(
                    "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
                    " WHERE t.typtype = 'e' AND n.nspname = current_schema()"
                )
            ).scalars()
            for name in list(enums):
                conn.execute(sa.text(f'DROP TYPE IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def corrupt_index(path: Path, index: str) -> None:
    """Zero the cell count of ``index``'s root page: its entries vanish from indexed queries."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (index,))
        page = root.fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    offset = (page - 1) * page_size + (100 if page == 1 else 0)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        assert handle.read(1) in (b"\x0a", b"\x02")  # an index b-tree page
        handle.seek(offset + 3)
        handle.write(b"\x00\x00")
