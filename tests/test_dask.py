"""``aigov audit --executor dask``: partitions as tasks on a real ``dask.distributed`` cluster.

A LocalCluster of two single-threaded worker processes (127.0.0.1, no dashboard) is started
once for the module; audits run on it through ``--scheduler`` against SQLite and PostgreSQL,
and without ``--scheduler`` on a LocalCluster of the audit's own. Every result is compared,
byte for byte, with ``--workers 1``. Workers are killed for real (SIGKILL) mid-run: the
scheduler reruns their tasks and the output is unchanged; with no reruns allowed the run
fails with exit 2, naming the models, and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aigov.errors import AigovError
from aigov.evaluate.pipeline import PARTITION_CHUNK, audit_to_spool
from aigov.registry.store import open_registry
from aigov_testing.cli import find_aigov_script, invoke_cli
from aigov_testing.env import AIGOV_ENV, CLEAN_ENV, require_in_ci
from aigov_testing.processes import children, cmdline
from aigov_testing.registry_data import SYNTHETIC_POLICIES, load_bench_generator

MODELS = 5 * PARTITION_CHUNK  # five chunks: a worker killed after the first has work left
AS_OF = "2025-06-01"
WAIT = 180.0  # generous upper bound for anything to happen on a loaded machine

dask_cluster = pytest.mark.dask


# ----------------------------------------------------------------------------- set-up


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Registry files of MODELS synthetic models, a policy file, and the registry imported
    into a SQLite file (built once)."""
    base = tmp_path_factory.mktemp("dask")
    generator = load_bench_generator()
    files = base / "registry"
    generator.write(generator.generate(MODELS, seed=5), files)
    policies = base / "policies.yaml"
    policies.write_text(textwrap.dedent(SYNTHETIC_POLICIES), encoding="utf-8")
    db = f"sqlite:///{base / 'registry.db'}"
    imported = invoke_cli(base, "registry", "import", "--db", db, files, env=CLEAN_ENV)
    assert imported.exit_code == 0, imported.stderr
    return {"base": base, "files": files, "policies": policies, "db": db}


def _audit_args(db: str, policies: Path) -> list[str | Path]:
    return ["audit", "--db", db, "--policies", policies, "--as-of", AS_OF, "--no-record"]


def _json_audit(cwd: Path, db: str, policies: Path, output: Path, *extra: str) -> Any:
    """``aigov audit ... --format json -o OUTPUT EXTRA`` in-process."""
    args = [*_audit_args(db, policies), "--quiet", "--format", "json", "-o", output]
    return invoke_cli(cwd, *args, *extra, env=CLEAN_ENV)


@pytest.fixture(scope="module")
def reference(synthetic: dict[str, Any]) -> bytes:
    """The JSON report of ``--workers 1`` on the SQLite registry (its verdict on stdout is
    ``synthetic["verdict"]``)."""
    output = synthetic["base"] / "workers-1.json"
    ran = _json_audit(
        synthetic["base"], synthetic["db"], synthetic["policies"], output, "--workers", "1"
    )
    assert ran.exit_code == 1, ran.stderr  # the synthetic registry has blocking findings
    synthetic["verdict"] = ran.stdout
    return output.read_bytes()


@pytest.fixture(scope="module")
def distributed() -> Any:
    """The dask.distributed package (skipped without it; under CI=true, failed)."""
    try:
        import distributed as package
    except ImportError:
        require_in_ci(
            "dask.distributed is not installed (pip install 'aigov-rules[dask]')",
            cases="the Dask executor tests",
        )
    return package


@pytest.fixture(scope="module")
def cluster(distributed: Any) -> Iterator[Any]:
    """A real LocalCluster: two worker processes of one thread each."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # the scheduler's HTTP server (health, metrics) listens anyway: on a free port
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    ) as local:
        yield local


@pytest.fixture
def client(distributed: Any, cluster: Any) -> Iterator[Any]:
    """A client of the module's cluster, once both workers are up (a test may kill one)."""
    with distributed.Client(cluster, set_as_default=False) as connected:
        connected.wait_for_workers(2, timeout=WAIT)
        yield connected


# ----------------------------------------------------------------------------- byte-identical


@dask_cluster
def test_a_cluster_audit_gives_the_bytes_of_one_worker(
    tmp_path: Path, db_url: str, synthetic: dict[str, Any], reference: bytes, cluster: Any
) -> None:
    db, expected, verdict = synthetic["db"], reference, synthetic["verdict"]  # SQLite's
    if not db_url.startswith("sqlite"):
        db = db_url
        imported = invoke_cli(tmp_path, "registry", "import", "--db", db, synthetic["files"])
        assert imported.exit_code == 0, imported.stderr
        one = tmp_path / "one.json"
        sequential = _json_audit(tmp_path, db, synthetic["policies"], one, "--workers", "1")
        assert sequential.exit_code == 1, sequential.stderr
        expected, verdict = one.read_bytes(), sequential.stdout
    output = tmp_path / "dask.json"
    address = cluster.scheduler_address
    ran = _json_audit(
        tmp_path, db, synthetic["policies"], output, "--executor", "dask", "--scheduler", address
    )
    assert ran.exit_code == 1, ran.stderr
    assert ran.stdout == verdict
    assert output.read_bytes() == expected


@dask_cluster
def test_without_a_scheduler_a_local_cluster_runs_the_audit(
    tmp_path: Path, synthetic: dict[str, Any], reference: bytes, distributed: Any
) -> None:
    output = tmp_path / "local.json"
    ran = _json_audit(
        tmp_path,
        synthetic["db"],
        synthetic["policies"],
        output,
        "--executor",
        "dask",
        "--workers",
        "2",
    )
    assert ran.exit_code == 1, ran.stderr
    assert output.read_bytes() == reference


# ----------------------------------------------------------------------------- lost workers


@dask_cluster
def test_a_killed_worker_is_replaced_and_the_output_is_unchanged(
    tmp_path: Path, synthetic: dict[str, Any], reference: bytes, cluster: Any, client: Any
) -> None:
    from aigov.cli.audit import write_report

    pids = sorted(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_a_worker(done: int) -> None:
        if not killed:  # after the first chunk's results: the others are on the workers
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    with open_registry(synthetic["db"]) as registry:
        spool = audit_to_spool(
            registry,
            [synthetic["policies"]],
            dt.date.fromisoformat(AS_OF),
            executor="dask",
            scheduler=cluster.scheduler_address,
            progress=kill_a_worker,
        )
    output = tmp_path / "after-kill.json"
    with spool:
        write_report("json", spool, str(output))
    assert killed and not _alive(killed[0])
    assert output.read_bytes() == reference


@dask_cluster
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers through /proc")
def test_workers_lost_for_good_fail_the_run_naming_the_models(
    tmp_path: Path, synthetic: dict[str, Any], distributed: Any
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    output = tmp_path / "never.json"
    environment = {k: v for k, v in os.environ.items() if k not in AIGOV_ENV}
    # no reruns: a task whose worker dies fails at once (Dask's KilledWorker)
    environment.update(TMPDIR=str(tmpdir), DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    args = [*_audit_args(synthetic["db"], synthetic["policies"])]
    args += ["--quiet", "--format", "json", "-o", output, "--executor", "dask", "--workers", "2"]
    process = subprocess.Popen(
        [find_aigov_script(), *map(str, args)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _spooled(tmpdir), "the first chunk in the spool", process)
        workers = [pid for pid in children(process.pid) if b"spawn_main" in cmdline(pid)]
        assert len(workers) == 2, workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2, stderr
    assert "Dask workers died while evaluating models model-" in stderr, stderr
    assert "Traceback" not in stderr
    assert stdout == "" and not output.exists()  # no report, no verdict: never a partial result
    assert not list(tmpdir.glob("aigov-spool-*"))


# ----------------------------------------------------------------------------- refusals


def test_scheduler_needs_the_dask_executor(cli: Any, synthetic: dict[str, Any]) -> None:
    args = ["audit", "--db", synthetic["db"], "--policies", synthetic["policies"], "--no-record"]
    alone = cli(*args, "--scheduler", "tcp://127.0.0.1:8786")
    assert alone.exit_code == 2 and "add --executor dask" in alone.stderr
    sized = cli(
        *args, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"
    )
    assert sized.exit_code == 2 and "drop --workers" in sized.stderr


def test_an_in_memory_registry_is_refused(synthetic: dict[str, Any]) -> None:
    with (
        open_registry("sqlite://", create=True) as registry,
        pytest.raises(AigovError, match="a SQLite file or PostgreSQL"),
    ):
        audit_to_spool(registry, [synthetic["policies"]], executor="dask")


def test_without_dask_installed_the_error_says_what_to_install(
    cli: Any, synthetic: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    ran = cli(
        "audit", "--db", synthetic["db"], "--policies", synthetic["policies"], "--no-record",
        "--executor", "dask",
    )  # fmt: skip
    assert ran.exit_code == 2, ran.stderr
    assert "pip install 'aigov-rules[dask]'" in ran.stderr
    assert ran.stdout == ""


# ----------------------------------------------------------------------------- helpers


def _spooled(tmpdir: Path) -> bool:
    """The audit has written results to its spool (the first chunk has come back)."""
    return any(p.stat().st_size > 0 for p in tmpdir.glob("aigov-spool-*/models.jsonl"))


def _wait_for(check: Any, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if process.poll() is not None:
            pytest.fail(f"the audit ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    """Running or sleeping: not gone and not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].split()[0] not in ("Z", "X")
