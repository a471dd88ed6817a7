"""Severity and policy family: the vocabulary policies declare and every result carries."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self]


SEVERITY_RANK = {
    Severity.critical: 4,
    Severity.high: 3,
    Severity.medium: 2,
    Severity.low: 1,
    Severity.info: 0,
}


class Family(StrEnum):
    tos = "tos"
    provenance = "provenance"
    lineage = "lineage"
    hosting = "hosting"
    investigation = "investigation"
    regulatory = "regulatory"
    governance = "governance"
