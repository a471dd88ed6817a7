"""The compiler's output: rules, their metadata, shards, and the fixed engine patterns.

The compiler (:mod:`aigov.compile.compiler`) builds these, the shard packer
(:mod:`aigov.compile.shards`) groups them, and the evaluator runs them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aigov.policy.ast import PolicySet, Test
from aigov.policy.schema import LAST_DAY

GATE = "$gate"  # the fact type of stratum gates (P7)
REACH = "$reach"  # the fact type of lineage walks' steps (see ReachSpec)


# How a missing-field gap caused by a field known to be unknown is named: the outcome tells
# the two kinds of gap apart by it (a missing field is indeterminate, an unknown a review).
KNOWN_UNKNOWN = " (known to be unknown)"
# How an undecided outcome names the dates it rests on (aigov.compile.partial_dates).
UNDECIDED = "{} (known only to the month or year)"


@dataclass(eq=False)
class Atom:
    """One pattern of a rule: a fact of ``fact_type`` named ``name`` with ``tests``."""

    name: str
    fact_type: str
    tests: list[Test] = field(default_factory=list)
    negated: bool = False
    alias: str | None = None  # the policy alias this pattern binds (None: internal)
    literals: list[dict[str, Any]] = field(default_factory=list)  # raw engine expressions
    reach: str | None = None  # a lineage binding: the reach type whose node this pattern is


@dataclass
class ReachSpec:
    """One kind of lineage walk, computed by the evaluator before the engine runs
    (:mod:`aigov.evaluate.reach`): from each origin, every node reached through edges whose
    relation is in ``via``. The engine gets one ``$reach`` fact per (origin, node) with a
    flag (the reach type's name) for every walk that reached the node, so a node that several
    walks reach costs one fact; a lineage pattern tests its walk's flag.

    Origins are only the nodes some rule can bind as the walk's start (demand-driven):
    ``sources`` holds ``root`` (the partition's model), ``kind:<type>`` (every fact of that
    type) or ``reach:<reach type>`` (every node another walk reaches, of ``origin_kind``).
    ``start`` asks for a depth-0 fact per origin (a ``min_depth: 0`` binding)."""

    via: tuple[str, ...]
    origin_kind: str
    sources: set[str] = field(default_factory=set)
    start: bool = False


@dataclass(frozen=True)
class HostCheck:
    """A test the engine cannot make, evaluated by the host on each match of its rule
    (:func:`aigov.policy.operators.host_holds`): a match for which it does not hold (holds,
    when ``negated``) is dropped before it is recorded or derives anything."""

    pattern: str  # the pattern (rule-local name) of the tested fact
    field: str  # its engine field
    op: str
    operand: Any  # a literal in engine form, or None for a reference
    ref: tuple[str, str] | None  # (pattern, engine field) of the reference operand
    ignore_case: bool
    negated: bool
    origin: str  # "file:line: policy 'ID'", for evaluation errors
    text: str  # the test as written (Test.describe)

    def fields(self) -> list[tuple[str, str]]:
        """The (pattern, engine field) pairs the check reads."""
        return [(self.pattern, self.field), *([self.ref] if self.ref else [])]


@dataclass
class RuleMeta:
    """What an action needs to know about the rule that fired."""

    name: str
    role: str  # applicable | missing | undecided | fail | review | derive | aux
    policy: str | None = None
    subject: str | None = None  # subject alias
    aliases: list[str] = field(default_factory=list)  # policy aliases bound (evidence order)
    reach: dict[str, str] = field(default_factory=dict)  # alias -> reach pattern name
    walks: dict[str, str] = field(default_factory=dict)  # reach pattern name -> reach type
    missing: str | None = None  # for role=missing: "alias.field"; undecided: the dates
    absent: list[str] = field(default_factory=list)  # descriptions of absence conditions
    produces: str | None = None  # derived fact type
    fields: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # derived field -> (pattern, field)
    stratum: int = 0
    used_fields: dict[str, list[str]] = field(default_factory=dict)  # alias -> fields tested
    also: list[RuleMeta] = field(default_factory=list)  # identical rules of other policies
    checks: list[HostCheck] = field(default_factory=list)  # post-filters on each match

    def use(self, alias: str, fieldname: str) -> None:
        """Record that the rule tests ``alias.fieldname`` (once, in first-use order)."""
        fields = self.used_fields.setdefault(alias, [])
        # the last possible day of a partial date is the date's own field to a reader
        fieldname = fieldname.removesuffix(LAST_DAY)
        if fieldname not in fields:
            fields.append(fieldname)


@dataclass(eq=False)
class Rule:
    meta: RuleMeta
    atoms: list[Atom]
    gate: int | None  # stratum gate, None for ungated (monotonic) rules


@dataclass
class Shard:
    name: str
    ruleset: dict[str, Any]  # rule name -> durable rule (without "run")
    rules: dict[str, RuleMeta]
    types: frozenset[str] = frozenset()  # fact types its rules read: the only ones it is sent
    walks: frozenset[str] = frozenset()  # the reach types its rules read
    gates: tuple[int, ...] = ()  # the strata its rules wait for (the last always: $root)


@dataclass
class CompiledPolicies:
    """Rulesets (sharded) and everything the evaluator needs besides them."""

    policy_set: PolicySet
    as_of: dt.date
    shards: list[Shard]
    strata: int
    member_fields: set[tuple[str, str]]
    digest: str
    fact_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    # fact type -> [(engine field, pattern, computed field)]: regex tests the facts builder
    # evaluates (see aigov.policy.operators.regex_field)
    regexes: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    reaches: dict[str, ReachSpec] = field(default_factory=dict)  # reach type -> its walk

    @property
    def rule_count(self) -> int:
        return sum(len(s.rules) for s in self.shards)


# ----------------------------------------------------------------------------- fixed rules


def gate_pattern(stratum: int) -> dict[str, Any]:
    """The gate fact of ``stratum``: the first pattern of every gated rule (P7)."""
    return {"g_": {"$and": [{"t": GATE}, {"stratum": stratum}]}}


def root_rule(stratum: int) -> dict[str, Any]:
    """Fires once per session at the last gate: proves the partition's facts reached the
    engine (a fact it cannot parse is dropped without an error, so the root model must be
    seen), and guarantees an action ran before delete_state (P3)."""
    return {
        "all": [
            gate_pattern(stratum),
            {"m": {"$and": [{"t": "model"}, {"partition_root": True}]}},
        ]
    }


# In every ruleset: the catch-all that stores facts no rule matches (P3.3).
KEEP_RULE: dict[str, Any] = {"all": [{"x_": {"$ex": {"t": 1}}}, {"y_": {"t": "$never$"}}]}
