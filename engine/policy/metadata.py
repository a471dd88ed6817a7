"""Policy and derivation documents as written: their metadata, validated by pydantic.

Conditions (``subject.where``, ``when``, ``review_if``) stay raw here; the parser
(:mod:`aigov.policy.parser`) turns them into the AST (:mod:`aigov.policy.ast`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aigov.results.severity import Family, Severity


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, StringConstraints(strict=True, min_length=1)]
    section: Annotated[str, StringConstraints(strict=True)] | None = None
    url: Annotated[str, StringConstraints(strict=True, pattern=r"^https?://\S+$")]


PolicyId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")]
FrameworkId = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9-]{0,39}$")]
ControlId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
Alias = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class SubjectDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    alias: Alias | None = Field(default=None, alias="as")
    kind: Literal["model", "deployment", "approval", "waiver"]
    where: Any = None


class RequirementDoc(BaseModel):
    """A conditional ``requires`` entry: ``field`` must be present when ``when`` holds."""

    model_config = ConfigDict(extra="forbid")
    field: Annotated[str, StringConstraints(strict=True)]
    when: Any


class PolicyDoc(BaseModel):
    """A policy as written (metadata validated; conditions still raw)."""

    model_config = ConfigDict(extra="forbid")
    id: PolicyId
    title: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(strict=True, min_length=1)]
    family: Family
    severity: Severity
    references: list[Reference] = []
    remediation: Annotated[str, StringConstraints(strict=True, min_length=1)]
    message: Annotated[str, StringConstraints(strict=True, min_length=1)]
    enabled: bool = True
    tags: list[Annotated[str, StringConstraints(strict=True, min_length=1)]] = []
    # framework id -> the ids of the controls the policy implements (the catalogues are in
    # aigov.results.coverage; the loader checks every id against them)
    controls: dict[FrameworkId, Annotated[list[ControlId], Field(min_length=1)]] = {}
    subject: SubjectDoc
    requires: list[Annotated[str, StringConstraints(strict=True)] | RequirementDoc] = []
    when: Any = None
    review_if: Any = None
    outcome: Literal["fail", "review"] = "fail"
    # staged enforcement: before this date a fail or review is reported at severity info,
    # which does not block (see aigov.evaluate.outcomes.STAGED)
    effective_on: dt.date | None = None
    # a fail resting only on alleged or unverified facts: reported as review (the default),
    # or kept a fail by a policy whose rule holds however weak its facts
    on_weak_facts: Literal["review", "fail"] = "review"


class DerivationDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    description: Annotated[str, StringConstraints(strict=True, min_length=1)]
    fields: dict[Alias, Annotated[str, StringConstraints(strict=True)]]
    when: Any
