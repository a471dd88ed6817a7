"""Fixtures and hooks only; the plain helpers, constants and test data they use live in the
aigov_testing package beside this file (see its docstring), which test modules import
directly (``from aigov_testing.cli import invoke_cli``).

``db_url``
    The URL of an empty database (no aigov schema yet), once per backend: ``sqlite`` (a file
    in the test's tmp_path) and ``postgres`` (the server named by ``AIGOV_TEST_DB``, with every
    table and enum type dropped before the test). Without ``AIGOV_TEST_DB`` the postgres cases
    are skipped, except under ``CI=true``, where they fail: CI must not pass on SQLite alone.
``cli``
    Runs ``aigov`` in-process through click's CliRunner (stdout and stderr kept apart) in a
    scratch working directory, ``cli.cwd``.
``aigov_process``
    Runs the installed ``aigov`` script as a subprocess (``run``) or starts it (``start``).
``sample_registry`` / ``write_registry``
    A small valid registry holding every kind of record, and a writer of registry files.
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aigov.registry.store import Registry, open_registry
from aigov_testing.cli import AigovProcess, Cli
from aigov_testing.databases import BACKENDS, reset_postgres
from aigov_testing.env import AIGOV_ENV, require_in_ci
from aigov_testing.registry_data import (
    SAMPLE_REGISTRY,
    WriteRegistry,
    load_bench_generator,
    write_registry_file,
)

# `python -m pytest` puts the repository root on sys.path, which would make the folders engine/
# and reports/ importable as top-level packages: code that wrongly names them (instead of
# aigov and aigov.reports) would pass here and fail installed. Tests see what users see.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT]
assert "reports" not in sys.modules and "engine" not in sys.modules


@pytest.fixture(autouse=True)
def _clean_aigov_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AIGOV_ENV:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- databases


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no aigov schema) on each backend; see the module docstring."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'aigov.db'}"
    url = os.environ.get("AIGOV_TEST_DB")
    if not url:
        require_in_ci(
            "AIGOV_TEST_DB is not set (the PostgreSQL server for the postgres cases, e.g. "
            "AIGOV_TEST_DB=postgresql+psycopg://postgres@127.0.0.1:5432/aigov_test)",
            cases="the PostgreSQL cases",
        )
    reset_postgres(url)
    return url


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    """A SQLite database path (the file does not exist yet), for SQLite-only tests."""
    return tmp_path / "db" / "aigov.db"


@pytest.fixture
def sqlite_url(sqlite_file: Path) -> str:
    return f"sqlite:///{sqlite_file}"


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    """An open, initialised (empty) registry on each backend."""
    with open_registry(db_url, create=True) as reg:
        yield reg


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """The working directory the CLI runs in (where a default ./aigov.db would appear)."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture
def cli(work_dir: Path) -> Cli:
    return Cli(work_dir)


@pytest.fixture
def aigov_process(work_dir: Path) -> AigovProcess:
    return AigovProcess(work_dir)


# --------------------------------------------------------------------------- registry files


@pytest.fixture
def sample_registry() -> dict[str, Any]:
    """A valid registry covering every kind (a fresh deep copy: tests may change it)."""
    return copy.deepcopy(SAMPLE_REGISTRY)


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """The directory ``write_registry`` writes into (created on first use)."""
    return tmp_path / "registry"


@pytest.fixture
def write_registry(registry_dir: Path) -> WriteRegistry:
    """``write_registry(name, data=None, *, text=None)``: write one registry file under
    ``registry_dir`` (sub-directories allowed in ``name``) and return its path; see
    :func:`aigov_testing.registry_data.write_registry_file`."""
    return functools.partial(write_registry_file, registry_dir)


@pytest.fixture(scope="session")
def bench_generator() -> Any:
    """bench/generate.py (not a package): the synthetic registry the benchmarks use."""
    return load_bench_generator()
