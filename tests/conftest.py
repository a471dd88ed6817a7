"""Shared fixtures: database backends, the CLI (in-process and as a real process) and
registry files.

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
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result

from engine.cli import main as aigov_main
from engine.registry import Registry, open_registry

# Environment variables that change what aigov does: a developer's own settings must not leak
# into the tests (AIGOV_TEST_DB is the test suite's own setting and is kept).
_AIGOV_ENV = ("AIGOV_DB", "AIGOV_MAX_FILE_BYTES", "AIGOV_DEBUG")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(autouse=True)
def _clean_aigov_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _AIGOV_ENV:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- databases


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


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no aigov schema) on each backend; see the module docstring."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'aigov.db'}"
    url = os.environ.get("AIGOV_TEST_DB")
    if not url:
        if _in_ci():
            pytest.fail(
                "CI=true but AIGOV_TEST_DB is not set: the PostgreSQL cases must run in CI "
                "(e.g. AIGOV_TEST_DB=postgresql+psycopg://postgres@127.0.0.1:5432/aigov_test)",
                pytrace=False,
            )
        pytest.skip("AIGOV_TEST_DB is not set (PostgreSQL server for the postgres cases)")
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


def _find_aigov_script() -> str:
    beside = Path(sys.executable).parent / "aigov"
    if beside.is_file():
        return str(beside)
    found = shutil.which("aigov")
    if found is None:
        raise RuntimeError("the 'aigov' console script is not installed (pip install -e .)")
    return found


def invoke_cli(
    cwd: Path,
    *args: str | Path,
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Run ``aigov ARGS...`` in-process (click's CliRunner) with ``cwd`` as working directory,
    so that nothing a command writes by default (``./aigov.db``) lands in the repository.

    Returns click's :class:`~click.testing.Result`: ``exit_code``, ``stdout`` and ``stderr``
    (kept apart). An exception that escapes the CLI (instead of becoming an exit code) is
    re-raised, so that a test shows its traceback rather than a bare exit code 1. ``env``
    sets variables for the run; a value of None unsets one.
    """
    runner = CliRunner()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(aigov_main, [str(a) for a in args], input=input, env=dict(env or {}))
    finally:
        os.chdir(previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# For runs outside a test's own environment clean-up (module-scoped fixtures, scripts): unsets
# the variables that change what aigov does.
CLEAN_ENV: dict[str, str | None] = dict.fromkeys(_AIGOV_ENV)


class Cli:
    """Runs ``aigov ARGS...`` in-process with ``cwd`` as working directory: see
    :func:`invoke_cli`."""

    def __init__(self, cwd: Path):
        self.cwd = cwd

    def __call__(
        self,
        *args: str | Path,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        return invoke_cli(self.cwd, *args, input=input, env=env)


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """The working directory the CLI runs in (where a default ./aigov.db would appear)."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture
def cli(work_dir: Path) -> Cli:
    return Cli(work_dir)


class AigovProcess:
    """Runs the installed ``aigov`` script as a real process in ``cwd``."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.script = _find_aigov_script()

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in _AIGOV_ENV}
        return {**base, **(env or {})}

    def start(self, *args: str | Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [self.script, *map(str, args)],
            cwd=self.cwd,
            env=self.environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.script, *map(str, args)],
            cwd=self.cwd,
            env=self.environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def aigov_process(work_dir: Path) -> AigovProcess:
    return AigovProcess(work_dir)


# --------------------------------------------------------------------------- registry files

SAMPLE_REGISTRY: dict[str, Any] = {
    "providers": [
        {
            "id": "openai",
            "name": "OpenAI",
            "aliases": ["OpenAI OpCo, LLC"],
            "jurisdiction": "US",
            "source": "https://openai.com",
        },
        {"id": "deepseek", "name": "DeepSeek", "aliases": ["深度求索"], "jurisdiction": "CN"},
        {"id": "acme", "name": "Acme Cloud", "jurisdiction": "EU"},
    ],
    "terms": [
        {
            "id": "openai-terms-2024",
            "provider": "openai",
            "kind": "tos",
            "title": "OpenAI Terms of Use",
            "version": "2024-01-31",
            "effective_from": "2024-01-31",
            "url": "https://openai.com/policies/terms-of-use",
            "clauses": [
                {
                    "section": "What you cannot do",
                    "type": "prohibits_competing_use_of_outputs",
                    "quote": "Use Output to develop models that compete with OpenAI.",
                    "binds": "account_holder",
                    "ambiguity": "'compete' is not defined",
                },
            ],
        },
        {
            "id": "deepseek-licence",
            "provider": "deepseek",
            "kind": "licence",
            "title": "DeepSeek R1 licence (MIT)",
            "clauses": [
                {
                    "section": "1",
                    "type": "attribution",
                    "params": {"notice": "Copyright (c) 2023 DeepSeek", "mau": 700000000},
                    "exceptions": ["internal evaluation"],
                },
            ],
            "confidence": "verified",
        },
    ],
    "models": [
        {
            "id": "gpt-4o",
            "name": "GPT-4o",
            "provider": "openai",
            "weights": "closed_api",
            "modality": ["text", "image"],
            "is_gpai": True,
        },
        {
            "id": "deepseek-r1",
            "name": "DeepSeek R1",
            "provider": "deepseek",
            "version": "2025-01-20",
            "family": "deepseek",
            "licence": "deepseek-licence",
            "release_date": "2025-01-20",
            "modality": ["text"],
            "weights": "open",
            "training_compute_flop": 4.0e24,
            "is_gpai": True,
            "owner": "ml-platform@example.com",
            "distributed": True,
            "attributions": ["NOTICE file"],
            "eu_placed_on_market": "2025-02-01",
            "systemic_risk_evidence": [
                {"type": "red_team", "ref": "RT-2025-007", "date": "2025-02-10"},
            ],
            "tags": ["reasoning"],
            "description": "Reasoning model.",
        },
        {
            "id": "r1-distill-qwen-7b",
            "name": "R1 Distill Qwen 7B",
            "provider": "deepseek",
            "licence": "MIT",
        },
    ],
    "datasets": [
        {
            "id": "web-crawl",
            "name": "Web crawl",
            "licences": ["CC-BY-4.0"],
            "synthetic": False,
            "url": "https://example.org/crawl",
        },
        {
            "id": "r1-sft-data",
            "name": "R1 SFT data",
            "synthetic": True,
            "generators": ["gpt-4o", "deepseek-r1"],
            "sources": ["web-crawl"],
        },
    ],
    "lineage": [
        {
            "child": "deepseek-r1",
            "parent": "gpt-4o",
            "relation": "trained_on_outputs",
            "evidence": "alleged in press reports",
            "confidence": "alleged",
        },
        {"child": "deepseek-r1", "parent": "web-crawl", "relation": "trained_on"},
        {
            "id": "distill-7b",
            "child": "r1-distill-qwen-7b",
            "parent": "deepseek-r1",
            "relation": "distillation",
        },
    ],
    "investigations": [
        {
            "id": "inv-openai-deepseek",
            "subject": "deepseek",
            "authority": "OpenAI",
            "authority_type": "vendor_internal",
            "allegation": "use of API outputs to train a competing model",
            "allegation_type": "tos_output_misuse",
            "status": "open",
            "opened_at": "2025-01-29",
            "confirmation": "reported",
            "source": "https://example.com/news",
        },
    ],
    "approvals": [
        {
            "id": "appr-r1-eu",
            "model": "deepseek-r1",
            "scope": {
                "platforms": ["acme-cloud"],
                "regions": ["eu-west-1"],
                "environments": ["staging", "prod"],
            },
            "approver": "ai-governance-board",
            "granted_at": "2025-02-15",
            "expires_at": "2026-02-15",
            "status": "conditional",
            "conditions": [{"type": "requires_guardrail", "value": "prompt-shield"}],
            "evidence": [{"type": "security_review", "ref": "SEC-42"}],
            "acknowledged_investigations": ["inv-openai-deepseek"],
        },
    ],
    "deployments": [
        {
            "id": "dep-r1-eu-prod",
            "model": "deepseek-r1",
            "platform": "acme-cloud",
            "region": "eu-west-1",
            "environment": "prod",
            "exposure": "public_catalog",
            "status": "active",
            "guardrails": ["prompt-shield"],
            "approval": "appr-r1-eu",
            "started_at": "2025-03-01",
            "owner": "catalogue-team",
        },
        {
            "id": "dep-7b-dev",
            "model": "r1-distill-qwen-7b",
            "platform": "acme-cloud",
            "region": "us-east-1",
            "environment": "dev",
        },
    ],
    "waivers": [
        {
            "id": "waiver-7b-dev",
            "policy": "HOST-001",
            "subject": "dep-7b-dev",
            "reason": "development sandbox, no external traffic",
            "approved_by": "ciso",
            "granted_at": "2025-03-01",
            "expires_at": "2025-09-01",
            "ticket": "GOV-123",
        },
    ],
}


@pytest.fixture
def sample_registry() -> dict[str, Any]:
    """A valid registry covering every kind (a fresh deep copy: tests may change it)."""
    return copy.deepcopy(SAMPLE_REGISTRY)


def dump_registry_file(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    """The directory ``write_registry`` writes into (created on first use)."""
    return tmp_path / "registry"


WriteRegistry = Callable[..., Path]


@pytest.fixture
def write_registry(registry_dir: Path) -> WriteRegistry:
    """``write_registry(name, data=None, *, text=None)``: write one registry file under
    ``registry_dir`` (sub-directories allowed in ``name``) and return its path.

    ``data`` is dumped as YAML, or as JSON when ``name`` ends in ``.json``; ``text`` is written
    verbatim (for broken files). With neither, the sample registry is written.
    """

    def write(name: str = "registry.yaml", data: Any = None, *, text: str | None = None) -> Path:
        path = registry_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            content = SAMPLE_REGISTRY if data is None else data
            if path.suffix == ".json":
                text = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
            else:
                text = dump_registry_file(content)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def bench_generator() -> Any:
    """bench/generate.py (not a package): the synthetic registry the benchmarks use."""
    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("bench_generate", root / "bench" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
