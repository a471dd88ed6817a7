"""The policy operators: one registry entry per operator.

An entry says what the operator accepts (read by the parser, :mod:`aigov.policy.parser`) and
how it becomes durable-rules expressions on one fact (read by the compiler,
:mod:`aigov.compile.compiler`). Adding an operator is one entry in :data:`OPERATORS`.

The engine forms are pure functions of the engine field name and the operand already in
engine form (dates as day numbers, see ``Compiler.literal``); for a join the operand is the
other pattern's field, ``{pattern: field}``. This module is a leaf: it imports nothing of
the policy AST or of the compiler.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import re2  # type: ignore[import-untyped]  # google-re2: no type information

# engine field, operand in engine form -> the engine expressions testing one fact
EngineForm = Callable[[str, Any], list[dict[str, Any]]]

# How the operand is written: one value of the field's type | a list of 1 to 100 such values
# | true or false (false turns the operator into its ``opposite``) | a regular expression.
OperandShape = Literal["value", "values", "flag", "pattern"]


@dataclass(frozen=True)
class Operator:
    """One policy operator: what the parser accepts and what the compiler emits."""

    field_kinds: tuple[str, ...]  # the field kinds (FieldType.kind) it applies to
    engine: EngineForm
    operand: OperandShape = "value"
    # The operand may be a reference (``{ref: alias.field}``): a join, compiled as the engine
    # form against the other pattern's field, or through membership facts when ``item``.
    refs: bool = False
    # The operand is one item of a list field (compared with the item type); a reference
    # operand is a join inside an array, which the engine cannot do: it becomes a membership
    # fact joined to both records.
    item: bool = False
    # For a join: the operator that holds with the operands swapped (``a lt b`` is ``b gt a``),
    # so the test can go onto the later-bound of the two patterns.
    mirror: str | None = None
    # A join against a missing field aborts the engine (error 311): both patterns also
    # require their field to exist (the comparison would be false anyway).
    guarded_join: bool = False
    # A flag operator's negation as a positive test (exists <-> missing).
    opposite: str | None = None
    # The operator is evaluated by the facts builder (with RE2, :func:`compile_regex`), which
    # stores the result in the field this function names for (engine field, operand); the
    # engine form tests that field.
    computed_field: Callable[[str, str], str] | None = None


def regex_field(fieldname: str, pattern: str) -> str:
    """The computed field holding ``compile_regex(pattern).search(field)`` for a fact."""
    digest = hashlib.sha1(f"{fieldname}\0{pattern}".encode()).hexdigest()[:12]
    return f"re__{digest}"


# RE2 (https://github.com/google/re2/wiki/Syntax) matches in time linear in the text, so no
# pattern can hang an audit. It has no look-around and no backreferences, and it caps
# repetition counts at 1000; a larger count it does not reject but reads as literal text.
MAX_REPEAT = 1000
_REPEAT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors are raised, not logged to stderr


def _repeat_problem(pattern: str) -> str | None:
    """A ``{n}``, ``{n,}``, ``{n,m}`` or ``{,m}`` repetition RE2 would misread, if any."""
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif pattern.startswith("[:", index):  # [:alpha:] inside a class
                end = pattern.find(":]", index + 2)
                index = end + 2 if end >= 0 else index + 1
                continue
        elif char == "[":
            in_class = True
            index += 1
            if pattern.startswith("^", index):
                index += 1
            if pattern.startswith("]", index):  # a literal ']' first in the class
                index += 1
            continue
        elif char == "{" and (repeat := _REPEAT.match(pattern, index)):
            low, comma, high = repeat.groups()
            if not low and comma and high:
                return f"'{repeat.group()}' needs a lower bound: write '{{0,{high}}}'"
            for count in (low, high):
                if count and int(count) > MAX_REPEAT:
                    return (
                        f"repetition count {int(count):,} in '{repeat.group()}' is larger "
                        f"than {MAX_REPEAT}"
                    )
        index += 1
    return None


def compile_regex(pattern: str) -> Any:
    """``pattern`` compiled with RE2 (its ``search`` is what the ``regex`` operator tests).

    Raises ValueError, with what is wrong, for a pattern RE2 cannot run."""
    problem = _repeat_problem(pattern)
    if problem is None:
        try:
            return re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as exc:
            problem = _explain(exc.args[0] if exc.args else exc, pattern)
    raise ValueError(
        f"{problem} (regexes use the RE2 syntax: no look-around, no backreferences, "
        "repetition counts up to 1000)"
    )


def _explain(raw: Any, pattern: str) -> str:
    message = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if any(f"invalid perl operator: {op}" in message for op in ("(?=", "(?!", "(?<")):
        return "look-around ((?=, (?!, (?<=, (?<!) is not supported"
    if ("invalid perl operator: (?P" in message and "(?P=" in pattern) or (
        "invalid escape sequence: \\" in message and message[-1:].isdigit()
    ):
        return f"backreferences are not supported ({message})"
    return message


def _comparison(engine_op: str | None) -> EngineForm:
    if engine_op is None:
        return lambda fieldname, value: [{fieldname: value}]
    return lambda fieldname, value: [{engine_op: {fieldname: value}}]


def _in(fieldname: str, values: Any) -> list[dict[str, Any]]:
    options = [{fieldname: value} for value in values]
    # An $or placed before a join inside one $and disables the join, so the compiler puts
    # disjunctions after joins.
    return [options[0] if len(options) == 1 else {"$or": options}]


def _regex(fieldname: str, pattern: Any) -> list[dict[str, Any]]:
    # durable-rules' own regex automata mis-match (".*retir.*" rejects "retired"), so the
    # facts builder evaluates each pattern with RE2 (compile_regex) and the rule tests the result.
    return [{regex_field(fieldname, pattern): True}]


_SCALARS = ("str", "number", "bool", "date", "any")
_EVERY = ("str", "number", "bool", "date", "list", "any")
_ORDERED = ("number", "date", "any")
_LISTABLE = ("str", "number", "date", "any")


def _ordering(engine_op: str, mirror: str) -> Operator:
    return Operator(_ORDERED, _comparison(engine_op), refs=True, mirror=mirror, guarded_join=True)


OPERATORS: dict[str, Operator] = {
    "eq": Operator(_SCALARS, _comparison(None), refs=True, mirror="eq"),
    "ne": Operator(_SCALARS, _comparison("$neq"), refs=True, mirror="ne", guarded_join=True),
    "in": Operator(_LISTABLE, _in, operand="values"),
    "not_in": Operator(
        _LISTABLE,
        lambda fieldname, values: [{"$neq": {fieldname: value}} for value in values],
        operand="values",
    ),
    "lt": _ordering("$lt", "gt"),
    "le": _ordering("$lte", "ge"),
    "gt": _ordering("$gt", "lt"),
    "ge": _ordering("$gte", "le"),
    "regex": Operator(("str", "any"), _regex, operand="pattern", computed_field=regex_field),
    "exists": Operator(
        _EVERY,
        lambda fieldname, _value: [{"$ex": {fieldname: 1}}],
        operand="flag",
        opposite="missing",
    ),
    "missing": Operator(
        _EVERY,
        lambda fieldname, _value: [{"$nex": {fieldname: 1}}],
        operand="flag",
        opposite="exists",
    ),
    "contains": Operator(
        ("list",),
        lambda fieldname, value: [{"$iany": {fieldname: {"$i": value}}}],
        refs=True,
        item=True,
    ),
}
