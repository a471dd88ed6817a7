"""Registry records as ``aigov registry list`` and ``registry show`` return them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class RecordSummary(BaseModel):
    kind: str
    id: str
    label: str | None


class Related(BaseModel):
    kind: str
    id: str
    label: str | None = None
    relation: str | None = None
    depth: int | None = None
    via: str | None = None


class RecordView(BaseModel):
    """A record with everything that points to it or that it points to."""

    kind: str
    record: dict[str, Any]
    ancestors: list[Related] = []
    descendants: list[Related] = []
    datasets: list[Related] = []
    deployments: list[Related] = []
    approvals: list[Related] = []
    investigations: list[Related] = []
    waivers: list[Related] = []
    referenced_by: list[Related] = []
