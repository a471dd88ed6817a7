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

import functools
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
    # A text operator: the RE2 pattern a string operand stands for (see :func:`text_pattern`).
    # A literal operand on a string field is evaluated by the facts builder as that pattern;
    # a reference operand (and ``ignore_case``, which the engine cannot do) by the host on
    # each match (:func:`host_holds`).
    text: Callable[[str], str] | None = None
    # ``ignore_case: true`` may qualify the operator (text operators and list membership).
    folds: bool = False
    # A reference operand is always tested by the host, never by the engine (the engine
    # cannot compare a string with part of another fact's string, nor two lists).
    host: bool = False
    # The operator holds when its pattern does not match (``ne``, ``not_in``), on a present
    # field.
    negative: bool = False


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


def _anchored(text: str) -> str:
    return rf"\A(?:{re.escape(text)})\z"


TEXT_FORMS: dict[str, Callable[[str], str]] = {
    "eq": _anchored,
    "ne": _anchored,
    "in": _anchored,
    "not_in": _anchored,
    "prefix": lambda text: rf"\A{re.escape(text)}",
    "suffix": lambda text: rf"{re.escape(text)}\z",
    "contains": re.escape,
    "regex": lambda pattern: pattern,
}
"""Each text operator's RE2 pattern for one string operand: the one definition of what
``eq``/``prefix``/``suffix``/``contains`` on strings (and ``ignore_case``) mean, used by
the facts builder for literals and by the host for references."""


def text_pattern(op: str, operand: str | tuple[str, ...], ignore_case: bool) -> str:
    """The RE2 pattern of ``op`` with a literal operand (several for ``in``/``not_in``)."""
    form = TEXT_FORMS[op]
    items = operand if isinstance(operand, tuple) else (operand,)
    body = "|".join(f"(?:{form(str(item))})" for item in items)
    return f"(?i:{body})" if ignore_case else body


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    return compile_regex(pattern)


def as_text(value: Any) -> str | None:
    """A fact value as the text operators read it (as the facts builder does: ``str``), or
    None for a list or an object."""
    return None if isinstance(value, list | dict) else str(value)


def host_holds(op: str, value: Any, operand: Any, ignore_case: bool) -> bool:
    """``value <op> operand`` for two present values, evaluated by the host (a reference
    operand, already read from the other fact). Raises ValueError for a ``regex`` whose
    pattern (from the data) RE2 cannot compile."""
    if op in ("contains", "intersects", "contains_all") and isinstance(value, list):
        wanted = [operand] if op == "contains" else operand
        if not isinstance(wanted, list):
            return False
        quantifier = all if op == "contains_all" else any
        if not ignore_case:
            return quantifier(item in value for item in wanted)
        texts = [t for t in map(as_text, value) if t is not None]
        return quantifier(
            want is not None
            and any(_compiled(text_pattern("eq", want, True)).search(t) is not None for t in texts)
            for want in map(as_text, wanted)
        )
    if op in ("in", "not_in"):
        if not isinstance(operand, list):
            return False
        if ignore_case:
            text = as_text(value)
            found = text is not None and any(
                _compiled(text_pattern("eq", o, True)).search(text) is not None
                for o in map(as_text, operand)
                if o is not None
            )
        else:
            found = value in operand
        return found == (op == "in")
    if not ignore_case and op in ("eq", "ne"):
        return (value == operand) == (op == "eq")
    text, other = as_text(value), as_text(operand)
    if text is None or other is None:
        return False
    if op == "regex":
        pattern = f"(?i:{other})" if ignore_case else other
        try:
            compiled = _compiled(pattern)
        except ValueError as exc:
            raise ValueError(f"invalid regex {other!r} (read from the data): {exc}") from None
    else:
        compiled = _compiled(text_pattern(op, other, ignore_case))
    return (compiled.search(text) is not None) != OPERATORS[op].negative


def literal_pattern(
    op: str, field_kind: str, operand: Any, ignore_case: bool
) -> tuple[str, bool] | None:
    """For a test with a literal operand the facts builder evaluates: (its RE2 pattern, the
    result that makes the test hold), else None. These are ``regex``, the string forms of
    ``prefix``/``suffix``/``contains``, and ``eq``/``ne``/``in``/``not_in`` with
    ``ignore_case`` (the engine compares strings exactly)."""
    operator = OPERATORS[op]
    if operator.text is None or (op == "contains" and field_kind == "list"):
        return None
    if op == "regex":
        return (f"(?i:{operand})" if ignore_case else operand), True
    if op in ("eq", "ne", "in", "not_in") and not ignore_case:
        return None
    return text_pattern(op, operand, ignore_case), not operator.negative


def host_test(op: str, field_kind: str, by_reference: bool, ignore_case: bool) -> bool:
    """Whether the host evaluates the test on each match (see :func:`host_holds`): what the
    engine cannot compare - a reference operand of a text operator, of ``in``/``not_in`` or
    with ``ignore_case``, a substring of another fact's field, and list-against-list tests."""
    operator = OPERATORS[op]
    if op in ("intersects", "contains_all"):
        return True
    if op == "contains":
        return (field_kind != "list" and by_reference) or (field_kind == "list" and ignore_case)
    return by_reference and (operator.host or ignore_case)


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


_TEXT = ("str", "any")


def _text(op: str) -> Operator:
    return Operator(_TEXT, _regex, refs=True, host=True, text=TEXT_FORMS[op], folds=True)


def _host_only(fieldname: str, _value: Any) -> list[dict[str, Any]]:
    raise AssertionError(f"a list-against-list test of {fieldname} is evaluated by the host")


def _list_against_list() -> Operator:
    """A test of a list field against a list of values: the engine cannot compare two lists,
    so the host evaluates it on each match (see host_test)."""
    return Operator(
        ("list",), _host_only, operand="values", refs=True, item=True, host=True, folds=True
    )


OPERATORS: dict[str, Operator] = {
    "eq": Operator(_SCALARS, _comparison(None), refs=True, mirror="eq", text=_anchored, folds=True),
    "ne": Operator(
        _SCALARS,
        _comparison("$neq"),
        refs=True,
        mirror="ne",
        guarded_join=True,
        text=_anchored,
        folds=True,
        negative=True,
    ),
    "in": Operator(
        _LISTABLE, _in, operand="values", refs=True, host=True, text=_anchored, folds=True
    ),
    "not_in": Operator(
        _LISTABLE,
        lambda fieldname, values: [{"$neq": {fieldname: value}} for value in values],
        operand="values",
        refs=True,
        host=True,
        text=_anchored,
        folds=True,
        negative=True,
    ),
    "lt": _ordering("$lt", "gt"),
    "le": _ordering("$lte", "ge"),
    "gt": _ordering("$gt", "lt"),
    "ge": _ordering("$gte", "le"),
    "regex": Operator(
        _TEXT,
        _regex,
        operand="pattern",
        refs=True,
        host=True,
        text=TEXT_FORMS["regex"],
        folds=True,
    ),
    "prefix": _text("prefix"),
    "suffix": _text("suffix"),
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
    # on a list: membership (a reference operand is a join through membership facts); on a
    # string: a substring (a text operator, like prefix)
    "contains": Operator(
        ("list", "str"),
        lambda fieldname, value: [{"$iany": {fieldname: {"$i": value}}}],
        refs=True,
        item=True,
        text=TEXT_FORMS["contains"],
        folds=True,
    ),
    # a list shares an item with another list (literal values or a reference to a list field)
    "intersects": _list_against_list(),
    # a list holds every item of another list (literal values or a reference to a list field)
    "contains_all": _list_against_list(),
}
