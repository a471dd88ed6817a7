"""One pipeline for every front door (audit, the spooled audit, gate, explain, policy tests):
open or borrow the registry, fix ``as_of``, compile the policy set once, stream partitions,
evaluate them sequentially or in worker processes, and build the result.

Worker processes (``workers`` > 1 and more than :data:`PARTITION_CHUNK` models) are bounded:

* a chunk of models that makes no progress for ``AIGOV_WORKER_TIMEOUT`` seconds (default
  :data:`WORKER_TIMEOUT`, 300 s; a worker that hangs or was stopped) fails the run with an
  :class:`~aigov.evaluate.session.EngineError` naming the models (exit 2), and every worker
  is killed;
* workers die with the process that started them (Linux: ``PR_SET_PDEATHSIG``; elsewhere a
  worker exits when it sees its parent change), so killing an audit leaves none behind;
* SIGINT and SIGTERM during an audit raise :class:`Interrupted` (a ``SystemExit`` with the
  conventional code 130 or 143), so that the workers are killed and the result spool is
  removed on the way out; a spool whose process was killed outright (SIGKILL) is removed by
  a small watchdog process (:func:`_watch_spool`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from aigov import __version__
from aigov.compile.compiler import compile_policies
from aigov.compile.rules import CompiledPolicies
from aigov.errors import AigovError, NotFoundError
from aigov.evaluate.facts import Partition, PartitionLoader
from aigov.evaluate.outcomes import (
    MAX_EVIDENCE,
    PartitionEvaluator,
    PartitionResult,
    policy_catalogue,
)
from aigov.evaluate.session import EngineError
from aigov.exit_codes import EXIT_SIGTERM
from aigov.interrupts import stop_signals
from aigov.policy.ast import PolicySet
from aigov.policy.loader import load_policies
from aigov.registry.records import DeploymentBase
from aigov.registry.store import Registry, open_registry
from aigov.results.findings import (
    AuditResult,
    Finding,
    ModelResult,
    blocks,
)
from aigov.results.severity import Severity
from aigov.results.spool import ResultSpool, SpoolEntry, Totals

Executor = Literal["processes", "dask"]  # how Pipeline.results spreads partitions

PARTITION_CHUNK = 200  # partitions loaded per query batch and handed to a worker at once
WORKER_TIMEOUT = 300.0  # seconds a worker may spend on one chunk (AIGOV_WORKER_TIMEOUT)


def worker_timeout() -> float:
    """Seconds a worker may spend on one chunk of models: ``AIGOV_WORKER_TIMEOUT``, default
    :data:`WORKER_TIMEOUT`. A value that is not a positive number is an error."""
    raw = os.environ.get("AIGOV_WORKER_TIMEOUT", "").strip()
    if not raw:
        return WORKER_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise AigovError(
            f"AIGOV_WORKER_TIMEOUT: expected a positive number of seconds, got {raw!r}"
        )
    return value


# The watchdog: removes the spool directory if this process dies without removing it
# (SIGKILL, a crash); exits on its own once the directory is gone (the spool was closed).
_WATCHDOG = """
import os, select, shutil, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
path = sys.argv[1]
while os.path.isdir(path):
    ready, _, _ = select.select([sys.stdin], [], [], 0.5)
    if ready and not os.read(sys.stdin.fileno(), 1024):
        shutil.rmtree(path, ignore_errors=True)
        break
"""


# The running watchdogs: each holds the write end of its pipe for as long as this process
# lives (dropping it would tell the watchdog that this process has ended).
_WATCHDOGS: list[subprocess.Popen[bytes]] = []


def _watch_spool(directory: Path) -> None:
    """Start the spool watchdog for ``directory``: a small process that holds the read end
    of a pipe whose write end only this process holds. When this process ends, however it
    ends, the pipe reaches end-of-file and the watchdog removes the directory if it is still
    there. Where no watchdog can be started, the spool is still removed on every way out
    but SIGKILL."""
    for done in [w for w in _WATCHDOGS if w.poll() is not None]:
        _WATCHDOGS.remove(done)
        if done.stdin is not None:
            done.stdin.close()
    try:
        watchdog = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,  # a Ctrl-C to the terminal's process group spares it
        )
    except OSError:
        return
    _WATCHDOGS.append(watchdog)


def _release_watchdogs() -> None:
    """In a forked worker: close the inherited write ends, so that only the parent's end
    keeps each watchdog waiting."""
    for watchdog in _WATCHDOGS:
        if watchdog.stdin is not None:
            with contextlib.suppress(OSError):
                watchdog.stdin.close()
    _WATCHDOGS.clear()


def resolve_policies(policies: PolicySet | Iterable[str | Path] | None) -> PolicySet:
    if isinstance(policies, PolicySet):
        return policies
    paths = [Path(p) for p in policies] if policies else None
    return load_policies(paths)


def resolve_models(registry: Registry, models: list[str] | None = None) -> list[str]:
    """Sorted ids of ``models`` (default: every model); unknown ids are an error."""
    with registry.read() as conn:
        loader = PartitionLoader(conn, dt.date.today(), set())
        ids = loader.model_ids(models)
        unknown = sorted(set(models) - set(ids)) if models is not None else []
        if unknown:
            raise NotFoundError(_unknown_models(unknown, loader.model_ids()))
    return ids


def _unknown_models(unknown: list[str], known: list[str]) -> str:
    """The error for model ids the registry does not hold, with the nearest ids it does."""
    import difflib

    names = []
    for model in unknown:
        close = difflib.get_close_matches(model, known, n=3, cutoff=0.6)
        names.append(f"'{model}'" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    noun = "model" if len(unknown) == 1 else "models"
    return f"unknown {noun}: {', '.join(names)}"


def iter_partitions(
    registry: Registry,
    compiled: CompiledPolicies,
    ids: list[str],
    extra: list[DeploymentBase] | None = None,
) -> Iterator[Partition]:
    """Stream the partitions of existing models ``ids`` from the database, in chunks."""
    with registry.read() as conn:
        loader = PartitionLoader(
            conn, compiled.as_of, compiled.member_fields, compiled.fact_fields, compiled.regexes
        )
        for start in range(0, len(ids), PARTITION_CHUNK):
            yield from loader.load(ids[start : start + PARTITION_CHUNK], extra)


def spool_entry(result: PartitionResult, fail_on: Severity) -> SpoolEntry:
    return SpoolEntry(
        model_id=result.model.id,
        model_name=result.model.name,
        model_line=result.model.model_dump_json(),
        finding_lines=[f.model_dump_json() for f in result.findings],
        outcomes=list(result.outcomes.values()),
        by_severity=Counter((f.outcome, f.severity) for f in result.findings),
        blocking=sum(1 for f in result.findings if blocks(f, fail_on)),
        waivers=result.waivers,
        investigations=result.investigations,
    )


class Pipeline:
    """Policies compiled once for one evaluation date, evaluated against any registry.

    Every front door goes through it: :func:`audit`, :func:`audit_to_spool`,
    :func:`aigov.api.gate.gate`, :func:`aigov.api.explain.explain` and the policy tests. It
    decides the evaluation date (``as_of``, default today) in exactly one place.
    """

    def __init__(
        self,
        policies: PolicySet | Iterable[str | Path] | None = None,
        as_of: dt.date | None = None,
        *,
        fail_on: Severity | str = Severity.high,
        max_evidence: int | None = MAX_EVIDENCE,
    ):
        self.policy_set = resolve_policies(policies)
        self.max_evidence = max_evidence  # matches listed per finding (None: all)
        self.as_of = as_of or dt.date.today()
        self.fail_on = Severity(fail_on)
        self.compiled = compile_policies(self.policy_set, self.as_of)
        self._evaluator: PartitionEvaluator | None = None

    @contextlib.contextmanager
    def registry(self, registry: Registry | str | None) -> Iterator[Registry]:
        """Borrow an open registry, or open one from a URL (None: the default) and close it."""
        if isinstance(registry, Registry):
            yield registry
            return
        with open_registry(registry) as opened:
            yield opened

    def model_ids(self, registry: Registry, models: list[str] | None = None) -> list[str]:
        return resolve_models(registry, models)

    def partitions(
        self, registry: Registry, ids: list[str], extra: list[DeploymentBase] | None = None
    ) -> Iterator[Partition]:
        return iter_partitions(registry, self.compiled, ids, extra)

    def evaluate(self, partition: Partition) -> PartitionResult:
        """One partition's findings (the evaluator keeps no state between partitions)."""
        if self._evaluator is None:
            self._evaluator = PartitionEvaluator(self.compiled, self.fail_on, self.max_evidence)
        return self._evaluator(partition)

    def results(
        self,
        registry: Registry,
        ids: list[str],
        *,
        workers: int = 1,
        executor: Executor = "processes",
        scheduler: str | None = None,
        progress: Callable[[int], None] | None = None,
        transform: Callable[[PartitionResult], Any] | None = None,
    ) -> Iterator[Any]:
        """Partition results for ``ids``, in id order, sequentially, in worker processes, or
        as Dask tasks (``executor="dask"``: on the cluster at ``scheduler``, or a LocalCluster
        of ``workers`` processes; see :mod:`aigov.evaluate.distributed`).

        ``transform`` is applied to each result where it is computed (in the worker), so
        that only what the caller keeps crosses the process boundary.
        """
        if executor == "dask":
            from aigov.evaluate.distributed import dask_results

            yield from dask_results(
                self,
                registry,
                ids,
                workers=workers,
                scheduler=scheduler,
                progress=progress,
                transform=transform,
            )
            return
        if executor != "processes":
            raise AigovError(f"unknown executor {executor!r}: expected 'processes' or 'dask'")
        if scheduler is not None:
            raise AigovError("a scheduler address is for the Dask executor (executor='dask')")
        transform = transform or (lambda result: result)
        if workers > 1:
            worker_timeout()  # a bad AIGOV_WORKER_TIMEOUT is an error whatever the size
        if workers > 1 and len(ids) > PARTITION_CHUNK:
            url = registry.url.render_as_string(hide_password=False)
            compiled, fail_on = self.compiled, self.fail_on
            yield from _parallel(url, compiled, fail_on, ids, workers, progress, transform)
            return
        for partition in self.partitions(registry, ids):
            yield transform(self.evaluate(partition))
            if progress:
                progress(1)


def build_result(
    compiled: CompiledPolicies,
    results: Iterable[PartitionResult],
    fail_on: Severity,
    registry_digest: str | None = None,
) -> AuditResult:
    models: list[ModelResult] = []
    findings: list[Finding] = []
    totals = Totals()
    for result in results:
        models.append(result.model)
        findings += result.findings
        totals.add(result.outcomes.values(), result.waivers, result.investigations)
    models.sort(key=lambda m: m.id)
    findings.sort(key=lambda f: (f.model, f.policy, f.subject_kind, f.subject))
    return AuditResult(
        tool_version=__version__,
        as_of=compiled.as_of,
        fail_on=fail_on,
        policy_digest=compiled.policy_set.digest,
        registry_digest=registry_digest,
        counts=totals.counts,
        policies=policy_catalogue(compiled.policy_set),
        models=models,
        findings=findings,
        waivers=totals.waivers,
        investigations=totals.investigations,
    )


_WORKER: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); elsewhere, or
    where prctl cannot be called, the worker's own parent check (:func:`_check_parent`)
    remains."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _check_parent() -> None:
    """Exit at once if the process that started this worker is gone (the worker has been
    re-parented): no orphan goes on evaluating and holding the database."""
    if os.getppid() != _WORKER.get("parent"):
        os._exit(EXIT_SIGTERM)


def _worker_init(parent: int) -> None:
    """Runs first in each worker: the parent alone decides what SIGINT means (a Ctrl-C
    reaches the whole process group) and SIGTERM kills; the worker dies with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _release_watchdogs()
    _WORKER["parent"] = parent
    _die_with_parent()
    _check_parent()  # the parent may have died before prctl took effect


def _worker_chunk(ids: list[str]) -> list[Any]:
    """Evaluate a chunk of models in a worker process (state inherited through fork)."""
    state = _WORKER
    if "evaluate" not in state:
        state["evaluate"] = PartitionEvaluator(state["compiled"], state["fail_on"])
        state["registry"] = open_registry(state["url"])
    transform = state["transform"]
    results = []
    for partition in iter_partitions(state["registry"], state["compiled"], ids):
        _check_parent()
        results.append(transform(state["evaluate"](partition)))
    return results


def _kill_pool(pool: Any) -> None:
    """Kill every worker of ``pool`` (SIGKILL also ends a stopped process) and reap them,
    without waiting for the chunks they hold."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=10)


def _parallel(
    url: str,
    compiled: CompiledPolicies,
    fail_on: Severity,
    ids: list[str],
    workers: int,
    progress: Callable[[int], None] | None,
    transform: Callable[[PartitionResult], Any],
) -> Iterator[Any]:
    """Partition-parallel evaluation in worker processes, results in id order, at most a few
    chunks in flight (memory stays flat); any failure fails the run, naming the models.

    A chunk that takes longer than :func:`worker_timeout` fails the run. Unless every chunk
    finished, the workers are killed on the way out (an error, a signal, or the caller
    closing this generator early), never waited for."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures import wait as wait_for
    from concurrent.futures.process import BrokenProcessPool

    timeout = worker_timeout()
    chunks = [ids[i : i + PARTITION_CHUNK] for i in range(0, len(ids), PARTITION_CHUNK)]
    _WORKER.clear()
    _WORKER.update(url=url, compiled=compiled, fail_on=fail_on, transform=transform)
    context = multiprocessing.get_context("fork")
    pending: deque[tuple[list[str], Future[list[Any]]]] = deque()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    finished = False
    try:
        queue = iter(chunks)
        for chunk in queue:
            pending.append((chunk, pool.submit(_worker_chunk, chunk)))
            if len(pending) >= workers * 2:
                break
        while pending:
            chunk, future = pending.popleft()
            if not wait_for([future], timeout=timeout).done:
                raise EngineError(
                    f"a worker made no progress for {timeout:g} s (AIGOV_WORKER_TIMEOUT) "
                    f"while evaluating models {chunk[0]} .. {chunk[-1]}: it hangs or was "
                    "stopped; every worker was killed"
                )
            try:
                results = future.result()
            except BrokenProcessPool:
                raise EngineError(
                    f"a worker process died while evaluating models {chunk[0]} .. {chunk[-1]}"
                ) from None
            except AigovError:
                raise
            except Exception as exc:
                raise EngineError(
                    f"worker failed on models {chunk[0]} .. {chunk[-1]}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            following = next(queue, None)
            if following is not None:
                pending.append((following, pool.submit(_worker_chunk, following)))
            if progress:
                progress(len(chunk))
            yield from results
        finished = True
    finally:
        for _chunk, future in pending:
            future.cancel()
        if finished:
            pool.shutdown(wait=True)
        else:
            _kill_pool(pool)
        _WORKER.clear()


def audit(
    registry: Registry | str | None,
    policies: PolicySet | Iterable[str | Path] | None = None,
    as_of: dt.date | None = None,
    models: list[str] | None = None,
    *,
    fail_on: Severity | str = Severity.high,
    workers: int = 1,
    executor: Executor = "processes",
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
    registry_digest: bool = False,
) -> AuditResult:
    """Evaluate ``policies`` against every model of the registry (or ``models``), as
    ``aigov audit`` does, and return every finding with its evidence.

    Args:
        registry: an open :class:`~aigov.registry.store.Registry` (left open), a database
            URL (opened and closed here), or None for ``$AIGOV_DB`` / ``sqlite:///aigov.db``.
        policies: a :class:`~aigov.policy.ast.PolicySet` from :func:`aigov.load_policies`,
            policy files and directories (they replace the shipped library), or None for
            the shipped library.
        as_of: the evaluation date: approvals, waivers and relative dates (``as_of + 30d``)
            are judged against it. Default: today.
        models: the ids of the models to audit (default: every model). An unknown id is an
            error.
        fail_on: the lowest severity whose ``fail`` or ``review`` findings block (what
            :meth:`~aigov.results.findings.AuditResult.blocking` and the models' ``blocked``
            status use). Default ``high``.
        workers: evaluate partitions in that many processes (default 1). The result is the
            same, byte for byte, for any number.
        executor: ``"processes"`` (default: forked worker processes, ``workers`` of them) or
            ``"dask"``: Dask tasks on the cluster at ``scheduler``, or without one on a
            LocalCluster of ``workers`` processes (needs ``aigov-rules[dask]``; the registry
            must be a SQLite file or PostgreSQL). The result is the same, byte for byte.
        scheduler: the Dask scheduler's address (``tcp://host:8786``); only with ``"dask"``.
        progress: called with the number of models just evaluated, as the audit goes.
        registry_digest: also compute the digest of the registry's content
            (``AuditResult.registry_digest``, what a recorded run keeps).

    Returns:
        The :class:`~aigov.results.findings.AuditResult`, held in memory (for large
        registries see :func:`audit_to_spool`). Its ``findings`` hold every outcome that is
        not a plain pass. A registry without models gives a result without models: the CLI
        refuses that (exit 2) unless ``--allow-empty``; check ``result.models`` before
        reading an empty result as a pass.

    Raises:
        aigov.errors.AigovError: any error (the CLI's exit 2): invalid policies
            (``InputError``), a missing or unreadable registry (``RegistryError``), an unknown
            model (``NotFoundError``), a failure of the rules engine or of a worker
            (``EngineError``). An exception is never a partial result.
    """
    pipeline = Pipeline(policies, as_of, fail_on=fail_on)
    with pipeline.registry(registry) as reg, stop_signals():
        digest = compute_registry_digest(reg) if registry_digest else None
        ids = pipeline.model_ids(reg, models)
        results = pipeline.results(
            reg, ids, workers=workers, executor=executor, scheduler=scheduler, progress=progress
        )
        return build_result(pipeline.compiled, results, pipeline.fail_on, digest)


def audit_to_spool(
    registry: Registry,
    policies: PolicySet | Iterable[str | Path] | None = None,
    as_of: dt.date | None = None,
    models: list[str] | None = None,
    *,
    fail_on: Severity | str = Severity.high,
    workers: int = 1,
    executor: Executor = "processes",
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
    directory: Path | None = None,
) -> ResultSpool:
    """Like :func:`audit`, with the result spooled to disk (memory stays flat with the
    registry's size). Close the spool when done.

    The spool's temporary directory is removed on every way out: on an error or a signal
    here (SIGINT and SIGTERM raise :class:`Interrupted`), by ``close``, and, should this
    process be killed outright, by a watchdog process (a ``directory`` given is the
    caller's and is left alone)."""
    pipeline = Pipeline(policies, as_of, fail_on=fail_on)
    with stop_signals():
        spool = ResultSpool(
            as_of=pipeline.as_of,
            fail_on=pipeline.fail_on,
            policy_digest=pipeline.policy_set.digest,
            policies=policy_catalogue(pipeline.policy_set),
            registry_digest=compute_registry_digest(registry),
            directory=directory,
        )
        try:
            if directory is None:
                _watch_spool(spool._dir)
            ids = pipeline.model_ids(registry, models)
            entries = pipeline.results(
                registry,
                ids,
                workers=workers,
                executor=executor,
                scheduler=scheduler,
                progress=progress,
                transform=functools.partial(spool_entry, fail_on=pipeline.fail_on),
            )
            spool.extend(entries)
        except BaseException:
            spool.close()
            raise
    return spool


def compute_registry_digest(registry: Registry) -> str:
    """A digest of the registry's content: equal exactly when every record is equal."""
    from aigov.registry.operations import registry_digest

    with registry.read() as conn:
        return registry_digest(conn)
