"""The policy AST: what a policy's conditions become once parsed and checked.

The parser (:mod:`aigov.policy.parser`) builds these objects and the loader
(:mod:`aigov.policy.loader`) assembles them into a :class:`PolicySet`; the compiler reads
them. This module is a leaf of the policy package: it imports neither of those.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from aigov.policy.metadata import PolicyDoc
from aigov.policy.operators import OPERATORS
from aigov.policy.schema import FieldType
from aigov.results.severity import Severity

if TYPE_CHECKING:
    import jinja2


@dataclass(frozen=True)
class Ref:
    """A join: the value of ``alias.field`` in the same match."""

    alias: str
    field: str

    def __str__(self) -> str:
        return f"{self.alias}.{self.field}"


@dataclass(frozen=True)
class AsOf:
    """The evaluation date plus an offset in days."""

    days: int = 0

    def __str__(self) -> str:
        if not self.days:
            return "as_of"
        return f"as_of {'+' if self.days > 0 else '-'} {abs(self.days)}d"


Scalar: TypeAlias = str | int | float | bool | dt.date
# A literal (a tuple for the list operators 'in' and 'not_in'), a join or the evaluation date.
Operand: TypeAlias = Scalar | tuple[Scalar, ...] | Ref | AsOf


@dataclass(frozen=True)
class Test:
    """``alias.field <op> value``."""

    alias: str
    field: str
    op: str  # a key of aigov.policy.operators.OPERATORS
    value: Operand
    ftype: FieldType
    line: int
    ignore_case: bool = False  # ``ignore_case: true``: text compared without regard to case

    def refs(self) -> set[str]:
        return {self.value.alias} if isinstance(self.value, Ref) else set()

    def describe(self) -> str:
        if OPERATORS[self.op].operand == "flag":
            return f"{self.alias}.{self.field} {self.op}"
        shown = (
            self.value
            if isinstance(self.value, Ref | AsOf)
            else json.dumps(self.value, default=str, ensure_ascii=False)
        )
        folded = " (ignoring case)" if self.ignore_case else ""
        return f"{self.alias}.{self.field} {self.op} {shown}{folded}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class Bind:
    """Some fact of type ``kind`` (named ``alias``) satisfies ``where``.

    For lineage bindings (``via`` set), the fact is an ancestor of ``origin`` reached through
    lineage edges whose relation is in ``via``, at a depth of at least ``min_depth``.
    """

    alias: str
    kind: str
    where: Condition  # a tree of All/AnyOf/Not/Test over this alias (may reference earlier aliases)
    line: int
    via: tuple[str, ...] | None = None
    origin: str | None = None
    min_depth: int = 1

    @property
    def is_lineage(self) -> bool:
        return self.via is not None


# A condition (``when``, ``review_if``, a derivation's ``when``), or a field-test tree (a
# binding's ``where``: All/AnyOf/Not/Test only).
Condition: TypeAlias = Test | All | AnyOf | Not | Bind

TRUE = All(())


def tests_in(*nodes: Condition) -> Iterator[Test]:
    """Every test of the conditions, those inside bindings and negations included."""
    stack = list(nodes)
    while stack:
        item = stack.pop()
        if isinstance(item, Test):
            yield item
        elif isinstance(item, All | AnyOf):
            stack.extend(item.items)
        elif isinstance(item, Not):
            stack.append(item.item)
        elif isinstance(item, Bind):
            stack.append(item.where)


def aliases(node: Condition) -> tuple[set[str], set[str]]:
    """The aliases ``node`` mentions - in its tests and as lineage origins, a binding's own
    alias not counted inside its ``where`` - and the aliases it binds."""
    if isinstance(node, Test):
        return {node.alias} | node.refs(), set()
    if isinstance(node, Bind):
        mentioned, _ = aliases(node.where)
        mentioned.discard(node.alias)
        if node.origin:
            mentioned.add(node.origin)
        return mentioned, {node.alias}
    if isinstance(node, All | AnyOf):
        mentioned, bound = set(), set()
        for item in node.items:
            item_mentioned, item_bound = aliases(item)
            mentioned |= item_mentioned
            bound |= item_bound
        return mentioned, bound
    if isinstance(node, Not):
        return aliases(node.item)
    return set(), set()


@dataclass
class Derivation:
    """A rule that asserts derived facts (forward chaining) other policies can match."""

    id: str
    description: str
    fields: dict[str, Ref]
    when: Condition
    file: str
    line: int


@dataclass(frozen=True)
class Requirement:
    """A ``requires`` entry: ``field`` must be present whenever ``when`` holds (always, for
    the plain form)."""

    field: Ref
    when: Condition = TRUE


@dataclass
class Policy:
    """A validated policy, ready to compile."""

    doc: PolicyDoc
    file: str
    line: int
    subject: Bind
    requires: list[Requirement]
    when: Condition
    review_if: Condition
    template: jinja2.Template

    @property
    def id(self) -> str:
        return self.doc.id

    @property
    def builtin(self) -> bool:
        """Shipped with the engine (engine/policy/builtin), not loaded from the user's files."""
        return self.file.startswith("<builtin>")

    @property
    def severity(self) -> Severity:
        return self.doc.severity


@dataclass
class PolicySet:
    policies: list[Policy]
    derivations: list[Derivation]
    digest: str

    def by_id(self) -> dict[str, Policy]:
        return {p.id: p for p in self.policies}

    @property
    def enabled(self) -> list[Policy]:
        return [p for p in self.policies if p.doc.enabled]
