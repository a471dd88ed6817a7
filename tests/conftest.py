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

Plain helpers, imported by test modules (``from conftest import ...``):

``invoke_cli`` / ``CLEAN_ENV``
    What ``cli`` does, for module-scoped fixtures and scripts.
``require_in_ci(reason, cases=...)``
    Skip because of ``reason``, or fail under ``CI=true`` (PostgreSQL and browser tests).
``synthetic_result`` / ``audit_to_files``
    The report tests' data: synthetic audit results of any size (optionally full of markup),
    and a real audit of a small registry written to report files.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result

from aigov.cli import main as aigov_main
from aigov.registry.store import Registry, open_registry
from aigov.results.findings import (
    BLOCKING,
    AuditResult,
    Change,
    DeploymentInfo,
    DiffEntry,
    EvidenceRecord,
    Finding,
    InvestigationInfo,
    Match,
    ModelResult,
    Outcome,
    PathStep,
    PolicyInfo,
    RunInfo,
    WaiverInfo,
    WaiverRef,
    finding_id,
)
from aigov.results.severity import Family, Severity

# Environment variables that change what aigov does: a developer's own settings must not leak
# into the tests (AIGOV_TEST_DB is the test suite's own setting and is kept).
_AIGOV_ENV = ("AIGOV_DB", "AIGOV_MAX_FILE_BYTES", "AIGOV_DEBUG")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_in_ci(reason: str, *, cases: str) -> NoReturn:
    """Skip the test because ``reason``; under ``CI=true`` fail instead, since CI must run
    ``cases`` (a CI run that skipped them would pass without testing them)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}: {cases} must run in CI", pytrace=False)
    pytest.skip(reason)


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


# --------------------------------------------------------------------------- report test data
# Shared by test_reports and test_report_browser: synthetic audit results of any size
# (optionally full of markup), and a real audit of a small registry written to files.

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

AS_OF = dt.date(2025, 6, 1)

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_FLAG = '<img src=x onerror="window.__aigovXss=1"><svg onload="window.__aigovXss=2">'
HOSTILE = f"{XSS_SCRIPT} {XSS_IMG} {XSS_FLAG} | `tick` *star* [link](javascript:alert(1)) &amp;"


def _policy(pid: str, title: str, family: Family, severity: Severity, **extra: Any) -> PolicyInfo:
    return PolicyInfo(
        id=pid,
        title=title,
        description=f"{title}. Synthetic policy for the report tests.",
        family=family,
        severity=severity,
        references=[
            {
                "title": f"Reference for {pid}",
                "section": "1.2",
                "url": f"https://example.com/policies/{pid}",
            },
        ],
        remediation=f"Fix what {pid} reports.",
        tags=[family.value],
        source=f"policies/{family.value}.yaml:1",
        **extra,
    )


POLICIES = [
    _policy(
        "HOST-001", "Deployment without a covering approval", Family.hosting, Severity.critical
    ),
    _policy(
        "TOS-001", "Trained on outputs of a provider that prohibits it", Family.tos, Severity.high
    ),
    _policy(
        "PROV-001", "Training data under a non-commercial licence", Family.provenance, Severity.high
    ),
    _policy(
        "INV-001", "Hosted model under open investigation", Family.investigation, Severity.medium
    ),
    _policy("GOV-001", "Model has no owner", Family.governance, Severity.low),
    _policy("REG-001", "GPAI documentation missing", Family.regulatory, Severity.medium),
    _policy("REG-002", "Model card lacks energy figures", Family.regulatory, Severity.info),
    _policy(
        "AIGOV-WAIVER-EXPIRED",
        "Waiver has expired",
        Family.governance,
        Severity.medium,
        builtin=True,
    ),
]
POLICY = {p.id: p for p in POLICIES}


def _step(
    child: str,
    relation: str,
    parent: str,
    parent_kind: str = "model",
    confidence: str | None = "declared",
) -> PathStep:
    return PathStep(
        edge=f"{child}~{relation}~{parent}",
        child=child,
        child_kind="model",
        relation=relation,
        parent=parent,
        parent_kind=parent_kind,
        confidence=confidence,
    )


def _finding(
    policy: str,
    model: str,
    outcome: Outcome,
    message: str,
    *,
    subject_kind: str = "model",
    subject: str | None = None,
    evidence: list[Match] | None = None,
    **extra: Any,
) -> Finding:
    p = POLICY[policy]
    subject = subject or model
    return Finding(
        id=finding_id(policy, subject_kind, subject),
        policy=policy,
        title=p.title,
        severity=p.severity,
        family=p.family,
        outcome=outcome,
        model=model,
        subject_kind=subject_kind,
        subject=subject,
        message=message,
        evidence=evidence or [],
        **extra,
    )


def synthetic_result(
    n_models: int,
    *,
    hostile: bool = False,
    run: bool = False,
    changes: bool = False,
    settled: bool = False,
) -> AuditResult:
    """An AuditResult shaped like a real audit of ``n_models`` models: deployments, lineage
    through shared bases, about two findings per model with evidence (clause quotes,
    lineage paths, absences, missing fields), waivers (some expired) and investigations.

    With ``hostile``, model 0 (``evil``) carries script-injection strings in every free-text
    field a registry supplies (names, allegation, authority, reason, platform, clause quote).

    With ``settled``, model 1 also lists a ``pass`` finding (GOV-001 on the model) and a
    ``not_applicable`` one (HOST-001 on its deployment), as a stored result may: the engine
    keeps no such findings, and SARIF, text and Markdown must not list them.
    """
    n_bases = max(1, n_models // 50)
    models: list[ModelResult] = []
    findings: list[Finding] = []
    waivers: list[WaiverInfo] = []
    counts: Counter[Outcome] = Counter()
    hosted: list[str] = []
    for i in range(n_models):
        mid = "evil" if hostile and i == 0 else f"model-{i:05d}"
        name = f"Model {i:05d} {HOSTILE}" if hostile and i == 0 else f"Model {i:05d} Chat"
        base = f"base-{i % n_bases:03d}"
        lineage = [
            _step(mid, "finetune", base),
            _step(
                base, "distillation", "frontier-1", confidence="alleged" if i % 2 else "declared"
            ),
            _step(base, "trained_on", f"corpus-{i % 7}", "dataset"),
        ]
        deps = [
            DeploymentInfo(
                id=f"dep-{i:05d}-prod",
                platform=HOSTILE if hostile and i == 0 else "acme-cloud",
                region="eu-west-1",
                environment="prod",
                exposure="public_catalog",
                status="active",
                approval=None if i % 3 == 0 else f"appr-{i:05d}",
            )
        ]
        if i % 3 == 0:
            deps.append(
                DeploymentInfo(
                    id=f"dep-{i:05d}-dev",
                    platform="acme-cloud",
                    region="us-east-1",
                    environment="dev",
                    exposure="internal",
                    status="active",
                    approval=None,
                )
            )
        hosted.append(mid)
        mine: list[Finding] = []
        if i % 3 == 0:
            waived = i % 13 == 0
            expired = waived and i % 26 == 0
            wid = f"waiver-{i:05d}"
            ref = None
            if waived:
                reason = HOSTILE if hostile and i == 0 else "sandbox, no external traffic"
                ref = WaiverRef(
                    id=wid,
                    reason=reason,
                    approved_by="ciso",
                    expires_at=AS_OF - dt.timedelta(days=3)
                    if expired
                    else AS_OF + dt.timedelta(days=20 + i % 200),
                    expired=expired,
                )
                waivers.append(
                    WaiverInfo(
                        id=wid,
                        policy="HOST-001",
                        subject=f"dep-{i:05d}-prod",
                        model=mid,
                        reason=reason,
                        approved_by="ciso",
                        granted_at=AS_OF - dt.timedelta(days=100),
                        expires_at=ref.expires_at,
                        expired=expired,
                    )
                )
                if expired:
                    mine.append(
                        _finding(
                            "AIGOV-WAIVER-EXPIRED",
                            mid,
                            Outcome.fail,
                            f"Waiver {wid} for policy HOST-001 expired on {ref.expires_at}",
                            subject_kind="waiver",
                            subject=wid,
                            evidence=[
                                Match(
                                    records=[
                                        EvidenceRecord(
                                            role="waiver",
                                            kind="waiver",
                                            id=wid,
                                            fields={"expired": True},
                                        )
                                    ]
                                )
                            ],
                        )
                    )
            mine.append(
                _finding(
                    "HOST-001",
                    mid,
                    Outcome.waived if waived and not expired else Outcome.fail,
                    f"Deployment dep-{i:05d}-prod of {name} has no covering approval",
                    subject_kind="deployment",
                    subject=f"dep-{i:05d}-prod",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(
                                    role="dep",
                                    kind="deployment",
                                    id=f"dep-{i:05d}-prod",
                                    fields={"environment": "prod"},
                                )
                            ]
                        )
                    ],
                    absent=[
                        "no approval with appr.status in [approved, conditional], "
                        "appr.scope.regions contains dep.region"
                    ],
                    waiver=ref,
                )
            )
        if i % 7 == 0 or (hostile and i == 0):
            quote = HOSTILE if hostile and i == 0 else "Use Output to develop models that compete."
            mine.append(
                _finding(
                    "TOS-001",
                    mid,
                    Outcome.review,
                    f"{name} descends from frontier-1 whose terms prohibit competing use",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(role="model", kind="model", id=mid),
                                EvidenceRecord(
                                    role="teacher",
                                    kind="model",
                                    id="frontier-1",
                                    fields={"provider": "frontier"},
                                ),
                                EvidenceRecord(
                                    role="clause",
                                    kind="clause",
                                    id="frontier-terms#clauses[0]",
                                    fields={
                                        "type": "prohibits_competing_use_of_outputs",
                                        "quote": quote,
                                        "section": "2(c)(iii)",
                                        "ambiguity": "'compete' is undefined",
                                    },
                                ),
                            ],
                            path=lineage[:2],
                        )
                    ],
                )
            )
        if i % 2 == 0:
            mine.append(
                _finding(
                    "PROV-001",
                    mid,
                    Outcome.fail,
                    f"{name} was trained on corpus-{i % 7} (CC-BY-NC-4.0)",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(role="model", kind="model", id=mid),
                                EvidenceRecord(
                                    role="data",
                                    kind="dataset",
                                    id=f"corpus-{i % 7}",
                                    fields={"licences": ["CC-BY-NC-4.0"], "licence_rank": 3},
                                ),
                            ],
                            path=[lineage[0], lineage[2]],
                        )
                    ],
                )
            )
        if i % 5 == 0:
            mine.append(
                _finding(
                    "GOV-001",
                    mid,
                    Outcome.fail,
                    f"{name} has no owner",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(
                                    role="model", kind="model", id=mid, fields={"owner": None}
                                )
                            ]
                        )
                    ],
                )
            )
        if i % 11 == 0:
            mine.append(
                _finding(
                    "REG-001",
                    mid,
                    Outcome.indeterminate,
                    f"{name}: GPAI documentation cannot be checked",
                    missing=["model.is_gpai"],
                )
            )
        if i % 4 == 1:
            mine.append(
                _finding(
                    "INV-001",
                    mid,
                    Outcome.fail,
                    f"{name} is hosted while inv-{i % 5} is open",
                    subject_kind="deployment",
                    subject=f"dep-{i:05d}-prod",
                    evidence=[
                        Match(
                            records=[
                                EvidenceRecord(
                                    role="dep", kind="deployment", id=f"dep-{i:05d}-prod"
                                ),
                                EvidenceRecord(
                                    role="inv",
                                    kind="investigation",
                                    id=f"inv-{i % 5}",
                                    fields={"status": "open"},
                                ),
                            ]
                        )
                    ],
                )
            )
        outcomes: dict[str, Outcome] = {
            p.id: Outcome.passed for p in POLICIES if p.id not in ("AIGOV-WAIVER-EXPIRED",)
        }
        order = [Outcome.fail, Outcome.review, Outcome.indeterminate, Outcome.waived]
        for f in mine:
            current = outcomes.get(f.policy, Outcome.passed)
            if current not in order or order.index(f.outcome) < order.index(current):
                outcomes[f.policy] = f.outcome
        if settled and i == 1:
            # GOV-001 passes on the model; HOST-001 applies to none of its subjects, so the
            # model has no HOST-001 outcome (as the engine reports it).
            del outcomes["HOST-001"]
            mine.append(
                _finding("GOV-001", mid, Outcome.passed, f"{name} has an owner: {mid}-owner")
            )
            mine.append(
                _finding(
                    "HOST-001",
                    mid,
                    Outcome.not_applicable,
                    f"HOST-001 does not apply to dep-{i:05d}-prod",
                    subject_kind="deployment",
                    subject=f"dep-{i:05d}-prod",
                )
            )
        counts[Outcome.passed] += sum(1 for o in outcomes.values() if o == Outcome.passed)
        counts.update(f.outcome for f in mine)
        blocked = any(f.outcome in BLOCKING and f.severity.rank >= Severity.high.rank for f in mine)
        status = "blocked" if blocked else ("attention" if mine else "clean")
        models.append(
            ModelResult(
                id=mid,
                name=name,
                provider="frontier" if i % 2 else "acme",
                licence=None if i % 11 == 0 else "apache-2.0",
                owner=None if i % 5 == 0 else f"team-{i % 9}@example.com",
                status=status,
                outcomes=dict(sorted(outcomes.items())),
                deployments=deps,
                lineage=lineage,
            )
        )
        findings += mine
    models.sort(key=lambda m: m.id)
    findings.sort(key=lambda f: (f.model, f.policy, f.subject_kind, f.subject))
    allegation = HOSTILE if hostile else "use of API outputs to train a competing model"
    investigations = [
        InvestigationInfo(
            id=f"inv-{k}",
            subject="frontier" if k % 2 else f"base-{k:03d}",
            authority=HOSTILE if hostile and k == 0 else f"Authority {k}",
            authority_type="regulator",
            allegation=allegation,
            status="open" if k < 4 else "closed_unsubstantiated",
            opened_at=AS_OF - dt.timedelta(days=30 * (k + 1)),
            confidence="declared",
            models=sorted(hosted[k::5]),
            hosted_models=sorted(hosted[k::5]),
        )
        for k in range(5)
    ]
    result = AuditResult(
        tool_version="0.1.0",
        as_of=AS_OF,
        fail_on=Severity.high,
        policy_digest=hashlib.sha256(b"policies").hexdigest(),
        registry_digest=hashlib.sha256(f"registry-{n_models}".encode()).hexdigest(),
        run=RunInfo(id="run-0001", started_at=dt.datetime(2025, 6, 1, 12, 30, 5, tzinfo=dt.UTC))
        if run
        else None,
        counts={o: counts.get(o, 0) for o in Outcome},
        policies=POLICIES,
        models=models,
        findings=findings,
        waivers=sorted(waivers, key=lambda w: w.id),
        investigations=investigations,
    )
    if changes:
        entries = [
            DiffEntry(
                change=Change.new if k % 2 else Change.resolved,
                finding_id=f.id,
                policy=f.policy,
                model=f.model,
                subject_kind=f.subject_kind,
                subject=f.subject,
                before=None if k % 2 else f.outcome,
                after=f.outcome if k % 2 else None,
                severity=f.severity,
                message=f.message,
            )
            for k, f in enumerate(findings[:6])
        ]
        result = result.model_copy(update={"changes": entries, "since": "run-0000"})
    return result


CLI_POLICIES = textwrap.dedent("""\
    policies:
      - id: HOST-001
        title: Deployment without a covering approval
        description: A deployment needs an approval covering its platform, region and environment.
        family: hosting
        severity: critical
        references:
          - {title: Hosting standard, section: "3.1", url: "https://example.com/hosting#3.1"}
        remediation: Obtain a covering approval or withdraw the deployment.
        message: "Deployment {{ dep.id }} of {{ model.name }} has no covering approval"
        subject: {as: dep, kind: deployment}
        when:
          absent:
            as: appr
            kind: approval
            where:
              status: {in: [approved, conditional]}
              expires_at: {ge: as_of}
              scope.platforms: {contains: {ref: dep.platform}}
              scope.regions: {contains: {ref: dep.region}}
              scope.environments: {contains: {ref: dep.environment}}
      - id: TOS-001
        title: Trained on outputs of a provider that prohibits competing use
        description: The model or an ancestor was trained on outputs whose terms prohibit it.
        family: tos
        severity: high
        references:
          - {title: Terms of use, url: "https://example.com/terms"}
        remediation: Ask legal to review the output clause.
        message: "{{ model.name }} descends from {{ teacher.id }}"
        subject: {kind: model}
        when:
          all:
            - lineage: {as: teacher, kind: model,
                        via: [trained_on_outputs, distillation, trained_on, generated_by]}
            - exists: {as: clause, kind: clause,
                       where: {type: prohibits_competing_use_of_outputs,
                               provider: {ref: teacher.provider}, quote: {exists: true}}}
        review_if:
          test: {clause.ambiguity: {exists: true}}
      - id: GOV-001
        title: Model has no owner
        description: Every model needs an accountable owner.
        family: governance
        severity: low
        remediation: Set the owner field.
        message: "{{ model.name }} has no owner"
        subject: {kind: model}
        when:
          test: {model.owner: {missing: true}}
    """)


def cli_registry(hostile: bool = False) -> dict[str, Any]:
    """A small registry: a distilled model hosted without approval while its provider is
    investigated. With ``hostile``, free-text fields carry script-injection strings."""
    evil = f"{XSS_SCRIPT} {XSS_IMG} {XSS_FLAG}" if hostile else None
    return {
        "providers": [{"id": "openai", "name": "OpenAI"}, {"id": "deepseek", "name": "DeepSeek"}],
        "terms": [
            {
                "id": "openai-terms",
                "provider": "openai",
                "kind": "tos",
                "title": "Terms of Use",
                "clauses": [
                    {
                        "section": "2(c)",
                        "type": "prohibits_competing_use_of_outputs",
                        "quote": evil or "Use Output to develop models that compete.",
                        "ambiguity": "'compete' is undefined",
                    }
                ],
            }
        ],
        "models": [
            {"id": "gpt-4o", "name": "GPT-4o", "provider": "openai", "owner": "o@example.com"},
            {"id": "deepseek-r1", "name": evil or "DeepSeek R1", "provider": "deepseek"},
        ],
        "lineage": [
            {
                "child": "deepseek-r1",
                "parent": "gpt-4o",
                "relation": "trained_on_outputs",
                "confidence": "alleged",
            }
        ],
        "deployments": [
            {
                "id": "dep-x",
                "model": "deepseek-r1",
                "platform": evil or "acme-cloud",
                "region": "eu-west-1",
                "environment": "prod",
                "status": "active",
            },
            {
                "id": "dep-dev",
                "model": "deepseek-r1",
                "platform": "acme-cloud",
                "region": "us-east-1",
                "environment": "dev",
                "status": "active",
            },
        ],
        "investigations": [
            {
                "id": "inv-1",
                "subject": "deepseek",
                "authority": evil or "OpenAI",
                "authority_type": "vendor_internal",
                "allegation": evil or "use of API outputs to train a competing model",
                "status": "open",
                "opened_at": "2025-01-29",
            }
        ],
        "waivers": [
            {
                "id": "waiver-dev",
                "policy": "HOST-001",
                "subject": "dep-dev",
                "reason": evil or "sandbox",
                "approved_by": "ciso",
                "granted_at": "2025-03-01",
                "expires_at": "2025-09-01",
            }
        ],
    }


def audit_to_files(
    cli: Any, tmp_path: Path, *pairs: tuple[str, str], hostile: bool = False, record: bool = False
) -> dict[str, Path]:
    """Import cli_registry() into a fresh SQLite file and run 'aigov audit' with the given
    (format, file name) pairs; returns the written paths by format."""
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "p.yaml").write_text(CLI_POLICIES)
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(cli_registry(hostile), allow_unicode=True))
    db = f"sqlite:///{tmp_path / 'aigov.db'}"
    imported = cli("registry", "import", "--db", db, registry)
    assert imported.exit_code == 0, imported.stderr
    args: list[Any] = ["audit", "--db", db, "--policies", policies, "--as-of", "2025-06-01", "-q"]
    if not record:
        args.append("--no-record")
    out = {fmt: tmp_path / name for fmt, name in pairs}
    for fmt, path in out.items():
        args += ["--format", fmt, "-o", path]
    audited = cli(*args)
    assert audited.exit_code == 1, audited.stderr  # the registry has blocking findings
    return out
