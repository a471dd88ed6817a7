"""One pipeline for every front door (audit, the spooled audit, gate, explain, policy tests):
open or borrow the registry, fix ``as_of``, compile the policy set once, stream partitions,
evaluate them sequentially or in worker processes, and build the result."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from aigov import __version__
from aigov.compile.compiler import compile_policies
from aigov.compile.rules import CompiledPolicies
from aigov.errors import AigovError, NotFoundError
from aigov.evaluate.facts import Partition, PartitionLoader
from aigov.evaluate.outcomes import (
    PartitionEvaluator,
    PartitionResult,
    policy_catalogue,
)
from aigov.evaluate.session import EngineError
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

PARTITION_CHUNK = 200  # partitions loaded per query batch and handed to a worker at once


def resolve_policies(policies: PolicySet | Iterable[str | Path] | None) -> PolicySet:
    if isinstance(policies, PolicySet):
        return policies
    paths = [Path(p) for p in policies] if policies else None
    return load_policies(paths)


def resolve_models(registry: Registry, models: list[str] | None = None) -> list[str]:
    """Sorted ids of ``models`` (default: every model); unknown ids are an error."""
    with registry.read() as conn:
        ids = PartitionLoader(conn, dt.date.today(), set()).model_ids(models)
    if models is not None:
        unknown = sorted(set(models) - set(ids))
        if unknown:
            raise NotFoundError(f"unknown model(s): {', '.join(unknown)}")
    return ids


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
    ):
        self.policy_set = resolve_policies(policies)
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
            self._evaluator = PartitionEvaluator(self.compiled, self.fail_on)
        return self._evaluator(partition)

    def results(
        self,
        registry: Registry,
        ids: list[str],
        *,
        workers: int = 1,
        progress: Callable[[int], None] | None = None,
        transform: Callable[[PartitionResult], Any] | None = None,
    ) -> Iterator[Any]:
        """Partition results for ``ids``, in id order, sequentially or in worker processes.

        ``transform`` is applied to each result where it is computed (in the worker), so
        that only what the caller keeps crosses the process boundary.
        """
        transform = transform or (lambda result: result)
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


def _worker_chunk(ids: list[str]) -> list[Any]:
    """Evaluate a chunk of models in a worker process (state inherited through fork)."""
    state = _WORKER
    if "evaluate" not in state:
        state["evaluate"] = PartitionEvaluator(state["compiled"], state["fail_on"])
        state["registry"] = open_registry(state["url"])
    transform = state["transform"]
    return [
        transform(state["evaluate"](partition))
        for partition in iter_partitions(state["registry"], state["compiled"], ids)
    ]


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
    chunks in flight (memory stays flat); any failure fails the run, naming the models."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    chunks = [ids[i : i + PARTITION_CHUNK] for i in range(0, len(ids), PARTITION_CHUNK)]
    _WORKER.clear()
    _WORKER.update(url=url, compiled=compiled, fail_on=fail_on, transform=transform)
    context = multiprocessing.get_context("fork")
    pending: deque[tuple[list[str], Future[list[Any]]]] = deque()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            queue = iter(chunks)
            for chunk in queue:
                pending.append((chunk, pool.submit(_worker_chunk, chunk)))
                if len(pending) >= workers * 2:
                    break
            while pending:
                chunk, future = pending.popleft()
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
    finally:
        for _chunk, future in pending:
            future.cancel()
        _WORKER.clear()


def audit(
    registry: Registry | str | None,
    policies: PolicySet | Iterable[str | Path] | None = None,
    as_of: dt.date | None = None,
    models: list[str] | None = None,
    *,
    fail_on: Severity | str = Severity.high,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    registry_digest: bool = False,
) -> AuditResult:
    """Evaluate ``policies`` (a PolicySet, paths, or None for the shipped library) against
    the registry (an open Registry or a database URL) as of ``as_of`` (default: today).

    With ``workers`` > 1, partitions are evaluated in that many processes; the result is
    the same, byte for byte. The result is held in memory; for large registries see
    :func:`audit_to_spool`.
    """
    pipeline = Pipeline(policies, as_of, fail_on=fail_on)
    with pipeline.registry(registry) as reg:
        digest = compute_registry_digest(reg) if registry_digest else None
        ids = pipeline.model_ids(reg, models)
        results = pipeline.results(reg, ids, workers=workers, progress=progress)
        return build_result(pipeline.compiled, results, pipeline.fail_on, digest)


def audit_to_spool(
    registry: Registry,
    policies: PolicySet | Iterable[str | Path] | None = None,
    as_of: dt.date | None = None,
    models: list[str] | None = None,
    *,
    fail_on: Severity | str = Severity.high,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    directory: Path | None = None,
) -> ResultSpool:
    """Like :func:`audit`, with the result spooled to disk (memory stays flat with the
    registry's size). Close the spool when done."""
    pipeline = Pipeline(policies, as_of, fail_on=fail_on)
    spool = ResultSpool(
        as_of=pipeline.as_of,
        fail_on=pipeline.fail_on,
        policy_digest=pipeline.policy_set.digest,
        policies=policy_catalogue(pipeline.policy_set),
        registry_digest=compute_registry_digest(registry),
        directory=directory,
    )
    try:
        ids = pipeline.model_ids(registry, models)
        entries = pipeline.results(
            registry,
            ids,
            workers=workers,
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
