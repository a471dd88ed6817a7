"""The fact schema: which fact types the engine sees and the type of every field.

Policies are checked against this schema when they load, so a misspelt field
(``deployment.enviroment``), a value outside an enum (``environment: production``) or a
date compared with a number is an error naming the policy file and line, not a rule that
silently never fires. The facts builder (:mod:`aigov.evaluate.facts`) produces exactly these fields.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel

from aigov.errors import AigovError
from aigov.registry.licences import LicenceClass
from aigov.registry.records import (
    KINDS,
    ApprovalCondition,
    Clause,
    Confidence,
    EvidenceItem,
    PartialDate,
    RecordBase,
)


@dataclass(frozen=True)
class FieldType:
    """``kind`` is one of str, number, bool, date, list, any; lists have an ``item`` type."""

    kind: str
    enum: tuple[str, ...] | None = None
    item: FieldType | None = None
    # a licence expression: policy literals are compared in their canonical spelling
    licence: bool = False
    # a date that may be known to the month or year only (aigov.registry.records.PartialDate):
    # the compiler tests it by its first and last possible day
    partial: bool = False

    def describe(self) -> str:
        if self.kind == "list" and self.item:
            return f"list of {self.item.describe()}"
        if self.enum:
            return f"one of {', '.join(self.enum)}"
        return self.kind


STR = FieldType("str")
NUMBER = FieldType("number")
BOOL = FieldType("bool")
DATE = FieldType("date")
PARTIAL_DATE = FieldType("date", partial=True)
PRECISION = FieldType("str", enum=("day", "month", "year"))
# The engine field holding the last possible day of a partial-date field (the field itself
# holds the first), and the policy field giving its precision.
LAST_DAY = "__last"
PRECISION_SUFFIX = "_precision"
ANY = FieldType("any")


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...]."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _field_type(annotation: Any) -> FieldType:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is list:
        return FieldType("list", item=_field_type(typing.get_args(annotation)[0]))
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return FieldType("str", enum=tuple(str(m.value) for m in annotation))
        if issubclass(annotation, bool):
            return BOOL
        if issubclass(annotation, int | float):
            return NUMBER
        if issubclass(annotation, dt.date):
            return DATE
        if issubclass(annotation, PartialDate):
            return PARTIAL_DATE
        if issubclass(annotation, str):
            return STR
    return ANY


def _fields_of(
    model: type[BaseModel], skip: AbstractSet[str] = frozenset()
) -> dict[str, FieldType]:
    """Flattened field types (nested objects become ``outer.inner``)."""
    out: dict[str, FieldType] = {}
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        annotation = _unwrap(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub, sub_type in _fields_of(annotation).items():
                out[f"{name}.{sub}"] = sub_type
        elif typing.get_origin(annotation) is dict:
            out[f"{name}.*"] = ANY
        else:
            out[name] = _field_type(info.annotation)
    return out


# Nested lists of objects become child facts of their own type, linked by a parent field.
CHILD_FACTS: dict[tuple[str, str], tuple[str, str, type[BaseModel]]] = {
    ("terms", "clauses"): ("clause", "terms", Clause),
    ("approval", "conditions"): ("approval_condition", "approval", ApprovalCondition),
    ("approval", "evidence"): ("approval_evidence", "approval", EvidenceItem),
    ("model", "systemic_risk_evidence"): ("model_evidence", "model", EvidenceItem),
}

LICENCE_CLASS = _field_type(LicenceClass)

# Fields the facts builder computes (documented in docs/policy-language.md).
COMPUTED: dict[str, dict[str, FieldType]] = {
    "model": {
        "licence_class": LICENCE_CLASS,
        "licence_rank": NUMBER,
        "licence_terms": STR,
    },
    "dataset": {
        "licence_class": LICENCE_CLASS,
        "licence_rank": NUMBER,
    },
    "waiver": {"expired": BOOL},
    "clause": {"provider": STR, "index": NUMBER},
}

EXTRA_FACTS: dict[str, dict[str, FieldType]] = {
    "lineage_cycle": {"model": STR, "nodes": FieldType("list", item=STR)},
}


CONFIDENCE = _field_type(Confidence)
# Per-fact confidence: ``confidence_of.<field>`` is the field's own confidence (its
# ``provenance`` entry) or else the record's. The facts builder sets it for every field
# that has a value; a policy reads it like any field (``confidence_of.licence: {in: [...]}``).
CONFIDENCE_OF = "confidence_of"
# Fields about the record itself, with no confidence of their own (``provenance`` is read
# through ``confidence_of``).
RECORD_META = frozenset({"id", "source", "confidence", "provenance", "unknown"})
# Record fields the engine never sees: per-field provenance (read as ``confidence_of``) and
# licence histories (the licence in force at ``as_of`` is the record's licence; messages and
# evidence still show the history).
NOT_FACTS = frozenset({"provenance", "licence_history"})


def _record_fields(kind: str, record: type[RecordBase]) -> dict[str, FieldType]:
    skip = {name for (k, name) in CHILD_FACTS if k == kind} | NOT_FACTS
    fields = _fields_of(record, skip)
    for name in list(record.model_fields):
        if name not in RECORD_META | NOT_FACTS:
            fields[f"{CONFIDENCE_OF}.{name}"] = CONFIDENCE
    for name, ftype in list(fields.items()):
        if ftype.partial:
            fields[f"{name}{PRECISION_SUFFIX}"] = PRECISION
    fields.update(COMPUTED.get(kind, {}))
    return fields


def build_schema() -> dict[str, dict[str, FieldType]]:
    schema: dict[str, dict[str, FieldType]] = {}
    for kind, spec in KINDS.items():
        schema[kind] = _record_fields(kind, spec.record)
    for (_kind, _field), (fact, parent, model) in CHILD_FACTS.items():
        fields = {"id": STR, parent: STR}
        fields.update(_fields_of(model))
        fields.update(COMPUTED.get(fact, {}))
        schema[fact] = fields
    schema.update(EXTRA_FACTS)
    return schema


# The fields holding licence expressions (stored in canonical spelling, see
# aigov.registry.licences), whose policy literals the parser normalises the same way.
LICENCE_FIELDS = {("model", "licence"), ("dataset", "licences")}


def _mark_licence_fields(schema: dict[str, dict[str, FieldType]]) -> None:
    for kind, name in LICENCE_FIELDS:
        ftype = schema[kind][name]
        if ftype.item is not None:
            item = FieldType(ftype.item.kind, licence=True)
            schema[kind][name] = FieldType(ftype.kind, item=item)
        else:
            schema[kind][name] = FieldType(ftype.kind, licence=True)


FACT_SCHEMA: dict[str, dict[str, FieldType]] = build_schema()
_mark_licence_fields(FACT_SCHEMA)


def lookup(fields: dict[str, FieldType], path: str) -> FieldType | None:
    """The type of a (possibly nested) field path, honouring ``params.*`` wildcards."""
    if path in fields:
        return fields[path]
    head, _, _rest = path.partition(".")
    if f"{head}.*" in fields and _rest:
        return fields[f"{head}.*"]
    return None


def engine_field(path: str) -> str:
    """The name a field has inside engine facts: ``id`` is stored as ``key`` (durable-rules
    reads freed memory when a join references ``id``), nested paths use ``__``."""
    if path == "id":
        return "key"
    return path.replace(".", "__")


# The engine's integers are C ``long long`` (read with ``atoll``/``atol``, which saturate).
ENGINE_INT_MIN, ENGINE_INT_MAX = -(2**63), 2**63 - 1


def engine_number(value: Any) -> Any:
    """A number (or a list of them) in the form the engine compares as Python does.

    Floats are passed on unchanged: the evaluator writes every float with a decimal point
    (``aigov.evaluate.session.engine_json``; durable-rules reads an exponent only after
    one, A3), so the engine reads exactly the double it was given, subnormals and the
    extremes included. Integers that fit the engine's 64 bits are passed on unchanged (exact;
    the engine compares an integer with a float as doubles); larger ones become the nearest
    float, as a JSON reader would read them. NaN, infinities and integers beyond the float
    range are refused: the engine's comparisons with them are meaningless, and they must
    never reach it from any path (a fact, a policy literal, a clause parameter).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AigovError(
                f"the number {value!r} is not finite: the rules engine cannot compare it"
            )
        return value
    if isinstance(value, int):
        if ENGINE_INT_MIN <= value <= ENGINE_INT_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            raise AigovError(
                f"an integer of {value.bit_length():,} bits is too large for the rules engine "
                "(beyond the range of a double)"
            ) from None
    if isinstance(value, list):
        return [engine_number(v) for v in value]
    return value
