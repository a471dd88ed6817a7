"""Tests of dates known only to the month or year, in three values.

A date field such as ``model.release_date`` may hold ``2025-01``: some day of January 2025.
A test of it *certainly* holds when it holds for every day the date may be, *certainly
fails* when it holds for none, and is *undecided* otherwise (``release_date lt 2025-01-15``
for ``2025-01``). The compiler turns each test of such a field into a test of the field's
first possible day (the fact's field) or its last (``<field>__last``):

* in **certain** mode, the test that holds only when every day satisfies it;
* in **possible** mode, the test that holds when some day does.

A policy fails (or asks for review) only on its certain form; where its possible form holds
and its certain form does not, the outcome is a ``review``, naming the imprecise dates.
Negation swaps the modes (``not (d lt x)`` certainly holds when ``d lt x`` possibly fails),
so every ``not`` in a condition, a negated binding included, rewrites its inside in the
other mode. Full dates are unaffected: their first and last day are the same.
"""

from __future__ import annotations

from dataclasses import replace

from aigov.policy.ast import All as AllOf
from aigov.policy.ast import AnyOf, Bind, Condition, Not, Operand, Ref, Test, tests_in
from aigov.policy.schema import DATE, FACT_SCHEMA, LAST_DAY

# Field names that hold a partial date in some kind of fact (a reference to one of them is
# tested by its first or last day too).
PARTIAL_NAMES = frozenset(
    name for fields in FACT_SCHEMA.values() for name, ftype in fields.items() if ftype.partial
)
_ORDERINGS = frozenset({"lt", "le", "gt", "ge"})


def _partial_ref(test: Test) -> bool:
    return isinstance(test.value, Ref) and test.value.field in PARTIAL_NAMES


def is_partial(test: Test) -> bool:
    """Whether ``test`` compares a date that may be known to the month or year only."""
    return test.op in _ORDERINGS | {"eq", "ne"} and (test.ftype.partial or _partial_ref(test))


def _side(test: Test, last: bool) -> str:
    return f"{test.field}{LAST_DAY}" if last and test.ftype.partial else test.field


def _operand(test: Test, last: bool) -> Operand:
    value = test.value
    if isinstance(value, Ref) and last and value.field in PARTIAL_NAMES:
        return Ref(value.alias, f"{value.field}{LAST_DAY}")
    return value


def _compare(test: Test, op: str, field_last: bool, operand_last: bool) -> Test:
    return replace(
        test, field=_side(test, field_last), op=op, value=_operand(test, operand_last), ftype=DATE
    )


def _rewrite_test(test: Test, certain: bool) -> Condition:
    op = test.op
    if op in ("lt", "le"):
        # certainly: the last possible day is before the operand's first; possibly: the first
        # possible day is before the operand's last
        return _compare(test, op, field_last=certain, operand_last=not certain)
    if op in ("gt", "ge"):
        return _compare(test, op, field_last=not certain, operand_last=certain)
    same = (certain and op == "eq") or (not certain and op == "ne")
    if same:
        # eq certainly / ne possibly: both are one day, the same one (or, for ne, not)
        if op == "eq":
            return AllOf((_compare(test, "eq", False, True), _compare(test, "eq", True, False)))
        return AnyOf((_compare(test, "ne", False, True), _compare(test, "ne", True, False)))
    if op == "eq":  # possibly equal: the periods overlap
        return AllOf((_compare(test, "le", False, True), _compare(test, "ge", True, False)))
    # certainly unequal: the periods do not overlap
    return AnyOf((_compare(test, "lt", True, False), _compare(test, "gt", False, True)))


def rewrite(node: Condition, certain: bool) -> Condition:
    """``node`` with every partial-date test in its certain (or possible) form."""
    if isinstance(node, Test):
        return _rewrite_test(node, certain) if is_partial(node) else node
    if isinstance(node, AllOf):
        return AllOf(tuple(rewrite(item, certain) for item in node.items))
    if isinstance(node, AnyOf):
        return AnyOf(tuple(rewrite(item, certain) for item in node.items))
    if isinstance(node, Not):
        return Not(rewrite(node.item, not certain))
    if isinstance(node, Bind):
        return replace(node, where=rewrite(node.where, certain))
    raise TypeError(node)  # pragma: no cover - Condition has no other members


def partial_fields(*nodes: Condition) -> list[str]:
    """The partial-date fields (``alias.field``) the conditions compare, sorted."""
    found: set[str] = set()
    for test in tests_in(*nodes):
        if not is_partial(test):
            continue
        if test.ftype.partial:
            found.add(f"{test.alias}.{test.field}")
        if isinstance(test.value, Ref) and test.value.field in PARTIAL_NAMES:
            found.add(str(test.value))
    return sorted(found)
