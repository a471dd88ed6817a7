"""Audit results without holding them in memory.

An audit of 100,000 models produces hundreds of thousands of findings; keeping them as
objects would make memory grow with the registry. The spool writes each model's result to
JSON-lines files as partitions finish (in model order, so the output stays deterministic)
and keeps only aggregates in memory. Writers that stream (the JSON report, the text summary,
the run recorder) read it back one record at a time; the others ask for the materialised
:class:`AuditResult`.

:class:`ResultView` is what both an in-memory ``AuditResult`` and a spool offer.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from aigov import __version__
from aigov.results.findings import (
    OUTCOME_ORDER,
    AuditResult,
    BaselineSummary,
    DiffEntry,
    Finding,
    InvestigationInfo,
    ModelResult,
    Outcome,
    PolicyInfo,
    RunInfo,
    WaiverInfo,
)
from aigov.results.severity import Severity


class ResultView(Protocol):
    """The audit result as the streaming writers read it."""

    # read-only members: the writers only read them, and a spool computes some of them
    @property
    def tool_version(self) -> str: ...

    @property
    def as_of(self) -> dt.date: ...

    @property
    def fail_on(self) -> Severity: ...

    @property
    def policy_digest(self) -> str: ...

    @property
    def registry_digest(self) -> str | None: ...

    @property
    def run(self) -> RunInfo | None: ...

    @property
    def counts(self) -> dict[Outcome, int]: ...

    @property
    def policies(self) -> list[PolicyInfo]: ...

    @property
    def waivers(self) -> list[WaiverInfo]: ...

    @property
    def investigations(self) -> list[InvestigationInfo]: ...

    @property
    def changes(self) -> list[DiffEntry] | None: ...

    @property
    def since(self) -> str | None: ...

    @property
    def baseline(self) -> BaselineSummary | None: ...

    def iter_models(self) -> Iterator[ModelResult]: ...

    def iter_findings(self) -> Iterator[Finding]: ...

    def model_lines(self) -> Iterator[str]:
        """Each model as compact JSON (what ModelResult.model_dump_json gives)."""
        ...

    def finding_lines(self) -> Iterator[str]: ...

    def result(self) -> AuditResult: ...


class MemoryView:
    """A :class:`ResultView` over an AuditResult already in memory."""

    def __init__(self, result: AuditResult):
        self._result = result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def iter_models(self) -> Iterator[ModelResult]:
        return iter(self._result.models)

    def iter_findings(self) -> Iterator[Finding]:
        return iter(self._result.findings)

    def model_lines(self) -> Iterator[str]:
        return (m.model_dump_json() for m in self._result.models)

    def finding_lines(self) -> Iterator[str]:
        return (f.model_dump_json() for f in self._result.findings)

    def result(self) -> AuditResult:
        return self._result


def as_view(source: AuditResult | ResultView) -> ResultView:
    return MemoryView(source) if isinstance(source, AuditResult) else source


class Totals:
    """What an audit's partitions add up to beside the per-model lines: outcome counts, the
    waivers, and the investigations merged across the models they touch."""

    def __init__(self) -> None:
        self.counts: dict[Outcome, int] = {o: 0 for o in OUTCOME_ORDER}
        self._waivers: dict[str, WaiverInfo] = {}
        self._investigations: dict[str, InvestigationInfo] = {}

    def add(
        self,
        outcomes: Iterable[Outcome],
        waivers: Iterable[WaiverInfo],
        investigations: Iterable[InvestigationInfo],
    ) -> None:
        for outcome in outcomes:
            self.counts[outcome] += 1
        for waiver in waivers:
            self._waivers[waiver.id] = waiver
        for inv in investigations:
            known = self._investigations.setdefault(
                inv.id, inv.model_copy(update={"models": [], "hosted_models": []})
            )
            known.models += inv.models
            known.hosted_models += inv.hosted_models

    @property
    def waivers(self) -> list[WaiverInfo]:
        return [self._waivers[k] for k in sorted(self._waivers)]

    @property
    def investigations(self) -> list[InvestigationInfo]:
        return [
            inv.model_copy(
                update={"models": sorted(inv.models), "hosted_models": sorted(inv.hosted_models)}
            )
            for _key, inv in sorted(self._investigations.items())
        ]


@dataclass
class SpoolEntry:
    """One model's result, serialised where it was computed (a worker process)."""

    model_id: str
    model_name: str
    model_line: str
    finding_lines: list[str]
    outcomes: list[Outcome]
    by_severity: Counter[tuple[Outcome, Severity]]
    blocking: int
    waivers: list[WaiverInfo]
    investigations: list[InvestigationInfo]


class ResultSpool:
    """Collects partition results on disk; a :class:`ResultView` once :meth:`close` d."""

    def __init__(
        self,
        *,
        as_of: dt.date,
        fail_on: Severity,
        policy_digest: str,
        policies: list[PolicyInfo],
        registry_digest: str | None = None,
        directory: Path | None = None,
    ):
        self._dir = Path(directory or tempfile.mkdtemp(prefix="aigov-spool-"))
        self._own_dir = directory is None
        self._models: IO[str] = open(self._dir / "models.jsonl", "w+", encoding="utf-8")  # noqa: SIM115
        self._findings: IO[str] = open(self._dir / "findings.jsonl", "w+", encoding="utf-8")  # noqa: SIM115
        self.tool_version = __version__
        self.as_of = as_of
        self.fail_on = fail_on
        self.policy_digest = policy_digest
        self.registry_digest = registry_digest
        self.run: RunInfo | None = None
        self.totals = Totals()
        self.policies = policies
        self.changes: list[DiffEntry] | None = None
        self.since: str | None = None
        self.baseline: BaselineSummary | None = None
        self.model_count = 0
        self.finding_count = 0
        self.by_severity: Counter[tuple[Outcome, Severity]] = Counter()
        self.blocked: list[tuple[str, str, int]] = []  # (model, name, blocking findings)
        self._last_model = ""
        self._result: AuditResult | None = None

    # -- collecting ----------------------------------------------------------------

    def add(self, entry: SpoolEntry) -> None:
        if entry.model_id <= self._last_model:
            raise ValueError("partition results must arrive in model order")
        self._last_model = entry.model_id
        self._models.write(entry.model_line + "\n")
        self.model_count += 1
        for line in entry.finding_lines:
            self._findings.write(line + "\n")
        self.finding_count += len(entry.finding_lines)
        self.by_severity.update(entry.by_severity)
        if entry.blocking:
            self.blocked.append((entry.model_id, entry.model_name, entry.blocking))
        self.totals.add(entry.outcomes, entry.waivers, entry.investigations)

    def extend(self, entries: Iterable[SpoolEntry]) -> ResultSpool:
        for entry in entries:
            self.add(entry)
        self._models.flush()
        self._findings.flush()
        return self

    # -- reading -------------------------------------------------------------------

    def count_at_or_above(self, outcomes: tuple[Outcome, ...], severity: Severity) -> int:
        return sum(
            n for (o, s), n in self.by_severity.items() if o in outcomes and s.rank >= severity.rank
        )

    @property
    def counts(self) -> dict[Outcome, int]:
        return self.totals.counts

    @property
    def waivers(self) -> list[WaiverInfo]:
        return self.totals.waivers

    @property
    def investigations(self) -> list[InvestigationInfo]:
        return self.totals.investigations

    def _lines(self, handle: IO[str]) -> Iterator[str]:
        handle.flush()
        with open(handle.name, encoding="utf-8") as reader:
            yield from reader

    def iter_models(self) -> Iterator[ModelResult]:
        for line in self._lines(self._models):
            yield ModelResult.model_validate_json(line)

    def iter_findings(self) -> Iterator[Finding]:
        for line in self._lines(self._findings):
            yield Finding.model_validate_json(line)

    def model_lines(self) -> Iterator[str]:
        return self._lines(self._models)

    def finding_lines(self) -> Iterator[str]:
        return self._lines(self._findings)

    def result(self) -> AuditResult:
        """Everything in memory (for renderers that need random access); built once."""
        if self._result is None:
            self._result = self._materialise()
        return self._result

    def _materialise(self) -> AuditResult:
        return AuditResult(
            tool_version=self.tool_version,
            as_of=self.as_of,
            fail_on=self.fail_on,
            policy_digest=self.policy_digest,
            registry_digest=self.registry_digest,
            run=self.run,
            counts=self.counts,
            policies=self.policies,
            models=list(self.iter_models()),
            findings=list(self.iter_findings()),
            waivers=self.waivers,
            investigations=self.investigations,
            changes=self.changes,
            since=self.since,
            baseline=self.baseline,
        )

    def close(self) -> None:
        self._models.close()
        self._findings.close()
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ResultSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
