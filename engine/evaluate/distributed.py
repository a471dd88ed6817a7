"""``aigov audit --executor dask``: partitions evaluated as Dask tasks (``dask.distributed``)
on a cluster (``--scheduler ADDRESS``) or on a ``LocalCluster`` started for the run.

Each task evaluates one chunk of :data:`~aigov.evaluate.pipeline.PARTITION_CHUNK` models in a
worker process that opens its own registry connection and compiles the policy set itself
(compiled rulesets hold durable-rules hosts, which do not pickle): the policy set is shipped
from the driver, compiled once per worker process and kept for the following chunks. The
driver keeps at most two chunks per worker thread in flight and consumes the results in chunk
order, so the output is byte-identical to ``--workers N``.

Failures: a task that raises is retried :data:`RETRIES` time(s) (``retries=`` on submit); a
task whose worker dies is rescheduled by the scheduler up to
``distributed.scheduler.allowed-failures`` times (Dask's default: 3). Past that, or when a
chunk makes no progress for :func:`~aigov.evaluate.pipeline.worker_timeout` seconds, the run
fails with an :class:`~aigov.evaluate.session.EngineError` naming the chunk's models: never a
partial result. Pending tasks are cancelled and the client (and a LocalCluster started here)
closed on every way out.

``distributed`` is imported only here, only when the Dask executor is asked for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import pickle
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from aigov import __version__
from aigov.compile.rules import CompiledPolicies
from aigov.errors import AigovError
from aigov.evaluate.outcomes import PartitionEvaluator, PartitionResult
from aigov.evaluate.session import EngineError
from aigov.policy.ast import TRUE, Policy, PolicySet
from aigov.registry.store import Registry, open_registry
from aigov.results.severity import Severity

if TYPE_CHECKING:
    from distributed import Client, Future

    from aigov.evaluate.pipeline import Pipeline

RETRIES = 1  # reruns of a task that raised (a lost worker is the scheduler's allowed-failures)
INSTALL_HINT = "pip install 'aigov-rules[dask]'"
CONNECT_TIMEOUT = "30s"  # to reach a scheduler given by address


@dataclasses.dataclass(frozen=True)
class Job:
    """What every task of one audit needs, picklable. The policy set travels as
    :func:`_pack_policies` bytes: message templates (jinja2 objects, which do not pickle) as
    their source, rebuilt in the worker."""

    key: str  # the worker's cache key: same key, same compiled policies and connection
    version: str  # the driver's aigov version: a worker running another one refuses
    url: str
    policies: bytes  # _pack_policies
    digest: str
    as_of: dt.date
    fail_on: Severity
    max_evidence: int | None
    transform: Callable[[PartitionResult], Any] | None


def dask_results(
    pipeline: Pipeline,
    registry: Registry,
    ids: list[str],
    *,
    workers: int,
    scheduler: str | None,
    progress: Callable[[int], None] | None,
    transform: Callable[[PartitionResult], Any] | None,
) -> Iterator[Any]:
    """Partition results for ``ids`` in id order, evaluated on a Dask cluster: the one at
    ``scheduler``, or a LocalCluster of ``workers`` single-threaded processes."""
    from aigov.evaluate.pipeline import PARTITION_CHUNK, worker_timeout

    timeout = worker_timeout()
    job = _job(pipeline, _worker_url(registry), transform)
    if not ids:
        return
    chunks = [ids[i : i + PARTITION_CHUNK] for i in range(0, len(ids), PARTITION_CHUNK)]
    with _client(scheduler, workers) as client:
        slots = max(1, sum(client.nthreads().values()))
        pending: deque[tuple[list[str], Future]] = deque()

        def submit(chunk: list[str]) -> None:
            future = client.submit(_evaluate_chunk, job, chunk, pure=False, retries=RETRIES)
            pending.append((chunk, future))

        try:
            queue = iter(chunks)
            for chunk in queue:
                submit(chunk)
                if len(pending) >= 2 * slots:
                    break
            while pending:
                chunk, future = pending.popleft()
                results = _chunk_result(future, chunk, timeout)
                following = next(queue, None)
                if following is not None:
                    submit(following)
                if progress:
                    progress(len(chunk))
                yield from results
        finally:
            if pending:
                with contextlib.suppress(Exception):
                    client.cancel([future for _chunk, future in pending], force=True)


def _chunk_result(future: Future, chunk: list[str], timeout: float) -> list[Any]:
    """The results of one chunk's task, or the error that fails the run, naming its models."""
    from distributed import KilledWorker

    models = f"models {chunk[0]} .. {chunk[-1]}"
    try:
        return list(future.result(timeout=timeout))
    except TimeoutError:
        raise EngineError(
            f"the Dask task for {models} made no progress for {timeout:g} s "
            "(AIGOV_WORKER_TIMEOUT): a worker hangs or the cluster has no free worker"
        ) from None
    except KilledWorker as exc:
        raise EngineError(
            f"Dask workers died while evaluating {models}; the scheduler gave up on the task "
            f"(distributed.scheduler.allowed-failures): {exc}"
        ) from None
    except AigovError:
        raise
    except Exception as exc:
        raise EngineError(
            f"a Dask worker failed on {models} (after {RETRIES} retry): {type(exc).__name__}: {exc}"
        ) from exc


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started (and closed)
    here: ``workers`` processes of one thread each on 127.0.0.1, no dashboard."""
    try:
        import logging

        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise AigovError(
            f"the Dask executor needs dask.distributed ({exc}): {INSTALL_HINT}"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, ValueError) as exc:
            raise AigovError(
                f"cannot reach the Dask scheduler at {scheduler}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # the scheduler's HTTP server (health, metrics) listens anyway: on a free port
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            preload=[__name__],  # dask_setup: the workers ignore Ctrl-C
            silence_logs=logging.ERROR,
        )
    except Exception as exc:  # Dask raises RuntimeError, OSError, TimeoutError ...
        raise AigovError(
            f"could not start a Dask LocalCluster of {workers} workers: {type(exc).__name__}: {exc}"
        ) from None
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _worker_url(registry: Registry) -> str:
    """The registry's URL as a worker opens it: a SQLite file by its absolute path; an
    in-memory SQLite database is no registry a worker can open."""
    from pathlib import Path

    url = registry.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise AigovError(
                "the Dask executor needs a registry the workers can open: a SQLite file or "
                f"PostgreSQL, not {registry.display_url}"
            )
        url = url.set(database=str(Path(database).resolve()))
    return url.render_as_string(hide_password=False)


def _job(pipeline: Pipeline, url: str, transform: Callable[[PartitionResult], Any] | None) -> Job:
    policy_set = pipeline.policy_set
    parts = [policy_set.digest, pipeline.as_of.isoformat(), pipeline.fail_on.value, url]
    key = "\0".join([*parts, str(pipeline.max_evidence)])
    return Job(
        key=key,
        version=__version__,
        url=url,
        policies=_pack_policies(policy_set),
        digest=policy_set.digest,
        as_of=pipeline.as_of,
        fail_on=pipeline.fail_on,
        max_evidence=pipeline.max_evidence,
        transform=transform,
    )


# ----------------------------------------------------------------------------- in the worker


def dask_setup(worker: Any) -> None:
    """Preloaded into a LocalCluster's workers: a Ctrl-C reaches the terminal's whole process
    group, and the driver alone decides what it means (it cancels the tasks and closes the
    cluster), so the workers ignore SIGINT instead of dying with a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# The state of the latest job in this worker process (one at a time: a new job replaces it):
# its key, the compiled evaluator and the registry connection.
_STATE: dict[str, Any] = {}
# A worker with several threads runs tasks concurrently; the engine's sessions are not
# meant to be shared between threads, so one chunk is evaluated at a time per process.
_LOCK = threading.Lock()


def _evaluate_chunk(job: Job, ids: list[str]) -> list[Any]:
    """A task: evaluate the partitions of ``ids`` in this worker process."""
    from aigov.evaluate.pipeline import iter_partitions

    with _LOCK:
        evaluate, compiled, registry = _prepared(job)
        transform = job.transform or (lambda result: result)
        return [
            transform(evaluate(partition)) for partition in iter_partitions(registry, compiled, ids)
        ]


def _prepared(job: Job) -> tuple[PartitionEvaluator, CompiledPolicies, Registry]:
    """This process's evaluator, compiled policies and registry connection for ``job``,
    made on its first chunk; a different job closes the previous connection."""
    if _STATE.get("key") != job.key:
        from aigov.compile.compiler import compile_policies

        if job.version != __version__:
            raise AigovError(
                f"a Dask worker runs aigov {__version__}, the driver {job.version}: install "
                "the same aigov version on every worker"
            )
        previous = _STATE.pop("registry", None)
        _STATE.clear()
        if previous is not None:
            previous.close()
        compiled = compile_policies(_unpack_policies(job.policies, job.digest), job.as_of)
        _STATE.update(
            key=job.key,
            evaluate=PartitionEvaluator(compiled, job.fail_on, job.max_evidence),
            compiled=compiled,
            registry=open_registry(job.url),
        )
    return _STATE["evaluate"], _STATE["compiled"], _STATE["registry"]


class _Pickler(pickle.Pickler):
    """Pickles the shared condition :data:`~aigov.policy.ast.TRUE` by name: the compiler
    tells it apart by identity, which a copy would lose."""

    def persistent_id(self, obj: Any) -> str | None:
        return "TRUE" if obj is TRUE else None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        if pid != "TRUE":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return TRUE


def _pack_policies(policy_set: PolicySet) -> bytes:
    """The policy set's policies (templates stripped) and derivations, pickled."""
    buffer = io.BytesIO()
    # no template, until _unpack_policies rebuilds it
    stripped = [dataclasses.replace(p, template=cast(Any, None)) for p in policy_set.policies]
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump((stripped, policy_set.derivations))
    return buffer.getvalue()


def _unpack_policies(packed: bytes, digest: str) -> PolicySet:
    """The policy set :func:`_pack_policies` packed, templates rebuilt."""
    stripped, derivations = _Unpickler(io.BytesIO(packed)).load()
    policies = [dataclasses.replace(p, template=_message_template(p)) for p in stripped]
    return PolicySet(policies, derivations, digest)


def _message_template(policy: Policy) -> Any:
    """Rebuild a policy's message template from its source, as the loader built it (the
    driver has validated it already, so no check here can fail)."""
    import jinja2
    import jinja2.meta

    from aigov.documents import Document
    from aigov.policy.parser import Context, parse_template

    text = policy.doc.message
    names = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(text))
    ctx = Context(Document(policy.file, None), (), f"policy '{policy.id}'", {})
    template = parse_template(ctx, text, set(names), None)
    if template is None:
        raise EngineError(
            f"policy '{policy.id}': its message template did not compile in the Dask worker: "
            + "; ".join(str(problem) for problem in ctx.problems)
        )
    return template
