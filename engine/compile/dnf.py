"""Conditions in disjunctive normal form, as the compiler builds rules from them.

Each disjunct (a conjunction) becomes one rule: an ordered list of patterns. Negation of
one record test stays a :class:`NegTest` (a ``$not`` pattern); negation of anything larger
(an absent approval that must cover three list fields, a lineage path that must not exist)
becomes an :class:`Aux`, which the compiler turns into an auxiliary derived fact plus a
``$not`` on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from aigov.policy.ast import TRUE, All, AnyOf, Bind, Condition, Not, Ref, Test, aliases
from aigov.policy.operators import OPERATORS, host_test


@dataclass(frozen=True)
class NegTest:
    test: Test


@dataclass(frozen=True)
class Aux:
    """A negated sub-condition too large for one ``$not`` pattern."""

    condition: Condition
    outer: tuple[str, ...]  # outer aliases it refers to


# One item of a DNF conjunction; ``Not`` only ever holds a Bind (see _simple_negation).
Item: TypeAlias = Test | NegTest | Bind | Not | Aux
Conjunction: TypeAlias = list[Item]


def ordering_join(test: Test) -> bool:
    """A join the engine aborts on when either field is missing (error 311)."""
    return (
        isinstance(test.value, Ref) and OPERATORS[test.op].guarded_join and not host_checked(test)
    )


def host_checked(test: Test) -> bool:
    """A test the engine cannot make, evaluated on each match by the host (see
    :func:`aigov.policy.operators.host_test`)."""
    return host_test(test.op, test.ftype.kind, isinstance(test.value, Ref), test.ignore_case)


def list_join(test: Test) -> bool:
    """A join inside a list (``x.list contains y.f``): compiled through membership facts."""
    return isinstance(test.value, Ref) and OPERATORS[test.op].item and not host_checked(test)


def conj_aliases(conj: Conjunction) -> set[str]:
    """Every alias a DNF conjunction refers to (including lineage origins)."""
    out: set[str] = set()
    for item in conj:
        if isinstance(item, NegTest):
            out |= aliases(item.test)[0]
        elif isinstance(item, Aux):
            out |= set(item.outer)
        else:
            out |= aliases(item)[0]
    return out


def _simple_negation(bind: Bind) -> bool:
    """Can ``not exists bind`` be one ``$not`` pattern? Only plain positive tests, no
    disjunction, no list join (that needs extra member patterns), no host-checked test (the
    host filters matches, and a ``$not`` pattern has none), no lineage."""
    if bind.is_lineage:
        return False
    conjs = dnf(bind.where)
    if len(conjs) != 1:
        return False
    return not any(
        not isinstance(item, Test)  # a where's DNF holds only Test / NegTest
        or list_join(item)
        or ordering_join(item)  # needs guards on the outer record: see Compiler.add_test
        or host_checked(item)  # a post-filter on a match: see Compiler.add_check
        for item in conjs[0]
    )


def _product(parts: Iterable[list[Conjunction]]) -> list[Conjunction]:
    """The conjunction of DNFs: every combination of one conjunction from each part."""
    out: list[Conjunction] = [[]]
    for conjs in parts:
        out = [a + b for a in out for b in conjs]
    return out


def dnf(node: Condition | NegTest) -> list[Conjunction]:
    """DNF of a condition or of a field-test tree (a bind's ``where``): a list of
    conjunctions of Bind / Test / NegTest / Not(Bind) / Aux (of Test / NegTest for a
    field-test tree)."""
    if node is TRUE or (isinstance(node, All) and not node.items):
        return [[]]
    if isinstance(node, Test | NegTest | Bind):  # NegTest: a conjunction rebuilt by expand()
        return [[node]]
    if isinstance(node, All):
        return _product(dnf(item) for item in node.items)
    if isinstance(node, AnyOf):
        return [conj for item in node.items for conj in dnf(item)]
    if isinstance(node, Not):
        return _negate(node.item)
    raise TypeError(node)


def _negate(node: Condition | NegTest) -> list[Conjunction]:
    if isinstance(node, NegTest):
        return [[node.test]]
    if isinstance(node, Test):
        opposite = OPERATORS[node.op].opposite
        if opposite is not None:  # exists <-> missing
            return [[_flip(node, opposite)]]
        return [[NegTest(node)]]
    if isinstance(node, Not):
        return dnf(node.item)
    if isinstance(node, AnyOf):
        return _product(_negate(item) for item in node.items)
    mentioned, bound = aliases(node)
    if isinstance(node, All) and not bound:
        if not node.items:
            return []
        return [conj for item in node.items for conj in _negate(item)]
    if isinstance(node, Bind) and _simple_negation(node):
        return [[Not(node)]]
    return [[Aux(node, tuple(sorted(mentioned - bound)))]]


def _flip(test: Test, op: str) -> Test:
    return Test(test.alias, test.field, op, True, test.ftype, test.line)


def _bind_variants(item: Item) -> list[Item]:
    """A bind whose ``where`` is disjunctive as one bind per disjunct; anything else as is."""
    if not isinstance(item, Bind):
        return [item]
    conjs = dnf(item.where)
    if len(conjs) == 1:
        return [item]
    return [dataclasses.replace(item, where=_as_where(c)) for c in conjs]


def _as_where(conj: Conjunction) -> Condition:
    """One disjunct of a ``where`` as a ``where`` again (its items are Test / NegTest)."""
    if not conj:
        return TRUE
    return All(tuple(conj))  # type: ignore[arg-type]  # NegTest is no Condition; dnf() reads it


def expand(conjs: list[Conjunction]) -> list[Conjunction]:
    """Split binds whose ``where`` is disjunctive into one conjunction per disjunct."""
    return [
        variant
        for conj in conjs
        for variant in _product([[option] for option in _bind_variants(item)] for item in conj)
    ]
