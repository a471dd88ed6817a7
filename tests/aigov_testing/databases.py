"""The database backends the ``db_url`` fixture runs on."""

from __future__ import annotations

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
