"""Registry record schema (v2): the validated interchange models.

Each kind is a validated SQLModel base class (``extra="forbid"``, strict ISO dates); the
storage tables in :mod:`aigov.registry.store` subclass them with ``table=True``, the pattern the
SQLModel documentation gives (table models do not validate, so every record entering the
database passes through one of these classes first).

Nested objects (approval scope, conditions, evidence, clause params) are typed pydantic
models here and JSON columns in the tables.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from sqlalchemy import JSON, String
from sqlmodel import Field, SQLModel

from aigov.errors import shown
from aigov.registry.licences import normalise_licence

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Accept a date or a 'YYYY-MM-DD' string; refuse timestamps, datetimes and free text."""
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date (YYYY-MM-DD), got a date and time")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"invalid date {shown(value)}: {exc}") from None
    raise ValueError(f"invalid date {shown(value)}: expected ISO 8601 YYYY-MM-DD")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]

_PARTIAL_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?")


class PartialDate(str):
    """A date known only to the month (``2025-01``) or the year (``2025``), as sources often
    give a release. Kept as that text; :attr:`first` and :attr:`last` are the first and last
    day of the period. Policies compare it by the rule in docs/policy-language.md ("Dates
    known to the month or year"): a test holds when it holds for every day of the period,
    fails when it holds for none, and is undecided (a ``review``) otherwise."""

    __slots__ = ()

    @property
    def precision(self) -> str:
        return "month" if "-" in self else "year"

    @property
    def first(self) -> dt.date:
        year, _, month = self.partition("-")
        return dt.date(int(year), int(month or 1), 1)

    @property
    def last(self) -> dt.date:
        year, _, month = self.partition("-")
        if not month:
            return dt.date(int(year), 12, 31)
        following = dt.date(int(year) + int(month) // 12, int(month) % 12 + 1, 1)
        return following - dt.timedelta(days=1)


def date_precision(value: dt.date | str) -> str:
    """``day``, ``month`` or ``year``: how precisely a date field's value (a date, a
    :class:`PartialDate` or the ISO text of either) is known."""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return {10: "day", 7: "month"}.get(len(text), "year")


def date_bounds(value: dt.date | str) -> tuple[dt.date, dt.date]:
    """The first and last day a date field's value may be (the same day for a full date);
    ``value`` is a date, a :class:`PartialDate` or the ISO text of either."""
    if isinstance(value, dt.date):
        return value, value
    if isinstance(value, str) and not isinstance(value, PartialDate) and len(value) == 10:
        day = dt.date.fromisoformat(value)
        return day, day
    partial = PartialDate(value)
    return partial.first, partial.last


def _flexible_date(value: Any) -> dt.date | PartialDate:
    """A full date (as :data:`IsoDate`), or a month (``2025-01``) or a year (``2025``; an
    integer too, as YAML reads an unquoted year) as a :class:`PartialDate`."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and not isinstance(text, PartialDate):
        match = _PARTIAL_DATE.fullmatch(text)
        if match:
            year, month = int(match[1]), int(match[2] or 1)
            if year < 1 or not 1 <= month <= 12:
                raise ValueError(f"invalid date {shown(value)}: no such month or year")
            return PartialDate(text)
    if isinstance(value, PartialDate):
        return value
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        day: dt.date = _iso_date(value)
        return day
    raise ValueError(f"invalid date {shown(value)}: expected YYYY-MM-DD, YYYY-MM or YYYY")


def _date_text(value: dt.date | PartialDate) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# A date that may be known to the month or year only: stored and exchanged as its ISO text.
FlexibleDate = Annotated[
    PartialDate,
    PlainValidator(_flexible_date, json_schema_input_type=str),
    PlainSerializer(_date_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$",
            "description": "YYYY-MM-DD, or YYYY-MM / YYYY when known only to the month or year",
        }
    ),
]
# Enum fields are stored as plain text (validated here, not by the database), so a new enum
# value never needs a PostgreSQL ALTER TYPE migration.
TEXT_ENUM = String
RecordId = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+#~-]*$", strict=True
    ),
]


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here so every backend rejects it alike."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL (\\x00) characters")
    return value


# A number field: infinity and NaN (JSON `Infinity`, `NaN`, `1e400`; YAML `.inf`, `.nan`) are
# refused at import, like any other invalid value: no policy can compare them meaningfully,
# and the engine must never see them.
FiniteFloat = Annotated[float, AllowInfNan(False)]


def _finite_param(value: Any) -> Any:
    """A clause parameter that is a number must be one a policy can compare: finite, and (an
    integer) within the range of a float, as the engine compares numbers as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"number must be finite (got {value!r})")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
        raise ValueError("number too large: beyond the range of a float (about 1.8e308)")
    return value


Text = Annotated[str, StringConstraints(strict=True), AfterValidator(_no_nul)]
ShortText = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=20_000), AfterValidator(_no_nul)
]


def _licence_expression(value: str) -> str:
    """A licence in its canonical spelling (``cc-by-nc-4.0`` is stored as ``CC-BY-NC-4.0``),
    so that a policy comparing licences never misses one for its case."""
    try:
        return normalise_licence(value)
    except ValueError as exc:
        raise ValueError(
            f"{exc}: write an SPDX licence expression (MIT, Apache-2.0 OR MIT), a Hugging "
            "Face licence id (llama3.1), LicenseRef-<name> for another licence, or the id of "
            "a terms record"
        ) from None


LicenceText = Annotated[ShortText, AfterValidator(_licence_expression)]


class Confidence(StrEnum):
    """How far a record, or one fact of it, is established.

    ``verified``: checked against the primary source; ``declared``: stated by its maker (the
    default); ``inferred``: concluded from other facts (an importer's guess of a relation);
    ``alleged``: claimed by others (press, a complaint); ``unverified``: found only in a
    secondary listing nobody checked. Policies cap their outcome at ``review`` for a
    ``fail`` that rests on an alleged or unverified fact (:data:`WEAK_CONFIDENCE`).
    """

    declared = "declared"
    verified = "verified"
    alleged = "alleged"
    inferred = "inferred"
    unverified = "unverified"


WEAK_CONFIDENCE = frozenset({Confidence.alleged, Confidence.unverified})


class TermsKind(StrEnum):
    tos = "tos"
    licence = "licence"
    aup = "aup"


class ClauseType(StrEnum):
    prohibits_competing_use_of_outputs = "prohibits_competing_use_of_outputs"
    prohibits_improving_other_llms_except_family = "prohibits_improving_other_llms_except_family"
    prohibits_any_training_on_outputs = "prohibits_any_training_on_outputs"
    prohibits_distillation = "prohibits_distillation"
    permits_training_on_outputs = "permits_training_on_outputs"
    derivative_includes_distillation = "derivative_includes_distillation"
    name_prefix = "name_prefix"
    attribution = "attribution"
    notice_file = "notice_file"
    non_commercial = "non_commercial"
    mau_threshold = "mau_threshold"
    region_restriction = "region_restriction"
    use_restriction_passthrough = "use_restriction_passthrough"
    hosting_is_distribution = "hosting_is_distribution"


class Binds(StrEnum):
    account_holder = "account_holder"
    licensee = "licensee"
    downstream_via_passthrough = "downstream_via_passthrough"


class Weights(StrEnum):
    open = "open"
    gated = "gated"
    closed_api = "closed_api"


class SafetyRisk(StrEnum):
    """A model's assessed safety risk, as SPDX 3's ``ai_safetyRiskAssessment`` grades it (the
    EU AI Act's risk levels)."""

    serious = "serious"
    high = "high"
    medium = "medium"
    low = "low"


class DatasetAvailability(StrEnum):
    """How a dataset can be obtained (SPDX 3's ``dataset_datasetAvailability``)."""

    clickthrough = "clickthrough"
    direct_download = "direct_download"
    query = "query"
    registration = "registration"
    scraping_script = "scraping_script"


class Relation(StrEnum):
    finetune = "finetune"
    adapter = "adapter"
    quantized = "quantized"
    merge = "merge"
    conversion = "conversion"
    continued_pretraining = "continued_pretraining"
    distillation = "distillation"
    trained_on_outputs = "trained_on_outputs"
    trained_on = "trained_on"
    generated_by = "generated_by"
    derived_from = "derived_from"


class Environment(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


class Exposure(StrEnum):
    internal = "internal"
    customer_facing = "customer_facing"
    public_catalog = "public_catalog"


class DeploymentStatus(StrEnum):
    planned = "planned"
    active = "active"
    suspended = "suspended"
    retired = "retired"


class ApprovalStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    conditional = "conditional"
    suspended = "suspended"
    revoked = "revoked"


class ConditionType(StrEnum):
    requires_guardrail = "requires_guardrail"
    max_exposure = "max_exposure"
    excluded_region = "excluded_region"


class EvidenceType(StrEnum):
    red_team = "red_team"
    safety_evaluation = "safety_evaluation"
    security_review = "security_review"
    licence_review = "licence_review"
    transparency_note = "transparency_note"
    other = "other"


class AuthorityType(StrEnum):
    regulator = "regulator"
    court = "court"
    vendor_internal = "vendor_internal"
    platform_partner = "platform_partner"
    media_report = "media_report"


class AllegationType(StrEnum):
    tos_output_misuse = "tos_output_misuse"
    distillation = "distillation"
    ip_infringement = "ip_infringement"
    privacy = "privacy"
    security = "security"
    export_control = "export_control"
    other = "other"


class InvestigationStatus(StrEnum):
    reported = "reported"
    open = "open"
    closed_substantiated = "closed_substantiated"
    closed_unsubstantiated = "closed_unsubstantiated"
    closed_settled = "closed_settled"


class Confirmation(StrEnum):
    rumoured = "rumoured"
    reported = "reported"
    officially_confirmed = "officially_confirmed"
    adjudicated = "adjudicated"


# --------------------------------------------------------------------------- nested objects


class Nested(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Free-form, but only scalars (and lists of text): every number finite, checked before the
# union is tried so that the error names the parameter, not each member of the union.
ParamValue = Annotated[int | float | bool | Text | list[Text], BeforeValidator(_finite_param)]


class Clause(Nested):
    section: ShortText
    type: ClauseType
    quote: Text | None = None
    params: dict[str, ParamValue] = {}
    binds: Binds = Binds.licensee
    ambiguity: Text | None = None
    exceptions: list[Text] = []


class LicenceChange(Nested):
    """The licence in force from a date: a release under one licence, a relicensing."""

    licence: LicenceText
    effective_from: IsoDate
    source: Text | None = None
    confidence: Confidence | None = None


def _sorted_history(history: list[LicenceChange]) -> list[LicenceChange]:
    dates = [change.effective_from for change in history]
    if len(set(dates)) != len(dates):
        raise ValueError("two licence changes take effect on the same date")
    return sorted(history, key=lambda change: change.effective_from)


LicenceHistory = Annotated[list[LicenceChange], AfterValidator(_sorted_history)]


class ApprovalScope(Nested):
    platforms: list[ShortText] = []
    regions: list[ShortText] = []
    environments: list[Environment] = []


class ApprovalCondition(Nested):
    type: ConditionType
    value: ShortText


class EvidenceItem(Nested):
    type: EvidenceType
    ref: ShortText
    date: IsoDate | None = None


# --------------------------------------------------------------------------- record kinds


class FactProvenance(Nested):
    """Where one field's value comes from and how far it is established, when that differs
    from the record's own ``source`` and ``confidence``."""

    confidence: Confidence | None = None
    source: Text | None = None


# Fields about the record itself, which carry no per-fact provenance.
_META_FIELDS = frozenset({"id", "source", "confidence", "provenance", "unknown"})
# The keys of a field written inline with its provenance: ``licence: {value: MIT,
# confidence: unverified, source: URL}``, or ``attributions: {unknown: true, source: URL}``.
_INLINE_KEYS = frozenset({"value", "unknown", "confidence", "source"})


class RecordBase(SQLModel):
    """Fields every record carries."""

    # a dict literal, typed by SQLModel's own model_config (SQLModelConfig, which a pydantic
    # ConfigDict is not); the same dict ConfigDict(...) would give
    model_config = {"extra": "forbid", "validate_default": False}

    id: RecordId = Field(primary_key=True)
    source: Text | None = None
    confidence: Confidence = Field(default=Confidence.declared, sa_type=TEXT_ENUM)
    provenance: dict[str, FactProvenance] = Field(
        default_factory=dict,
        sa_type=JSON,
        description="per-field confidence and source, where they differ from the record's",
    )
    unknown: list[ShortText] = Field(
        default_factory=list,
        sa_type=JSON,
        description="fields known to be unknown (nobody could establish them), as opposed "
        "to fields nobody recorded",
    )

    @model_validator(mode="before")
    @classmethod
    def _inline_provenance(cls, data: Any) -> Any:
        """Move ``field: {value|unknown, confidence, source}`` into ``provenance`` and
        ``unknown``, so that the rest of aigov sees plain values."""
        if not isinstance(data, dict):
            return data
        inline = {
            name: value
            for name, value in data.items()
            if isinstance(value, dict)
            and name not in _META_FIELDS
            and value
            and set(value) <= _INLINE_KEYS
            and ("value" in value) != bool(value.get("unknown"))
        }
        if not inline:
            return data
        data = dict(data)
        provenance = dict(data.get("provenance") or {})
        unknown = list(data.get("unknown") or [])
        for name, value in inline.items():
            if value.get("unknown"):
                del data[name]
                unknown.append(name)
            else:
                data[name] = value["value"]
            facts = {k: v for k, v in value.items() if k in ("confidence", "source")}
            if facts:
                provenance[name] = facts
        data["provenance"], data["unknown"] = provenance, unknown
        return data

    @model_validator(mode="after")
    def _check_provenance(self) -> RecordBase:
        fields = set(type(self).model_fields) - _META_FIELDS
        for name in [*self.provenance, *self.unknown]:
            if name not in fields:
                raise ValueError(
                    f"provenance names {shown(name)}, which is not a field of this record "
                    f"(fields: {', '.join(sorted(fields))})"
                )
        for name in self.unknown:
            info = type(self).model_fields[name]
            if info.is_required():
                raise ValueError(f"'{name}' is required: it cannot be recorded as unknown")
            value = getattr(self, name)
            if value is not None and value != [] and value != info.default:
                raise ValueError(f"'{name}' is recorded as unknown but also has a value")
        if len(set(self.unknown)) != len(self.unknown):
            raise ValueError("'unknown' names a field twice")
        return self


class ProviderBase(RecordBase):
    name: ShortText
    aliases: list[ShortText] = Field(default_factory=list, sa_type=JSON)
    jurisdiction: ShortText | None = None


class TermsBase(RecordBase):
    provider: RecordId = Field(foreign_key="provider.id", index=True)
    kind: TermsKind = Field(sa_type=TEXT_ENUM)
    title: ShortText
    version: ShortText | None = None
    effective_from: FlexibleDate | None = Field(default=None, sa_type=String)
    effective_to: FlexibleDate | None = Field(default=None, sa_type=String)
    url: ShortText | None = None
    clauses: list[Clause] = Field(default_factory=list, sa_type=JSON)


class ModelBase(RecordBase):
    name: ShortText
    provider: RecordId = Field(foreign_key="provider.id", index=True)
    version: ShortText | None = None
    family: ShortText | None = None
    licence: LicenceText | None = Field(
        default=None,
        description="an SPDX licence expression, a Hugging Face licence id or a terms record id",
    )
    licence_history: LicenceHistory = Field(
        default_factory=list,
        sa_type=JSON,
        description="dated licence changes; the one in force at as_of is the model's licence",
    )
    terms: list[RecordId] = Field(
        default_factory=list,
        sa_type=JSON,
        description="terms records it is used under besides its licence (a gated repository's "
        "access conditions, a provider's acceptable-use policy)",
    )
    release_date: FlexibleDate | None = Field(default=None, sa_type=String)
    modality: list[ShortText] = Field(default_factory=list, sa_type=JSON)
    weights: Weights | None = Field(default=None, sa_type=TEXT_ENUM)
    training_compute_flop: FiniteFloat | None = Field(default=None, ge=0)
    is_gpai: bool | None = None
    owner: ShortText | None = None
    distributed: bool | None = Field(
        default=None, description="distributed or made available to third parties"
    )
    attributions: list[ShortText] = Field(
        default_factory=list,
        sa_type=JSON,
        description="notices the model displays, e.g. 'Built with Llama', 'NOTICE file'",
    )
    eu_placed_on_market: FlexibleDate | None = Field(default=None, sa_type=String)
    commission_notified_at: IsoDate | None = None
    copyright_policy_url: ShortText | None = None
    training_summary_url: ShortText | None = None
    systemic_risk_evidence: list[EvidenceItem] = Field(default_factory=list, sa_type=JSON)
    tags: list[ShortText] = Field(default_factory=list, sa_type=JSON)
    description: Text | None = None
    safety_risk_assessment: SafetyRisk | None = Field(
        default=None, sa_type=TEXT_ENUM, description="the assessed safety risk (SPDX 3 AI)"
    )
    standard_compliance: list[ShortText] = Field(
        default_factory=list, sa_type=JSON, description="standards it is stated to comply with"
    )
    autonomy_type: bool | None = Field(
        default=None, description="whether it acts without a human in the loop (SPDX 3 AI)"
    )
    domain: list[ShortText] = Field(
        default_factory=list, sa_type=JSON, description="domains it is meant for (SPDX 3 AI)"
    )


class LineageBase(RecordBase):
    # ids are optional in files: "<child>~<relation>~<parent>" is used when absent.
    id: RecordId = Field(default="", primary_key=True)
    child: RecordId = Field(foreign_key="registry_object.id", index=True)
    parent: RecordId = Field(foreign_key="registry_object.id", index=True)
    relation: Relation = Field(sa_type=TEXT_ENUM)
    evidence: Text | None = None
    performed_by: RecordId | None = Field(
        default=None,
        foreign_key="provider.id",
        description="the provider that made this step (ran the distillation, the fine-tune)",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            child, rel, parent = data.get("child"), data.get("relation"), data.get("parent")
            if all(isinstance(v, str) and v for v in (child, rel, parent)):
                data = {**data, "id": f"{child}~{rel}~{parent}"}
        return data


class DatasetBase(RecordBase):
    name: ShortText
    licences: list[LicenceText] = Field(default_factory=list, sa_type=JSON)
    licence_history: LicenceHistory = Field(
        default_factory=list,
        sa_type=JSON,
        description="dated licence changes; the one in force at as_of is the dataset's licence",
    )
    synthetic: bool | None = None
    url: ShortText | None = None
    description: Text | None = None
    creator: RecordId | None = Field(
        default=None,
        foreign_key="provider.id",
        index=True,
        description="the provider that created or published the dataset",
    )
    tags: list[ShortText] = Field(default_factory=list, sa_type=JSON)
    availability: DatasetAvailability | None = Field(
        default=None, sa_type=TEXT_ENUM, description="how it can be obtained (SPDX 3 Dataset)"
    )
    sensitive_personal_information: bool | None = Field(
        default=None, description="whether it holds sensitive personal information"
    )


class DatasetRecord(DatasetBase):
    """A dataset as written in registry files. ``generators`` and ``sources`` are stored as
    ``generated_by`` / ``derived_from`` links (table ``dataset_link``), so that lineage
    queries see one graph."""

    generators: list[RecordId] = Field(
        default_factory=list, description="models whose outputs generated it"
    )
    sources: list[RecordId] = Field(default_factory=list, description="datasets it is derived from")


# The region of a catalogue listing or endpoint that has none (a global endpoint). An
# approval covers it when its scope's regions name it.
GLOBAL_REGION = "global"


class DeploymentBase(RecordBase):
    model: RecordId = Field(foreign_key="model.id", index=True)
    platform: ShortText
    region: ShortText = Field(
        default=GLOBAL_REGION,
        description=f"'{GLOBAL_REGION}' (the default) for a listing without a region",
    )
    environment: Environment = Field(sa_type=TEXT_ENUM)
    exposure: Exposure = Field(default=Exposure.internal, sa_type=TEXT_ENUM)
    status: DeploymentStatus = Field(default=DeploymentStatus.active, sa_type=TEXT_ENUM)
    guardrails: list[ShortText] = Field(default_factory=list, sa_type=JSON)
    approval: RecordId | None = Field(default=None, foreign_key="approval.id", index=True)
    started_at: IsoDate | None = None
    owner: ShortText | None = None


class ApprovalBase(RecordBase):
    model: RecordId = Field(foreign_key="model.id", index=True)
    scope: ApprovalScope = Field(default_factory=ApprovalScope, sa_type=JSON)
    approver: ShortText
    granted_at: IsoDate
    expires_at: IsoDate | None = None
    status: ApprovalStatus = Field(default=ApprovalStatus.approved, sa_type=TEXT_ENUM)
    conditions: list[ApprovalCondition] = Field(default_factory=list, sa_type=JSON)
    evidence: list[EvidenceItem] = Field(default_factory=list, sa_type=JSON)
    acknowledged_investigations: list[RecordId] = Field(default_factory=list, sa_type=JSON)


class InvestigationBase(RecordBase):
    subject: RecordId = Field(foreign_key="registry_object.id", index=True)
    authority: ShortText
    authority_type: AuthorityType = Field(sa_type=TEXT_ENUM)
    allegation: ShortText
    allegation_type: AllegationType = Field(default=AllegationType.other, sa_type=TEXT_ENUM)
    status: InvestigationStatus = Field(sa_type=TEXT_ENUM)
    opened_at: IsoDate
    closed_at: IsoDate | None = None
    confirmation: Confirmation = Field(default=Confirmation.reported, sa_type=TEXT_ENUM)


class WaiverBase(RecordBase):
    policy: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=200), AfterValidator(_no_nul)
    ]
    subject: RecordId = Field(foreign_key="registry_object.id", index=True)
    reason: ShortText
    approved_by: ShortText
    granted_at: IsoDate
    expires_at: IsoDate
    ticket: ShortText | None = None


@dataclass(frozen=True)
class Reference:
    """A field that names another record: which kinds it may name, and whether it is a list."""

    field: str
    kinds: tuple[str, ...]
    many: bool = False


@dataclass(frozen=True)
class KindSpec:
    name: str
    section: str  # the key that holds a list of these records in a registry file
    record: type[RecordBase]  # the validated interchange model
    references: tuple[Reference, ...] = ()
    label_field: str | None = "name"


ANY_SUBJECT = ("provider", "model", "dataset")

# Import order: every kind after the kinds it references (foreign keys are checked per row).
KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec("provider", "providers", ProviderBase),
        KindSpec("terms", "terms", TermsBase, (Reference("provider", ("provider",)),), "title"),
        KindSpec(
            "model",
            "models",
            ModelBase,
            (Reference("provider", ("provider",)), Reference("terms", ("terms",), many=True)),
        ),
        KindSpec(
            "dataset",
            "datasets",
            DatasetRecord,
            (
                Reference("creator", ("provider",)),
                Reference("generators", ("model",), many=True),
                Reference("sources", ("dataset",), many=True),
            ),
        ),
        KindSpec(
            "lineage",
            "lineage",
            LineageBase,
            (
                Reference("child", ("model", "dataset")),
                Reference("parent", ("model", "dataset")),
                Reference("performed_by", ("provider",)),
            ),
            None,
        ),
        KindSpec(
            "investigation",
            "investigations",
            InvestigationBase,
            (Reference("subject", ANY_SUBJECT),),
            "authority",
        ),
        KindSpec(
            "approval",
            "approvals",
            ApprovalBase,
            (
                Reference("model", ("model",)),
                Reference("acknowledged_investigations", ("investigation",), many=True),
            ),
            "approver",
        ),
        KindSpec(
            "deployment",
            "deployments",
            DeploymentBase,
            (Reference("model", ("model",)), Reference("approval", ("approval",))),
            "platform",
        ),
        KindSpec(
            "waiver",
            "waivers",
            WaiverBase,
            (
                Reference(
                    "subject",
                    ("provider", "terms", "model", "dataset", "deployment", "approval"),
                ),
            ),
            "policy",
        ),
    )
}
SECTIONS: dict[str, KindSpec] = {spec.section: spec for spec in KINDS.values()}

# Which (child kind, parent kind) pairs each lineage relation accepts.
RELATION_KINDS: dict[Relation, tuple[tuple[str, str], ...]] = {
    Relation.finetune: (("model", "model"), ("model", "dataset")),
    Relation.adapter: (("model", "model"),),
    Relation.quantized: (("model", "model"),),
    Relation.merge: (("model", "model"),),
    Relation.conversion: (("model", "model"),),
    Relation.continued_pretraining: (("model", "model"), ("model", "dataset")),
    Relation.distillation: (("model", "model"),),
    Relation.trained_on_outputs: (("model", "model"), ("dataset", "model")),
    Relation.trained_on: (("model", "dataset"),),
    Relation.generated_by: (("dataset", "model"),),
    Relation.derived_from: (("dataset", "dataset"),),
}
