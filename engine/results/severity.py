"""Severity and policy family: the vocabulary policies declare and every result carries."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """A policy's severity, from ``critical`` down to ``info``. ``--fail-on`` (default
    ``high``) is the lowest severity whose ``fail`` and ``review`` findings block."""

    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        """4 for ``critical`` down to 0 for ``info``: higher is more severe."""
        return SEVERITY_RANK[self]


SEVERITY_RANK = {
    Severity.critical: 4,
    Severity.high: 3,
    Severity.medium: 2,
    Severity.low: 1,
    Severity.info: 0,
}


class Family(StrEnum):
    """A policy's family: what area of governance it is about (reports count by family)."""

    tos = "tos"
    provenance = "provenance"
    lineage = "lineage"
    hosting = "hosting"
    investigation = "investigation"
    regulatory = "regulatory"
    governance = "governance"
