"""Compile validated policies into durable-rules rulesets (the "compile" stage).

Every policy becomes a handful of Rete rules; the engine does all matching:

* ``applicable`` - the subject exists and its ``where`` holds (else the outcome is
  ``not_applicable``);
* ``missing`` - one per ``requires`` field: the field is absent (``indeterminate``);
* ``fail`` / ``review`` - one rule per disjunct of ``when`` (and of ``review_if``).

Conditions are brought into disjunctive normal form; each disjunct is an ordered list of
patterns. Negation of one record test becomes a ``$not`` pattern; negation of anything
larger (an absent approval that must cover three list fields, a lineage path that must not
exist) becomes an auxiliary derived fact plus a ``$not`` on it - stratified, so a negation
is only evaluated once everything it depends on has been derived. Lineage bindings become
``reach`` facts derived by forward chaining over lineage edges, keyed by (relations,
origin, node) so cycles terminate; each reach fact carries its witness path.

The output is plain data (JSON-serialisable rulesets plus a table of rule metadata); the
evaluator attaches the actions. Compiler rules that work around engine defects (see
../shared/durable-rules.md and the README) are marked "P<n>" below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aigov.errors import InputError, Problem
from aigov.policy.language import (
    TRUE,
    All,
    AnyOf,
    AsOf,
    Bind,
    Derivation,
    Not,
    Policy,
    PolicySet,
    Ref,
    Test,
)
from aigov.policy.schema import ANY, STR, engine_field, engine_number

KEY = STR  # the type of the internal joins on record keys
GATE = "$gate"
SUBJECT = "s_"  # the subject's pattern name in applicability and missing-field rules
MEMBER = "$member"
CAP = 1000  # matches handed to one action call (durable-rules ``cap``)
# durable-rules fails at run time (error 303) when one fact satisfies more than 64 children of
# one alpha node, and at compile time (error 108) past 256 rules on one alpha node; shards
# keep well below both (P5/P6).
MAX_ALPHA_FANOUT = 56
MAX_RULES_PER_ALPHA = 200
MAX_JOINED = 16  # facts one rule may join (error 304 at run time beyond it)


class CompileError(InputError):
    pass


# ----------------------------------------------------------------------------- patterns


@dataclass(eq=False)
class Atom:
    """One pattern of a rule: a fact of ``fact_type`` named ``name`` with ``tests``."""

    name: str
    fact_type: str
    tests: list[Test] = field(default_factory=list)
    negated: bool = False
    alias: str | None = None  # the policy alias this pattern binds (None: internal)
    literals: list[dict[str, Any]] = field(default_factory=list)  # raw engine expressions


@dataclass
class RuleMeta:
    """What an action needs to know about the rule that fired."""

    name: str
    role: str  # applicable | missing | fail | review | derive | aux | reach-seed | reach-step
    policy: str | None = None
    subject: str | None = None  # subject alias
    aliases: list[str] = field(default_factory=list)  # policy aliases bound (evidence order)
    reach: dict[str, str] = field(default_factory=dict)  # alias -> reach pattern name
    missing: str | None = None  # for role=missing: "alias.field"
    absent: list[str] = field(default_factory=list)  # descriptions of absence conditions
    produces: str | None = None  # derived fact type
    fields: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # derived field -> (pattern, field)
    stratum: int = 0
    used_fields: dict[str, list[str]] = field(default_factory=dict)  # alias -> fields tested
    also: list[RuleMeta] = field(default_factory=list)  # identical rules of other policies
    seeds: list[str] = field(default_factory=list)  # reach-seed: the reach types it starts

    def use(self, alias: str, fieldname: str) -> None:
        """Record that the rule tests ``alias.fieldname`` (once, in first-use order)."""
        fields = self.used_fields.setdefault(alias, [])
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
    # evaluates (see _regex)
    regexes: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    @property
    def rule_count(self) -> int:
        return sum(len(s.rules) for s in self.shards)


# ----------------------------------------------------------------------------- DNF


@dataclass(frozen=True)
class NegTest:
    test: Test


@dataclass(frozen=True)
class Aux:
    """A negated sub-condition too large for one ``$not`` pattern."""

    condition: Any
    outer: tuple[str, ...]  # outer aliases it refers to


def _aliases_in(node: Any) -> set[str]:
    if isinstance(node, Test):
        return {node.alias} | node.refs()
    if isinstance(node, Bind):
        inner = _aliases_in(node.where) - {node.alias}
        return inner | ({node.origin} if node.origin else set())
    if isinstance(node, All | AnyOf):
        out: set[str] = set()
        for item in node.items:
            out |= _aliases_in(item)
        return out
    if isinstance(node, Not):
        return _aliases_in(node.item)
    return set()


def _ordering_join(test: Test) -> bool:
    return isinstance(test.value, Ref) and test.op in ("ne", "lt", "le", "gt", "ge")


def _require(atom: Atom, fieldname: str) -> None:
    guard = {"$ex": {engine_field(fieldname): 1}}
    if guard not in atom.literals:
        atom.literals.append(guard)


def _conj_aliases(conj: list[Any]) -> set[str]:
    """Every alias a DNF conjunction refers to (including lineage origins)."""
    out: set[str] = set()
    for item in conj:
        if isinstance(item, NegTest):
            out |= _aliases_in(item.test)
        elif isinstance(item, Aux):
            out |= set(item.outer)
        else:
            out |= _aliases_in(item)
    return out


def _bound_in(node: Any) -> set[str]:
    if isinstance(node, Bind):
        return {node.alias}
    if isinstance(node, All | AnyOf):
        out: set[str] = set()
        for item in node.items:
            out |= _bound_in(item)
        return out
    if isinstance(node, Not):
        return _bound_in(node.item)
    return set()


def _simple_negation(bind: Bind) -> bool:
    """Can ``not exists bind`` be one ``$not`` pattern? Only plain positive tests, no
    disjunction, no list join (that needs extra member patterns), no lineage."""
    if bind.is_lineage:
        return False
    conjs = dnf(bind.where)
    if len(conjs) != 1:
        return False
    return not any(
        isinstance(item, NegTest)
        or (item.op == "contains" and isinstance(item.value, Ref))
        or _ordering_join(item)  # needs guards on the outer record: see Compiler.add_test
        for item in conjs[0]
    )


def _product(parts: Iterable[list[list[Any]]]) -> list[list[Any]]:
    """The conjunction of DNFs: every combination of one conjunction from each part."""
    out: list[list[Any]] = [[]]
    for conjs in parts:
        out = [a + b for a in out for b in conjs]
    return out


def dnf(node: Any) -> list[list[Any]]:
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


def _negate(node: Any) -> list[list[Any]]:
    if isinstance(node, NegTest):
        return [[node.test]]
    if isinstance(node, Test):
        if node.op == "exists":
            return [[_flip(node, "missing")]]
        if node.op == "missing":
            return [[_flip(node, "exists")]]
        return [[NegTest(node)]]
    if isinstance(node, Not):
        return dnf(node.item)
    if isinstance(node, AnyOf):
        return _product(_negate(item) for item in node.items)
    if isinstance(node, All) and not _bound_in(node):
        if not node.items:
            return []
        return [conj for item in node.items for conj in _negate(item)]
    if isinstance(node, Bind) and _simple_negation(node):
        return [[Not(node)]]
    outer = tuple(sorted(_aliases_in(node) - _bound_in(node)))
    return [[Aux(node, outer)]]


def _flip(test: Test, op: str) -> Test:
    return Test(test.alias, test.field, op, True, test.ftype, test.line)


def _bind_variants(item: Any) -> list[Any]:
    """A bind whose ``where`` is disjunctive as one bind per disjunct; anything else as is."""
    if not isinstance(item, Bind):
        return [item]
    conjs = dnf(item.where)
    if len(conjs) == 1:
        return [item]
    return [dataclasses.replace(item, where=All(tuple(c)) if c else TRUE) for c in conjs]


# ----------------------------------------------------------------------------- compiler

_COMPARISONS = {"eq": None, "ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


def _comparison(op: str, fieldname: str, value: Any) -> dict[str, Any]:
    engine_op = _COMPARISONS[op]
    return {fieldname: value} if engine_op is None else {engine_op: {fieldname: value}}


def _compare(op: str, fieldname: str, test: Test, literal: Callable[[Any], Any]) -> list[Any]:
    return [_comparison(op, fieldname, literal(test.value))]


def _in(fieldname: str, test: Test, literal: Callable[[Any], Any]) -> list[Any]:
    options = [{fieldname: literal(v)} for v in test.value]
    # An $or placed before a join inside one $and disables the join, so pattern() puts
    # disjunctions after joins.
    return [options[0] if len(options) == 1 else {"$or": options}]


def _regex(fieldname: str, test: Test, literal: Callable[[Any], Any]) -> list[Any]:
    # durable-rules' own regex automata mis-match (".*retir.*" rejects "retired"), so the
    # facts builder evaluates each pattern with Python's re and the rule tests the result.
    return [{regex_field(fieldname, test.value): True}]


def regex_field(fieldname: str, pattern: str) -> str:
    """The computed field holding ``re.search(pattern, field)`` for a fact."""
    digest = hashlib.sha1(f"{fieldname}\0{pattern}".encode()).hexdigest()[:12]
    return f"re__{digest}"


# How each policy operator becomes engine expressions on one fact (literal operands; joins
# are comparisons, see Compiler.test_expr). Adding an operator: an entry here and one in
# aigov.policy.language.OPERATORS.
ENGINE_OPERATORS: dict[str, Callable[[str, Test, Callable[[Any], Any]], list[Any]]] = {
    **{op: functools.partial(_compare, op) for op in _COMPARISONS},
    "in": _in,
    "not_in": lambda f, t, literal: [{"$neq": {f: literal(v)}} for v in t.value],
    "regex": _regex,
    "exists": lambda f, t, literal: [{"$ex": {f: 1}}],
    "missing": lambda f, t, literal: [{"$nex": {f: 1}}],
    "contains": lambda f, t, literal: [{"$iany": {f: {"$i": literal(t.value)}}}],
}
_SWAP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


class Compiler:
    def __init__(self, as_of: dt.date):
        self.as_of = as_of
        self.rules: list[Rule] = []
        self.problems: list[Problem] = []
        self.member_fields: set[tuple[str, str]] = set()
        self.reach_types: dict[tuple[tuple[str, ...], str], str] = {}
        self.seed_rules: dict[str, Rule] = {}
        self.producers: dict[str, list[Rule]] = {}
        self.counter = itertools.count()

    # -- values -------------------------------------------------------------------

    def literal(self, value: Any) -> Any:
        if isinstance(value, AsOf):
            return self.as_of.toordinal() + value.days
        if isinstance(value, dt.date):
            return value.toordinal()
        return engine_number(value)

    def test_expr(self, test: Test, names: dict[str, str]) -> tuple[list[Any], list[Any]]:
        """(literal expressions, join expressions) for one positive test."""
        fieldname = engine_field(test.field)
        value = test.value
        if isinstance(value, Ref):
            if test.op == "contains":
                raise AssertionError("contains-ref is compiled as a member pattern")
            target = {names[value.alias]: engine_field(value.field)}
            return [], [_comparison(test.op, fieldname, target)]
        return ENGINE_OPERATORS[test.op](fieldname, test, self.literal), []

    def pattern(self, atom: Atom, names: dict[str, str]) -> dict[str, Any]:
        """The engine expression: type first, then plain literal tests, then joins, then
        disjunctions (order matters to durable-rules, see test_expr)."""
        plain: list[Any] = [{"t": atom.fact_type}]
        ors: list[Any] = []
        for expr in atom.literals:
            (ors if "$or" in expr else plain).append(expr)
        joins: list[Any] = []
        for test in atom.tests:
            literals, join = self.test_expr(test, names)
            for expr in literals:
                (ors if "$or" in expr else plain).append(expr)
            joins += join
        parts = plain + joins + ors
        expr = parts[0] if len(parts) == 1 else {"$and": parts}
        return {f"{atom.name}$not" if atom.negated else atom.name: expr}

    # -- building rules -----------------------------------------------------------

    def new_name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def atoms_for(self, conj: list[Any], bound: dict[str, Atom], meta: RuleMeta) -> list[Atom]:
        """Atoms for one conjunction; ``bound`` maps aliases already bound to their atom."""
        atoms: list[Atom] = []
        for item in conj:
            if isinstance(item, Bind):
                atoms += self.bind_atoms(item, bound, meta)
            elif isinstance(item, Test):
                self.attach_test(item, bound, atoms, meta)
            elif isinstance(item, NegTest):
                atoms.append(self.neg_test_atom(item.test, bound, meta))
            elif isinstance(item, Not):
                atoms += self.negated_bind_atoms(item.item, meta)
            elif isinstance(item, Aux):
                atoms.append(self.aux_atom(item, bound, meta))
            else:  # pragma: no cover
                raise TypeError(item)
        return atoms

    def attach_test(
        self, test: Test, bound: dict[str, Atom], atoms: list[Atom], meta: RuleMeta
    ) -> None:
        """A test goes onto the later-bound of the patterns it mentions (a list join becomes
        a member pattern)."""
        meta.use(test.alias, test.field)
        ref = test.value
        if not isinstance(ref, Ref):
            self.add_test(bound[test.alias], test, bound)
            return
        meta.use(ref.alias, ref.field)
        if test.op == "contains":
            self.member_atom(test, bound, atoms)
            return
        order = list(bound)
        if order.index(ref.alias) > order.index(test.alias):
            swapped = Test(
                ref.alias,
                ref.field,
                _SWAP[test.op],
                Ref(test.alias, test.field),
                test.ftype,
                test.line,
            )
            self.add_test(bound[ref.alias], swapped, bound)
        else:
            self.add_test(bound[test.alias], test, bound)

    def add_test(self, atom: Atom, test: Test, bound: dict[str, Atom]) -> None:
        """Put a test on a positive pattern. An ordering join (ne/lt/le/gt/ge against another
        record's field) aborts the engine with error 311 when either field is missing, so
        both patterns also require their field to exist - the comparison would be false
        anyway, so this changes no result."""
        atom.tests.append(test)
        if _ordering_join(test):
            _require(atom, test.field)
            ref: Ref = test.value
            if ref.field != "id":
                _require(bound[ref.alias], ref.field)

    def member_atom(self, test: Test, bound: dict[str, Atom], atoms: list[Atom]) -> None:
        """``x.list contains y.f`` as a membership fact joined to both (the engine cannot
        join inside an array)."""
        kind = bound[test.alias].fact_type
        fieldname = engine_field(test.field)
        self.member_fields.add((kind, fieldname))
        atom = Atom(self.new_name("m"), MEMBER, literals=[{"field": fieldname}])
        ref: Ref = test.value
        atom.tests.append(Test("", "owner", "eq", Ref(test.alias, "id"), test.ftype, test.line))
        atom.tests.append(Test("", "value", "eq", ref, test.ftype, test.line))
        atoms.append(atom)

    def bind_atoms(self, bind: Bind, bound: dict[str, Atom], meta: RuleMeta) -> list[Atom]:
        conjs = dnf(bind.where)
        if len(conjs) != 1:  # only reached through dnf() splitting, see expand_binds
            raise AssertionError("bind with disjunctive where must be expanded first")
        atoms: list[Atom] = []
        if bind.is_lineage:
            reach_type = self.reach_type(bind, bound)
            reach = Atom(self.new_name("r"), reach_type)
            reach.tests.append(Test("", "origin", "eq", Ref(bind.origin, "id"), KEY, bind.line))
            if bind.min_depth:
                reach.literals.append({"$gte": {"depth": bind.min_depth}})
            atoms.append(reach)
            meta.reach[bind.alias] = reach.name
        atom = Atom(bind.alias, bind.kind, alias=bind.alias)
        if bind.is_lineage:
            atom.tests.append(
                Test(bind.alias, "id", "eq", Ref(atoms[0].name, "node"), KEY, bind.line)
            )  # type: ignore[arg-type]
        bound[bind.alias] = atom
        atoms.append(atom)
        meta.aliases.append(bind.alias)
        # the where's tests are on this bind's alias, bound last: they go on its pattern
        atoms += self.atoms_for(conjs[0], bound, meta)
        return atoms

    def neg_test_atom(self, test: Test, bound: dict[str, Atom], meta: RuleMeta) -> Atom:
        """not(x.f op v): no fact that is x (same key) satisfies the test. A negated list
        join (``not x.list contains y.f``) needs a member pattern and a negated ordering join
        needs field guards, so both go through an auxiliary fact."""
        if (test.op == "contains" and isinstance(test.value, Ref)) or _ordering_join(test):
            outer = tuple(sorted({test.alias, test.value.alias}))
            return self.aux_atom(Aux(test, outer), bound, meta)
        kind = bound[test.alias].fact_type
        meta.use(test.alias, test.field)
        atom = Atom(self.new_name("n"), kind, negated=True)
        atom.tests.append(
            Test(test.alias, "id", "eq", Ref(test.alias, "id"), test.ftype, test.line)
        )
        atom.tests.append(test)
        return atom

    def negated_bind_atoms(self, bind: Bind, meta: RuleMeta) -> list[Atom]:
        atom = Atom(self.new_name("n"), bind.kind, negated=True)
        (conj,) = dnf(bind.where)
        for test in conj:
            atom.tests.append(test)
        meta.absent.append(describe_absent(bind))
        return [atom]

    def aux_atom(self, aux: Aux, bound: dict[str, Atom], meta: RuleMeta) -> Atom:
        """not(C) for a complex C: derive ``$aux`` facts for C, then ``$not`` on them."""
        aux_type = f"$aux{next(self.counter)}"
        fields = {f"a_{alias}": alias for alias in aux.outer}
        for conj in self.expand(dnf(aux.condition)):
            rule_meta = RuleMeta(self.new_name("x"), "aux", produces=aux_type)
            rebound: dict[str, Atom] = {}
            atoms: list[Atom] = []
            for alias in aux.outer:
                kind = bound[alias].fact_type
                outer = Atom(alias, kind, alias=alias)
                if alias == "model":  # the partition's model (no other binding takes the name)
                    outer.literals.append({"partition_root": True})
                rebound[alias] = outer
                atoms.append(outer)
            atoms += self.atoms_for(conj, rebound, rule_meta)
            rule_meta.fields = {name: (alias, "key") for name, alias in fields.items()}
            self.add_rule(rule_meta, atoms)
        atom = Atom(self.new_name("n"), aux_type, negated=True)
        for name, alias in fields.items():
            atom.tests.append(Test("", name, "eq", Ref(alias, "id"), KEY, 0))
        meta.absent.append(describe_condition(aux.condition))
        return atom

    def reach_type(self, bind: Bind, bound: dict[str, Atom]) -> str:
        origin_atom = bound[bind.origin]  # type: ignore[index]
        seed = "root" if bind.origin == "model" else origin_atom.fact_type
        key = (bind.via, seed)  # type: ignore[arg-type]
        if key in self.reach_types:
            return self.reach_types[key]
        digest = hashlib.sha1(json.dumps(key).encode()).hexdigest()[:8]
        reach_type = f"$reach_{digest}"
        self.reach_types[key] = reach_type
        # One seed rule per kind of origin starts every reach type with that origin (fewer
        # actions than a seed rule per type).
        seed_rule = self.seed_rules.get(seed)
        if seed_rule is None:
            seed_atom = Atom("s", "model" if seed == "root" else seed)
            if seed == "root":
                seed_atom.literals.append({"partition_root": True})
            seed_meta = RuleMeta(self.new_name("x"), "reach-seed")
            seed_rule = self.seed_rules[seed] = self.add_rule(seed_meta, [seed_atom])
        seed_rule.meta.seeds.append(reach_type)
        self.producers.setdefault(reach_type, []).append(seed_rule)
        step_reach = Atom("r", reach_type)
        edge = Atom("e", "lineage")
        edge.tests.append(Test("", "child", "eq", Ref("r", "node"), KEY, 0))
        relations = [{"relation": r} for r in bind.via]  # type: ignore[union-attr]
        edge.literals.append(relations[0] if len(relations) == 1 else {"$or": relations})
        step_meta = RuleMeta(self.new_name("x"), "reach-step", produces=reach_type)
        self.add_rule(step_meta, [step_reach, edge])
        return reach_type

    # -- rule assembly ------------------------------------------------------------

    def add_rule(self, meta: RuleMeta, atoms: list[Atom]) -> Rule:
        rule = Rule(meta, atoms, None)
        self.rules.append(rule)
        if meta.produces:
            self.producers.setdefault(meta.produces, []).append(rule)
        return rule

    def expand(self, conjs: list[list[Any]]) -> list[list[Any]]:
        """Split binds whose ``where`` is disjunctive into one conjunction per disjunct."""
        return [
            variant
            for conj in conjs
            for variant in _product([[option] for option in _bind_variants(item)] for item in conj)
        ]

    def subject_atoms(
        self,
        policy: Policy,
        conj: list[Any],
        meta: RuleMeta,
        needs_model: bool,
        name: str | None = None,
    ) -> tuple[list[Atom], dict[str, Atom]]:
        bound: dict[str, Atom] = {}
        atoms: list[Atom] = []
        subject = policy.subject
        main = Atom(name or subject.alias, subject.kind, alias=subject.alias)
        if subject.kind == "model":
            main.literals.append({"partition_root": True})
        bound[subject.alias] = main
        atoms.append(main)
        meta.aliases.append(subject.alias)
        if subject.kind != "model" and needs_model:
            model = Atom("model", "model", alias="model", literals=[{"partition_root": True}])
            bound["model"] = model
            atoms.append(model)
            meta.aliases.append("model")
        atoms += self.atoms_for(conj, bound, meta)
        return atoms, bound

    def compile_policy(self, policy: Policy) -> None:
        subject_conjs = dnf(policy.subject.where)
        plans: list[tuple[str, Any]] = [("applicable", TRUE)]
        for ref in policy.requires:
            missing = Test(ref.alias, ref.field, "missing", True, ANY, 0)
            plans.append((f"missing:{ref}", missing))
        if policy.when is TRUE:
            pass  # no 'when': the policy only checks applicability and required fields
        elif policy.doc.outcome == "review":
            plans.append(("review", policy.when))
        elif policy.review_if is TRUE:
            plans.append(("fail", policy.when))
        else:
            plans.append(("fail", All((policy.when, Not(policy.review_if)))))
            plans.append(("review", All((policy.when, policy.review_if))))
        review_texts = (
            {_absent_text(item) for conj in dnf(Not(policy.review_if)) for item in conj}
            if policy.review_if is not TRUE
            else set()
        )
        for role, condition in plans:
            conjs = self.expand(dnf(condition))
            if len(conjs) * len(subject_conjs) > 64:
                self.problems.append(
                    Problem(
                        policy.file,
                        policy.line,
                        f"condition expands to {len(conjs) * len(subject_conjs)} "
                        "rules (limit 64); simplify 'any'/'not' nesting",
                        record=f"policy '{policy.id}'",
                    )
                )
                return
            for subject_conj in subject_conjs:
                for conj in conjs:
                    base_role = role.split(":")[0]
                    # Applicability and missing-field rules name the subject pattern the
                    # same in every policy, so identical ones can be merged (fewer actions).
                    canonical = SUBJECT if base_role in ("applicable", "missing") else None
                    meta = RuleMeta(
                        self.new_name("p"),
                        base_role,
                        policy=policy.id,
                        subject=canonical or policy.subject.alias,
                        missing=role.split(":", 1)[1] if ":" in role else None,
                    )
                    needs_model = "model" in _conj_aliases(conj)
                    atoms, bound = self.subject_atoms(
                        policy, subject_conj, meta, needs_model, canonical
                    )
                    atoms += self.atoms_for(conj, bound, meta)
                    if base_role == "fail" and policy.review_if is not TRUE:
                        # "review_if did not hold" is not an absence the finding rests on
                        meta.absent = [a for a in meta.absent if a not in review_texts]
                    self.add_rule(meta, atoms)

    def compile_derivation(self, derivation: Derivation) -> None:
        for conj in self.expand(dnf(derivation.when)):
            meta = RuleMeta(self.new_name("d"), "derive", produces=derivation.id)
            model = Atom("model", "model", alias="model", literals=[{"partition_root": True}])
            bound: dict[str, Atom] = {"model": model}
            atoms = [model]
            meta.aliases.append("model")
            atoms += self.atoms_for(conj, bound, meta)
            meta.fields = {
                name: (bound[ref.alias].name, engine_field(ref.field))
                for name, ref in derivation.fields.items()
            }
            self.add_rule(meta, atoms)

    # -- strata -------------------------------------------------------------------

    def assign_strata(self) -> int:
        """Stratify negation: a rule with a ``$not`` on type T runs after everything that
        produces T. Rules with no negation are never gated (they are monotonic)."""
        strata: dict[str, int] = {}
        for _ in range(len(self.rules) + 2):
            changed = False
            for rule in self.rules:
                level = 0
                for atom in rule.atoms:
                    base = strata.get(atom.fact_type, 0)
                    level = max(level, base + 1 if atom.negated else base)
                if rule.meta.stratum != level:
                    rule.meta.stratum = level
                    changed = True
                if rule.meta.produces and strata.get(rule.meta.produces, 0) < level:
                    strata[rule.meta.produces] = level
                    changed = True
            if not changed:
                break
        else:
            self.problems.append(
                Problem("<policies>", None, "negation cycle between derivations (not stratifiable)")
            )
        top = max((r.meta.stratum for r in self.rules if r.meta.produces), default=0) + 1
        for rule in self.rules:
            if rule.meta.policy is not None:
                rule.gate = top
            elif any(a.negated for a in rule.atoms):
                rule.gate = rule.meta.stratum
        return top


def _absent_text(item: Any) -> str | None:
    """The absence description the compiler records for a DNF item, if any."""
    if isinstance(item, Aux):
        return describe_condition(item.condition)
    if isinstance(item, Not) and isinstance(item.item, Bind):
        return describe_absent(item.item)
    if isinstance(item, NegTest):
        return describe_condition(item.test)
    return None


def describe_absent(bind: Bind) -> str:
    tests = [t.describe() for conj in dnf(bind.where) for t in conj if isinstance(t, Test)]
    return f"no {bind.kind}" + (f" with {', '.join(tests)}" if tests else "")


def describe_condition(node: Any) -> str:
    if isinstance(node, Bind):
        if node.is_lineage:
            tests = [t.describe() for conj in dnf(node.where) for t in conj if isinstance(t, Test)]
            return (
                f"no ancestor {node.kind} of {node.origin} through "
                f"{'/'.join(node.via or ())}" + (f" with {', '.join(tests)}" if tests else "")
            )
        return describe_absent(node)
    if isinstance(node, Test):
        return f"not ({node.describe()})"
    if isinstance(node, All):
        return "not all of: " + "; ".join(describe_condition(i) for i in node.items)
    return "not (" + type(node).__name__ + ")"


# ----------------------------------------------------------------------------- output


def _expr_for(compiler: Compiler, rule: Rule) -> dict[str, Any]:
    names = {atom.alias or atom.name: atom.name for atom in rule.atoms if not atom.negated}
    names.update({atom.name: atom.name for atom in rule.atoms if not atom.negated})
    patterns: list[dict[str, Any]] = []
    if rule.gate is not None:
        # P7: negation is order-dependent; the gate fact, asserted after all base facts and
        # derivations, must be the first pattern.
        patterns.append({"g_": {"$and": [{"t": GATE}, {"stratum": rule.gate}]}})
    patterns += [compiler.pattern(atom, names) for atom in rule.atoms]
    # dist 0: two patterns may match the same fact (plain logic semantics; durable-rules'
    # default of 1 would also stop a negated test on a bound fact from ever matching it).
    return {"all": patterns, "cap": CAP, "dist": 0}


def _is_join(node: Any) -> bool:
    """Does this engine test compare with another pattern's field (``{field: {alias: f}}``)?"""
    if isinstance(node, list):
        return any(_is_join(item) for item in node)
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        if (
            not key.startswith("$")
            and isinstance(value, dict)
            and value
            and all(not k.startswith("$") and isinstance(v, str) for k, v in value.items())
        ):
            return True
        if _is_join(value):
            return True
    return False


# One test of an alpha chain: (key, field). ``key`` is the test's canonical JSON - identical
# literal tests at the same place share a node - or None for a join test, which never shares
# one. ``field`` is set for an equality test of one field with a scalar value: such tests on
# one field are mutually exclusive (a fact has one value there).
ChainTest = tuple[str | None, str | None]
Chain = tuple[ChainTest, ...]


def _chain_test(test: Any) -> ChainTest:
    if _is_join(test):
        return None, None
    fieldname = None
    if isinstance(test, dict) and len(test) == 1:
        ((name, value),) = test.items()
        if not name.startswith("$") and not isinstance(value, dict | list | tuple):
            fieldname = name
    return json.dumps(test, sort_keys=True), fieldname


def alpha_chains(rule: dict[str, Any]) -> tuple[Chain, ...]:
    """The alpha chains of one engine rule (one per pattern: its tests, in order); computed
    once per rule, then added to as many :class:`AlphaLoad` as the packer tries."""
    chains = []
    for pattern in rule["all"]:
        ((_alias, expr),) = pattern.items()
        chains.append(tuple(_chain_test(test) for test in expr.get("$and", [expr])))
    return tuple(chains)


class _AlphaNode:
    __slots__ = ("children", "ends", "field", "need")

    def __init__(self, fieldname: str | None) -> None:
        self.children: dict[Any, _AlphaNode] = {}
        self.field = fieldname  # see ChainTest
        self.ends = 0  # patterns of rules that end here
        self.need: int | None = None  # the stack this subtree needs (None: not computed)


class AlphaLoad:
    """An estimate of the alpha network durable-rules builds for a set of rules: each pattern
    is a chain of its tests in order; identical literal tests at the same place share a node,
    join tests never do. It gives the two numbers the engine's limits are about: the peak of
    its alpha stack for one fact, and the most rules ending on one node.

    Rules are added one at a time; inside :meth:`trial` additions are undone afterwards, so a
    packer can ask whether more rules would fit without rebuilding the network."""

    def __init__(self) -> None:
        self.root = _AlphaNode(None)
        self.ends = 0
        self._unique = itertools.count()
        self._undo: list[tuple[_AlphaNode, Any]] | None = None

    def add(self, chains: tuple[Chain, ...]) -> None:
        """Add one rule, given as its :func:`alpha_chains`."""
        for chain in chains:
            node = self.root
            node.need = None
            for key, fieldname in chain:
                if key is None:
                    key = ("join", next(self._unique))
                child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _AlphaNode(fieldname)
                    self._log(node, key)
                child.need = None
                self._log(child, "")
                node = child
            node.ends += 1
            self._log(node, None)
            self.ends = max(self.ends, node.ends)

    def _log(self, node: _AlphaNode, change: Any) -> None:
        # change: a child key created under node | "" (node's need cleared) | None (an end)
        if self._undo is not None:
            self._undo.append((node, change))

    @contextlib.contextmanager
    def trial(self) -> Iterator[AlphaLoad]:
        """Rules added inside the ``with`` block are taken out again at its end."""
        if self._undo is not None:
            raise RuntimeError("trials do not nest")
        ends, self._undo = self.ends, []
        try:
            yield self
        finally:
            for node, change in reversed(self._undo):
                node.need = None  # every node on a changed path: computed during the trial
                if change is None:
                    node.ends -= 1
                elif change:
                    del node.children[change]
            self.root.need = None
            self.ends, self._undo = ends, None

    def widest(self) -> int:
        """The peak of the engine's alpha stack for one fact, worst case. durable-rules walks
        the alpha network depth first with a 64-entry stack (error 303 past it): a node
        pushes every child the fact satisfies, then the last pushed is expanded while its
        siblings wait. Equality tests on one field are mutually exclusive (a fact has one
        ``t``); everything else (joins, ranges, existence tests) is assumed to match. Only
        the paths changed since the last call are recomputed."""

        def need(node: _AlphaNode) -> int:
            if node.need is not None:
                return node.need
            by_field: dict[str, int] = {}
            needs: list[int] = []
            for child in node.children.values():
                child_need = need(child)
                if child.field is not None:
                    by_field[child.field] = max(by_field.get(child.field, 0), child_need)
                else:
                    needs.append(child_need)
            needs += by_field.values()
            node.need = max(len(needs), len(needs) - 1 + max(needs)) if needs else 0
            return node.need

        return need(self.root) + 1

    def fits(self) -> bool:
        return self.widest() <= MAX_ALPHA_FANOUT and self.ends <= MAX_RULES_PER_ALPHA


def compile_policies(policy_set: PolicySet, as_of: dt.date) -> CompiledPolicies:
    """Compile the enabled policies of ``policy_set`` for evaluation as of ``as_of``."""
    compiler = Compiler(as_of)
    for derivation in policy_set.derivations:
        compiler.compile_derivation(derivation)
    policy_rules: dict[str, list[Rule]] = {}
    for policy in policy_set.enabled:
        start = len(compiler.rules)
        compiler.compile_policy(policy)
        policy_rules[policy.id] = compiler.rules[start:]
    strata = compiler.assign_strata()
    by_id = policy_set.by_id()
    derivations = {d.id: d for d in policy_set.derivations}
    for rule in compiler.rules:
        joined = sum(1 for atom in rule.atoms if not atom.negated) + (rule.gate is not None)
        if joined <= MAX_JOINED:
            continue
        owner = by_id.get(rule.meta.policy or "") or derivations.get(rule.meta.produces or "")
        if owner is not None:
            noun = "policy" if rule.meta.policy in by_id else "derivation"
            label = f"{noun} '{owner.id}'"
            compiler.problems.append(
                Problem(
                    owner.file,
                    owner.line,
                    f"a rule of this condition joins {joined} records; the engine's limit is "
                    f"{MAX_JOINED} (error 304): split the condition or use a derivation",
                    record=label,
                )
            )
    if compiler.problems:
        raise CompileError(compiler.problems, "policies cannot be compiled")
    # Support rules (derivations, reach, aux) are shared; every shard gets the ones its
    # policies need, so each shard evaluates independently.
    needs = _support_closure(compiler)
    exprs = {id(rule): _expr_for(compiler, rule) for rule in compiler.rules}
    # One engine rule for identical applicability / missing-field rules of several policies.
    seen: dict[str, Rule] = {}
    for policy_id, rules in policy_rules.items():
        kept = []
        for rule in rules:
            if rule.meta.role not in ("applicable", "missing"):
                kept.append(rule)
                continue
            signature = json.dumps(exprs[id(rule)], sort_keys=True)
            first = seen.get(signature)
            if first is None:
                seen[signature] = rule
                kept.append(rule)
            else:
                first.meta.also.append(rule.meta)
        policy_rules[policy_id] = kept
    # Pack policies into as few rulesets as the engine's limits allow, placing each where
    # the derivations it needs already are (a shard recomputes every derivation it holds,
    # so spreading them costs time on every model). Policies with the most support rules
    # are placed first; a policy too large for one ruleset is placed rule by rule.
    units = [rules for rules in policy_rules.values() if rules]
    units.sort(key=lambda rules: -len(_deps_of(rules, needs)))
    packer = _Packer(exprs)
    for rules in units:
        wanted = list(dict.fromkeys(rules + _deps_of(rules, needs)))
        if packer.place(wanted):
            continue
        if len(rules) > 1 and not packer.fits(wanted):
            for rule in rules:
                single = list(dict.fromkeys([rule, *_deps_of([rule], needs)]))
                if not packer.place(single):
                    packer.open(single)
        else:
            packer.open(wanted)
    out: list[Shard] = []
    digest = hashlib.sha256()
    for index, rules in enumerate(packer.shards or [[]]):
        ruleset: dict[str, Any] = {}
        metas: dict[str, RuleMeta] = {}
        for rule in rules:
            ruleset[rule.meta.name] = exprs[id(rule)]
            metas[rule.meta.name] = rule.meta
        # Fires once per session at the last gate: proves the partition's facts reached the
        # engine (a fact it cannot parse is dropped without an error, so the root model must
        # be seen), and guarantees an action ran before delete_state (P3).
        ruleset["$root"] = {
            "all": [
                {"g_": {"$and": [{"t": GATE}, {"stratum": strata}]}},
                {"m": {"$and": [{"t": "model"}, {"partition_root": True}]}},
            ]
        }
        ruleset["$keep"] = _FIXED_RULES["$keep"]
        name = f"shard{index}"
        digest.update(json.dumps(ruleset, sort_keys=True, default=str).encode())
        shard = Shard(name, ruleset, metas)
        shard.types = frozenset(fact_fields([shard]))
        shard.gates = tuple(sorted({r.gate for r in rules if r.gate is not None} | {strata}))
        out.append(shard)
    regexes: dict[str, set[tuple[str, str, str]]] = {}
    for rule in compiler.rules:
        for atom in rule.atoms:
            for test in atom.tests:
                if test.op == "regex":
                    name = engine_field(test.field)
                    regexes.setdefault(atom.fact_type, set()).add(
                        (name, test.value, regex_field(name, test.value))
                    )
    return CompiledPolicies(
        policy_set,
        as_of,
        out,
        strata,
        compiler.member_fields,
        digest.hexdigest(),
        fact_fields(out),
        {kind: sorted(specs) for kind, specs in regexes.items()},
    )


def _pattern_type(expr: Any) -> str | None:
    if isinstance(expr, dict):
        if isinstance(expr.get("t"), str):
            return expr["t"]
        for part in expr.get("$and", []):
            found = _pattern_type(part)
            if found:
                return found
    return None


def _fields_in(expr: Any, names: dict[str, str], out: dict[str, set[str]], own: str) -> None:
    """Collect the fields an engine expression reads, on its own fact and on joined ones."""
    if isinstance(expr, list):
        for item in expr:
            _fields_in(item, names, out, own)
        return
    if not isinstance(expr, dict):
        return
    for key, value in expr.items():
        if key.startswith("$"):
            _fields_in(value, names, out, own)
            continue
        out.setdefault(own, set()).add(key)
        if isinstance(value, dict):
            for other, other_field in value.items():
                if other in names and isinstance(other_field, str):
                    out.setdefault(names[other], set()).add(other_field)


def fact_fields(shards: list[Shard]) -> dict[str, frozenset[str]]:
    """For each fact type any rule reads, the engine fields the rules (and their actions)
    read: the facts builder asserts nothing else."""
    out: dict[str, set[str]] = {"model": {"partition_root"}}
    for shard in shards:
        for name, rule in shard.ruleset.items():
            names: dict[str, str] = {}
            for pattern in rule["all"]:
                ((alias, expr),) = pattern.items()
                fact_type = _pattern_type(expr)
                if fact_type:
                    names[alias.removesuffix("$not")] = fact_type
            for pattern in rule["all"]:
                ((alias, expr),) = pattern.items()
                own = names.get(alias.removesuffix("$not"))
                if own:
                    _fields_in(expr, names, out, own)
            meta = shard.rules.get(name)
            if meta is None:
                continue
            for pattern, fieldname in meta.fields.values():
                if pattern in names:
                    out.setdefault(names[pattern], set()).add(fieldname)
            if meta.role == "reach-step":
                out.setdefault("lineage", set()).update({"parent", "child", "key"})
    return {t: frozenset(f) for t, f in out.items() if not t.startswith("$reach")}


# In every ruleset: the catch-all that stores facts no rule matches (P3.3), and the shape of
# the $root sentinel (its stratum differs per policy set; the estimate does not care).
_FIXED_RULES: dict[str, dict[str, Any]] = {
    "$keep": {"all": [{"x_": {"$ex": {"t": 1}}}, {"y_": {"t": "$never$"}}]},
    "$root": {
        "all": [
            {"g_": {"$and": [{"t": GATE}, {"stratum": 0}]}},
            {"m": {"$and": [{"t": "model"}, {"partition_root": True}]}},
        ]
    },
}


_FIXED_CHAINS = [alpha_chains(rule) for rule in _FIXED_RULES.values()]


class _Packer:
    """Packs rules into shards within the engine's limits. Each rule's alpha chains are
    computed once and each shard keeps its :class:`AlphaLoad`, so trying a shard costs only
    the rules that would be added to it."""

    def __init__(self, exprs: dict[int, dict[str, Any]]) -> None:
        self.chains = {key: alpha_chains(expr) for key, expr in exprs.items()}
        self.shards: list[list[Rule]] = []
        self._members: list[set[int]] = []  # id() of the rules of each shard
        self._loads: list[AlphaLoad] = []

    def _load(self, rules: list[Rule]) -> AlphaLoad:
        load = AlphaLoad()
        for chains in [*_FIXED_CHAINS, *(self.chains[id(rule)] for rule in rules)]:
            load.add(chains)
        return load

    def fits(self, rules: list[Rule]) -> bool:
        """Would ``rules`` fit in one shard of their own?"""
        return self._load(rules).fits()

    def open(self, rules: list[Rule]) -> None:
        """Start a new shard with ``rules``."""
        self.shards.append(rules)
        self._members.append({id(rule) for rule in rules})
        self._loads.append(self._load(rules))

    def place(self, wanted: list[Rule]) -> bool:
        """Add ``wanted`` to the shard where it fits and needs the fewest new support rules."""
        options = []
        for index, (members, load) in enumerate(zip(self._members, self._loads, strict=True)):
            added = [rule for rule in wanted if id(rule) not in members]
            with load.trial():
                for rule in added:
                    load.add(self.chains[id(rule)])
                fits = load.fits()
            if fits:
                options.append((sum(1 for r in added if r.meta.policy is None), index, added))
        if not options:
            return False
        _cost, index, added = min(options, key=lambda option: option[:2])
        self.shards[index] += added
        for rule in added:
            self._members[index].add(id(rule))
            self._loads[index].add(self.chains[id(rule)])
        return True


def _support_closure(compiler: Compiler) -> dict[str, list[Rule]]:
    """For each derived type, every support rule needed to produce it (transitively)."""
    needs: dict[str, list[Rule]] = {}
    for fact_type in compiler.producers:
        seen: list[Rule] = []
        stack = [fact_type]
        visited: set[str] = set()
        while stack:
            current = stack.pop()
            if current in visited:
                continue
            visited.add(current)
            for rule in compiler.producers.get(current, []):
                if rule not in seen:
                    seen.append(rule)
                for atom in rule.atoms:
                    if atom.fact_type in compiler.producers:
                        stack.append(atom.fact_type)
        needs[fact_type] = seen
    return needs


def _deps_of(rules: list[Rule], needs: dict[str, list[Rule]]) -> list[Rule]:
    out: list[Rule] = []
    for rule in rules:
        for atom in rule.atoms:
            for dep in needs.get(atom.fact_type, []):
                if dep not in out:
                    out.append(dep)
    return out
