"""The lifecycle of ``aigov audit --workers N``: a hung or stopped worker fails the run, workers
die with their parent, SIGINT and SIGTERM exit 130 and 143, and the result spool is removed on
every way out, even when the audit is killed outright.

Real processes throughout: the installed ``aigov`` script runs as a subprocess over a
synthetic registry (bench/generate.py) large enough that ``--workers 2`` uses worker processes
for several chunks; the tests find the workers through /proc and signal them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aigov.evaluate.pipeline import PARTITION_CHUNK
from aigov_testing.cli import find_aigov_script, invoke_cli
from aigov_testing.env import AIGOV_ENV, CLEAN_ENV
from aigov_testing.processes import children, cmdline
from aigov_testing.registry_data import SYNTHETIC_POLICIES as POLICIES
from aigov_testing.registry_data import load_bench_generator

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds worker processes through /proc"
)

MODELS = 6 * PARTITION_CHUNK  # six chunks: signals land while chunks are still queued
STOP_TIMEOUT = 15  # AIGOV_WORKER_TIMEOUT for the stopped-worker test: a real chunk takes ~1 s
WAIT = 120.0  # generous upper bound for anything to happen on a loaded machine


# ----------------------------------------------------------------------------- set-up


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A SQLite registry of MODELS synthetic models and a policy file (built once)."""
    base = tmp_path_factory.mktemp("workers")
    generator = load_bench_generator()
    files = base / "registry"
    data = generator.generate(MODELS, seed=3)
    generator.write(data, files)
    policies = base / "policies.yaml"
    policies.write_text(textwrap.dedent(POLICIES), encoding="utf-8")
    db = base / "registry.db"
    imported = invoke_cli(
        base, "registry", "import", "--db", f"sqlite:///{db}", files, env=CLEAN_ENV
    )
    assert imported.exit_code == 0, imported.stderr
    ids = {model["id"] for model in data["models"]}
    return {"db": f"sqlite:///{db}", "policies": policies, "ids": ids}


class Audit:
    """One ``aigov audit`` as a real process, its own session (so a Ctrl-C can be sent to
    its process group), TMPDIR a directory of the test's own, output in files."""

    def __init__(self, work: Path, synthetic: dict[str, Any], workers: int, env: dict[str, str]):
        self.tmpdir = work / "tmp"
        self.tmpdir.mkdir()
        self.stdout = work / "stdout.txt"
        self.stderr = work / "stderr.txt"
        environment = {k: v for k, v in os.environ.items() if k not in AIGOV_ENV}
        environment.update(TMPDIR=str(self.tmpdir), NO_COLOR="1", **env)
        args = [
            find_aigov_script(),
            "audit",
            "--db",
            str(synthetic["db"]),
            "--policies",
            str(synthetic["policies"]),
            "--as-of",
            "2025-06-01",
            "--workers",
            str(workers),
            "--no-record",
            "--quiet",
        ]
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.process = subprocess.Popen(
                args, cwd=work, env=environment, stdout=out, stderr=err, start_new_session=True
            )
        self.pid = self.process.pid
        self.known_workers: list[int] = []

    def wait(self, timeout: float = WAIT) -> int:
        return self.process.wait(timeout=timeout)

    def workers(self) -> list[int]:
        """The worker processes: children running the same command as the parent (the
        spool watchdog, also a child, runs another)."""
        command = cmdline(self.pid)  # read now: right after the fork it was pytest's
        return [pid for pid in children(self.pid) if cmdline(pid) == command]

    def spools(self) -> list[Path]:
        return sorted(self.tmpdir.glob("aigov-spool-*"))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
        for pid in self.known_workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def busy_workers(self, count: int) -> list[int]:
        """Wait until ``count`` workers have each used CPU time (they are evaluating a chunk,
        not idle after the fork) and the spool directory exists; return their pids."""
        found = _poll(
            lambda: (
                busy
                if len(busy := [p for p in self.workers() if _cpu_ticks(p) >= 5]) >= count
                and self.spools()
                else None
            ),
            what=f"{count} busy workers",
            process=self.process,
        )
        self.known_workers = list(found)
        return found

    def errors(self) -> str:
        return self.stderr.read_text(encoding="utf-8")


@pytest.fixture
def start_audit(tmp_path: Path, synthetic: dict[str, Any]) -> Iterator[Callable[..., Audit]]:
    started: list[Audit] = []

    def start(workers: int = 2, **env: str) -> Audit:
        work = tmp_path / f"audit{len(started)}"
        work.mkdir()
        audit = Audit(work, synthetic, workers, env)
        started.append(audit)
        return audit

    yield start
    for audit in started:  # nothing a failed test started outlives it
        audit.kill()


# ----------------------------------------------------------------------------- /proc


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on


def _alive(pid: int) -> bool:
    """Running, sleeping or stopped; not gone and not a zombie waiting to be reaped."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return 0 if fields is None else int(fields[11]) + int(fields[12])  # utime + stime


def _poll(
    check: Callable[[], object],
    *,
    what: str,
    timeout: float = WAIT,
    process: subprocess.Popen | None = None,
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the audit ended (exit {process.returncode}) before {what}")
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _all_gone(pids: list[int]) -> bool:
    return not any(_alive(pid) for pid in pids)


# ----------------------------------------------------------------------------- the tests


def test_a_stopped_worker_fails_the_run_naming_its_models(start_audit, synthetic) -> None:
    audit = start_audit(AIGOV_WORKER_TIMEOUT=str(STOP_TIMEOUT))
    workers = audit.busy_workers(2)
    os.kill(workers[0], signal.SIGSTOP)
    stopped = time.monotonic()
    code = audit.wait()
    elapsed = time.monotonic() - stopped
    errors = audit.errors()
    assert code == 2, errors
    assert f"no progress for {STOP_TIMEOUT} s (AIGOV_WORKER_TIMEOUT)" in errors
    named = errors.split("while evaluating models ", 1)[1].split(":", 1)[0].split(" .. ")
    assert len(named) == 2 and all(model in synthetic["ids"] for model in named), errors
    assert elapsed < STOP_TIMEOUT + WAIT / 2
    assert audit.stdout.read_text() == ""  # no report, no verdict: the run failed
    _poll(lambda: _all_gone(workers), what="the workers to be killed", timeout=30)
    assert audit.spools() == []


def test_killing_the_audit_kills_its_workers_and_removes_the_spool(start_audit) -> None:
    audit = start_audit()
    workers = audit.busy_workers(2)
    assert audit.spools(), "the spool exists while the audit runs"
    os.kill(audit.pid, signal.SIGKILL)
    assert audit.wait() == -signal.SIGKILL
    _poll(lambda: _all_gone(workers), what="the orphaned workers to die", timeout=30)
    _poll(lambda: not audit.spools(), what="the spool directory to be removed", timeout=30)


def test_a_stopped_worker_dies_with_its_parent(start_audit) -> None:
    audit = start_audit()
    workers = audit.busy_workers(2)
    os.kill(workers[0], signal.SIGSTOP)
    os.kill(audit.pid, signal.SIGKILL)
    audit.wait()
    _poll(lambda: _all_gone(workers), what="the stopped orphan to die", timeout=30)
    _poll(lambda: not audit.spools(), what="the spool directory to be removed", timeout=30)


def test_ctrl_c_exits_130_killing_the_workers_and_removing_the_spool(start_audit) -> None:
    audit = start_audit()
    workers = audit.busy_workers(2)
    os.killpg(audit.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    assert audit.wait() == 130, audit.errors()
    assert "Traceback" not in audit.errors()
    assert audit.spools() == []
    _poll(lambda: _all_gone(workers), what="the workers to be killed", timeout=30)


@pytest.mark.parametrize("workers", [2, 1], ids=["parallel", "sequential"])
def test_sigterm_exits_143_and_removes_the_spool(start_audit, workers: int) -> None:
    audit = start_audit(workers)
    pool = audit.busy_workers(2) if workers > 1 else []
    if workers == 1:
        _poll(audit.spools, what="the spool directory", process=audit.process)
    os.kill(audit.pid, signal.SIGTERM)
    assert audit.wait() == 143, audit.errors()
    assert "Traceback" not in audit.errors()
    assert audit.spools() == []
    _poll(lambda: _all_gone(pool), what="the workers to be killed", timeout=30)


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan"])
def test_a_bad_worker_timeout_is_an_error(cli, synthetic, value: str) -> None:
    result = cli(
        "audit",
        "--db",
        synthetic["db"],
        "--policies",
        synthetic["policies"],
        "--workers",
        "2",
        "--no-record",
        env={"AIGOV_WORKER_TIMEOUT": value},
    )
    assert result.exit_code == 2, result.stdout
    assert "AIGOV_WORKER_TIMEOUT" in result.stderr and repr(value) in result.stderr
    assert result.stdout == ""


def test_workers_that_finish_in_time_give_the_sequential_result(cli, synthetic) -> None:
    args = ["audit", "--db", synthetic["db"], "--policies", synthetic["policies"]]
    args += ["--as-of", "2025-06-01", "--no-record", "--format", "json"]
    one = cli(*args, "--workers", "1")
    two = cli(*args, "--workers", "2", env={"AIGOV_WORKER_TIMEOUT": "600"})
    assert one.exit_code == two.exit_code == 1, two.stderr
    assert one.stdout == two.stdout
