"""What ``aigov policy test`` returns: each case's failures and the outcomes each policy's
tests cover."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CaseResult:
    file: str
    line: int
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class TestReport:
    results: list[CaseResult]
    coverage: dict[str, set[str]]  # policy id -> outcomes its passing expectations cover
    missing_tests: list[str]  # policies lacking a failing or a passing case (--require-tests)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results) and not self.missing_tests
