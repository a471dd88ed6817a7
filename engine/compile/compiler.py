"""Compile validated policies into durable-rules rulesets (the "compile" stage).

Every policy becomes a handful of Rete rules; the engine does all matching:

* ``applicable`` - the subject exists and its ``where`` holds (else the outcome is
  ``not_applicable``);
* ``missing`` - one per ``requires`` field: the field is absent (``indeterminate``);
* ``fail`` / ``review`` - one rule per disjunct of ``when`` (and of ``review_if``).

Conditions are brought into disjunctive normal form (:mod:`aigov.compile.dnf`); each
disjunct is an ordered list of patterns. Negation of one record test becomes a ``$not``
pattern; negation of anything larger (an absent approval that must cover three list fields,
a lineage path that must not exist) becomes an auxiliary derived fact plus a ``$not`` on
it, stratified so that a negation is only evaluated once everything it depends on has been
derived. Lineage bindings become patterns on ``reach`` facts (origin, node, depth), one
fact type per set of relations walked; the evaluator computes them before the engine runs
(:mod:`aigov.evaluate.reach`), only from origins some rule can bind, and keeps each one's
witness path outside the engine. Each operator's engine form is in :mod:`aigov.policy.operators`.

The output is plain data (:mod:`aigov.compile.rules`): JSON-serialisable rulesets, packed
into shards by :mod:`aigov.compile.shards`, plus a table of rule metadata; the evaluator
attaches the actions. Compiler rules that work around engine defects are marked
"P<n>" (or "A<n>") below; docs/engine-notes.md describes each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
from typing import Any

from aigov.compile.dnf import (
    Aux,
    Conjunction,
    Item,
    NegTest,
    conj_aliases,
    dnf,
    expand,
    host_checked,
    list_join,
    ordering_join,
)
from aigov.compile.partial_dates import partial_fields, rewrite
from aigov.compile.rules import (
    KEEP_RULE,
    KNOWN_UNKNOWN,
    REACH,
    UNDECIDED,
    Atom,
    CompiledPolicies,
    HostCheck,
    ReachSpec,
    Rule,
    RuleMeta,
    Shard,
    gate_pattern,
    root_rule,
)
from aigov.compile.shards import (
    fact_fields,
    pack,
    support_closure,
)
from aigov.errors import InputError, Problem
from aigov.policy.ast import (
    TRUE,
    All,
    AnyOf,
    AsOf,
    Bind,
    Condition,
    Derivation,
    Not,
    Policy,
    PolicySet,
    Ref,
    Test,
    tests_in,
)
from aigov.policy.operators import OPERATORS, literal_pattern, regex_field
from aigov.policy.schema import ANY, STR, FieldType, engine_field, engine_number

KEY = STR  # the type of the internal joins on record keys
SUBJECT = "s_"  # the subject's pattern name in applicability and missing-field rules
MEMBER = "$member"
CAP = 1000  # matches handed to one action call (durable-rules ``cap``)
MAX_JOINED = 16  # facts one rule may join (error 304 at run time beyond it)


class CompileError(InputError):
    pass


def _require(atom: Atom, fieldname: str) -> None:
    guard = {"$ex": {engine_field(fieldname): 1}}
    if guard not in atom.literals:
        atom.literals.append(guard)


def _lineage_origin(bind: Bind) -> str:
    """The alias a lineage binding walks up from (the parser always sets it)."""
    if bind.origin is None:  # pragma: no cover - parser.parse_bind gives every lineage one
        raise TypeError(f"lineage binding {bind.alias!r} (line {bind.line}) has no origin")
    return bind.origin


class Compiler:
    def __init__(self, as_of: dt.date):
        self.as_of = as_of
        self.rules: list[Rule] = []
        self.problems: list[Problem] = []
        self.member_fields: set[tuple[str, str]] = set()
        self.reaches: dict[str, ReachSpec] = {}
        self.producers: dict[str, list[Rule]] = {}
        self.counter = itertools.count()
        # (file, "policy 'ID'") of the policy or derivation being compiled
        self.origin = ("", "")

    # -- values -------------------------------------------------------------------

    def literal(self, value: Any) -> Any:
        """A literal operand in engine form (dates as day numbers; a tuple item by item)."""
        if isinstance(value, tuple):
            return tuple(self.literal(item) for item in value)
        if isinstance(value, AsOf):
            return self.as_of.toordinal() + value.days
        if isinstance(value, dt.date):
            return value.toordinal()
        return engine_number(value)

    def test_expr(self, test: Test, names: dict[str, str]) -> tuple[list[Any], list[Any]]:
        """(literal expressions, join expressions) for one positive test."""
        fieldname = engine_field(test.field)
        value = test.value
        operator = OPERATORS[test.op]
        if isinstance(value, Ref):
            if list_join(test):
                raise AssertionError("a list join is compiled as a member pattern")
            target = {names[value.alias]: engine_field(value.field)}
            return [], operator.engine(fieldname, target)
        computed = literal_pattern(test.op, test.ftype.kind, value, test.ignore_case)
        if computed is not None:  # evaluated by the facts builder (see compile_policies)
            pattern, holds = computed
            return [{regex_field(fieldname, pattern): holds}], []
        return operator.engine(fieldname, self.literal(value)), []

    def pattern(self, atom: Atom, names: dict[str, str]) -> dict[str, Any]:
        """The engine expression: type first, then plain literal tests, then joins, then
        disjunctions (order matters to durable-rules, see ``_in`` in aigov.policy.operators)."""
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

    def atoms_for(self, conj: Conjunction, bound: dict[str, Atom], meta: RuleMeta) -> list[Atom]:
        """Atoms for one conjunction; ``bound`` maps aliases already bound to their atom."""
        atoms: list[Atom] = []
        for item in conj:
            if isinstance(item, Bind):
                atoms += self.bind_atoms(item, bound, meta)
            elif isinstance(item, Test):
                self.attach_test(item, bound, atoms, meta)
            elif isinstance(item, NegTest) and host_checked(item.test):
                self.add_check(item.test, bound, meta, negated=True)
            elif isinstance(item, NegTest):
                atoms.append(self.neg_test_atom(item.test, bound, meta))
            elif isinstance(item, Not):
                if not isinstance(item.item, Bind):  # pragma: no cover - see dnf._negate
                    raise TypeError(f"a DNF negation holds only a binding, got {item.item!r}")
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
        if host_checked(test):
            self.add_check(test, bound, meta, negated=False)
            return
        meta.use(test.alias, test.field)
        ref = test.value
        if not isinstance(ref, Ref):
            self.add_test(bound[test.alias], test, bound)
            return
        meta.use(ref.alias, ref.field)
        if list_join(test):
            self.member_atom(test, bound, atoms)
            return
        order = list(bound)
        if order.index(ref.alias) > order.index(test.alias):
            mirror = OPERATORS[test.op].mirror
            if mirror is None:  # pragma: no cover - the parser allows joins only with these
                raise TypeError(f"operator {test.op!r} (line {test.line}) has no mirror")
            swapped = Test(
                ref.alias,
                ref.field,
                mirror,
                Ref(test.alias, test.field),
                test.ftype,
                test.line,
            )
            self.add_test(bound[ref.alias], swapped, bound)
        else:
            self.add_test(bound[test.alias], test, bound)

    def add_check(self, test: Test, bound: dict[str, Atom], meta: RuleMeta, negated: bool) -> None:
        """A test the engine cannot make (a string against part of another fact's string, a
        list against a list, ``ignore_case`` against a reference) becomes a post-filter the
        host evaluates on each match of this rule. Sound because a rule's match binds one fact
        per pattern, so the test is a plain function of the match; a negated test filters the
        other way. A test inside an absence never gets here: the absence becomes an aux rule
        (see dnf._simple_negation), whose own matches are filtered before it derives."""
        meta.use(test.alias, test.field)
        ref = test.value
        ref_at: tuple[str, str] | None = None
        operand: Any = None
        if isinstance(ref, Ref):
            meta.use(ref.alias, ref.field)
            ref_at = (bound[ref.alias].name, engine_field(ref.field))
        else:
            operand = self.literal(ref)
            operand = list(operand) if isinstance(operand, tuple) else operand
        meta.checks.append(
            HostCheck(
                bound[test.alias].name,
                engine_field(test.field),
                test.op,
                operand,
                ref_at,
                test.ignore_case,
                negated,
                f"{self.origin[0]}:{test.line}: {self.origin[1]}",
                test.describe(),
            )
        )

    def add_test(self, atom: Atom, test: Test, bound: dict[str, Atom]) -> None:
        """Put a test on a positive pattern. An ordering join (ne/lt/le/gt/ge against another
        record's field) aborts the engine with error 311 when either field is missing, so
        both patterns also require their field to exist - the comparison would be false
        anyway, so this changes no result."""
        atom.tests.append(test)
        if ordering_join(test):
            _require(atom, test.field)
            ref = test.value
            assert isinstance(ref, Ref)  # ordering_join holds only for joins
            if ref.field != "id":
                _require(bound[ref.alias], ref.field)

    def member_atom(self, test: Test, bound: dict[str, Atom], atoms: list[Atom]) -> None:
        """``x.list contains y.f`` as a membership fact joined to both (the engine cannot
        join inside an array)."""
        kind = bound[test.alias].fact_type
        fieldname = engine_field(test.field)
        self.member_fields.add((kind, fieldname))
        atom = Atom(self.new_name("m"), MEMBER, literals=[{"field": fieldname}])
        ref = test.value
        assert isinstance(ref, Ref)  # only called for list joins (see list_join)
        atom.tests.append(Test("", "owner", "eq", Ref(test.alias, "id"), test.ftype, test.line))
        atom.tests.append(Test("", "value", "eq", ref, test.ftype, test.line))
        atoms.append(atom)

    def bind_atoms(self, bind: Bind, bound: dict[str, Atom], meta: RuleMeta) -> list[Atom]:
        conjs = dnf(bind.where)
        if len(conjs) != 1:  # only reached through dnf() splitting, see expand
            raise AssertionError("bind with disjunctive where must be expanded first")
        atoms: list[Atom] = []
        if bind.is_lineage:
            reach_type = self.reach_type(bind, bound)
            reach = Atom(self.new_name("r"), REACH, literals=[{reach_type: True}])
            meta.walks[reach.name] = reach_type
            origin = _lineage_origin(bind)
            reach.tests.append(Test("", "origin", "eq", Ref(origin, "id"), KEY, bind.line))
            if bind.min_depth:
                reach.literals.append({"$gte": {"depth": bind.min_depth}})
            atoms.append(reach)
            meta.reach[bind.alias] = reach.name
        atom = Atom(bind.alias, bind.kind, alias=bind.alias)
        if bind.is_lineage:
            atom.reach = reach_type
            atom.tests.append(
                Test(bind.alias, "id", "eq", Ref(atoms[0].name, "node"), KEY, bind.line)
            )
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
        if list_join(test) or ordering_join(test):
            ref = test.value
            assert isinstance(ref, Ref)  # both kinds of test are joins
            outer = tuple(sorted({test.alias, ref.alias}))
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
            if not isinstance(test, Test):  # pragma: no cover - see dnf._simple_negation
                raise TypeError(f"a simple negation holds only plain tests, got {test!r}")
            atom.tests.append(test)
        meta.absent.append(describe_absent(bind))
        return [atom]

    def aux_atom(self, aux: Aux, bound: dict[str, Atom], meta: RuleMeta) -> Atom:
        """not(C) for a complex C: derive ``$aux`` facts for C, then ``$not`` on them."""
        aux_type = f"$aux{next(self.counter)}"
        fields = {f"a_{alias}": alias for alias in aux.outer}
        for conj in expand(dnf(aux.condition)):
            rule_meta = RuleMeta(self.new_name("x"), "aux", produces=aux_type)
            rebound: dict[str, Atom] = {}
            atoms: list[Atom] = []
            for alias in aux.outer:
                kind = bound[alias].fact_type
                # the aux fact is only read for the outer records the rule has bound, so a
                # lineage walk from one starts only where the outer binding's walk reached
                outer = Atom(alias, kind, alias=alias, reach=bound[alias].reach)
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
        via, origin = bind.via, _lineage_origin(bind)
        if via is None:  # pragma: no cover - only lineage bindings reach here
            raise TypeError(f"binding {bind.alias!r} (line {bind.line}) is not a lineage binding")
        origin_atom = bound[origin]
        is_root = {"partition_root": True} in origin_atom.literals
        origin_kind = "root" if is_root else origin_atom.fact_type
        digest = hashlib.sha1(json.dumps([via, origin_kind]).encode()).hexdigest()[:8]
        reach_type = f"walk_{digest}"
        spec = self.reaches.setdefault(reach_type, ReachSpec(tuple(via), origin_kind))
        if is_root:
            spec.sources.add("root")
        elif origin_atom.reach is not None:
            spec.sources.add(f"reach:{origin_atom.reach}")
        else:
            spec.sources.add(f"kind:{origin_atom.fact_type}")
        spec.start = spec.start or bind.min_depth == 0
        return reach_type

    # -- rule assembly ------------------------------------------------------------

    def add_rule(self, meta: RuleMeta, atoms: list[Atom]) -> Rule:
        rule = Rule(meta, atoms, None)
        self.rules.append(rule)
        if meta.produces:
            self.producers.setdefault(meta.produces, []).append(rule)
        return rule

    def subject_atoms(
        self,
        policy: Policy,
        conj: Conjunction,
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
        self.origin = (policy.file, f"policy '{policy.id}'")
        # Dates known to the month or year only are tested in three values (see
        # aigov.compile.partial_dates): applicability, gaps and the undecided outcome take the
        # possible form of every test, a fail or a review only the certain form.
        partial = partial_fields(policy.subject.where, policy.when, policy.review_if)
        subject_conjs = {
            certain: dnf(rewrite(policy.subject.where, certain)) for certain in (True, False)
        }
        plans: list[tuple[str, Condition]] = [("applicable", TRUE)]
        for requirement in policy.requires:
            ref = requirement.field
            missing = Test(ref.alias, ref.field, "missing", True, ANY, 0)
            plans.append((f"missing:{ref}", All((requirement.when, missing))))
        # A field of the subject (or of its model) that the policy reads and that is known
        # to be unknown makes the outcome a review: neither a pass nor a fail can rest on it,
        # and a person must judge (blocking, so that recording a fact as unknown can never
        # turn a DENY into an ALLOW). Bound records' unknowns are each policy's own
        # business: see review_if.
        subject_aliases = {policy.subject.alias, "model"}
        read = _fields_read(policy.when, subject_aliases) | _fields_read(
            policy.review_if, subject_aliases
        )
        read |= {(r.field.alias, r.field.field.split(".")[0]) for r in policy.requires}
        for alias, fieldname in sorted(read):
            unknown = Test(alias, "unknown", "contains", fieldname, UNKNOWN_LIST, 0)
            # only where the policy could hold whatever the field's value: a licence known
            # to be unknown is nothing to review for a policy about a base model the model
            # does not have
            could_hold = _whatever(policy.when, alias, fieldname, True)
            plans.append(
                (f"missing:{alias}.{fieldname}{KNOWN_UNKNOWN}", All((unknown, could_hold)))
            )
        if policy.when is TRUE:
            pass  # no 'when': the policy only checks applicability and required fields
        elif policy.doc.outcome == "review":
            plans.append(("review", policy.when))
        elif policy.review_if is TRUE:
            plans.append(("fail", policy.when))
        else:
            plans.append(("fail", All((policy.when, Not(policy.review_if)))))
            plans.append(("review", All((policy.when, policy.review_if))))
        if partial and policy.when is not TRUE:
            plans.append((f"undecided:{UNDECIDED.format(', '.join(partial))}", policy.when))
        review_texts = (
            {_absent_text(item) for conj in dnf(Not(policy.review_if)) for item in conj}
            if policy.review_if is not TRUE
            else set()
        )
        for role, condition in plans:
            certain = role in ("fail", "review")
            conjs = expand(dnf(rewrite(condition, certain)))
            subjects = subject_conjs[certain]
            if len(conjs) * len(subjects) > 64:
                self.problems.append(
                    Problem(
                        policy.file,
                        policy.line,
                        f"condition expands to {len(conjs) * len(subjects)} "
                        "rules (limit 64); simplify 'any'/'not' nesting",
                        record=f"policy '{policy.id}'",
                    )
                )
                return
            for subject_conj in subjects:
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
                    needs_model = "model" in conj_aliases(conj)
                    atoms, bound = self.subject_atoms(
                        policy, subject_conj, meta, needs_model, canonical
                    )
                    atoms += self.atoms_for(conj, bound, meta)
                    if base_role == "fail" and policy.review_if is not TRUE:
                        # "review_if did not hold" is not an absence the finding rests on
                        meta.absent = [a for a in meta.absent if a not in review_texts]
                    self.add_rule(meta, atoms)

    def compile_derivation(self, derivation: Derivation) -> None:
        self.origin = (derivation.file, f"derivation '{derivation.id}'")
        for conj in expand(dnf(derivation.when)):
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


UNKNOWN_LIST = FieldType("list", item=STR)


_FALSE = AnyOf(())


def _whatever(node: Condition, alias: str, fieldname: str, positive: bool) -> Condition:
    """``node`` holding for some value of ``alias.fieldname``: each test of that field (or
    against it, by reference) becomes true where it counts for the condition and false under
    a negation (the possible form, as for partial dates in aigov.compile.partial_dates)."""
    if isinstance(node, Test):
        ref = node.value
        tests_field = node.alias == alias and node.field.split(".")[0] == fieldname
        by_reference = (
            isinstance(ref, Ref) and ref.alias == alias and ref.field.split(".")[0] == fieldname
        )
        if tests_field or by_reference:
            return TRUE if positive else _FALSE
        return node
    if isinstance(node, All):
        return All(tuple(_whatever(item, alias, fieldname, positive) for item in node.items))
    if isinstance(node, AnyOf):
        return AnyOf(tuple(_whatever(item, alias, fieldname, positive) for item in node.items))
    if isinstance(node, Not):
        return Not(_whatever(node.item, alias, fieldname, not positive))
    if isinstance(node, Bind):
        return dataclasses.replace(node, where=_whatever(node.where, alias, fieldname, positive))
    raise TypeError(node)  # pragma: no cover - Condition has no other members


def _fields_read(node: Condition, aliases: set[str]) -> set[tuple[str, str]]:
    """The (alias, top-level field) pairs of ``aliases`` that ``node`` tests, except tests
    of confidence and of the unknown list itself."""
    return {
        (test.alias, top)
        for test in tests_in(node)
        if test.alias in aliases
        and (top := test.field.split(".")[0]) not in ("unknown", "confidence", "confidence_of")
    }


def _absent_text(item: Item) -> str | None:
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


def describe_condition(node: Condition) -> str:
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
        patterns.append(gate_pattern(rule.gate))
    patterns += [compiler.pattern(atom, names) for atom in rule.atoms]
    # dist 0: two patterns may match the same fact (plain logic semantics; durable-rules'
    # default of 1 would also stop a negated test on a bound fact from ever matching it).
    return {"all": patterns, "cap": CAP, "dist": 0}


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
    needs = support_closure(compiler.producers)
    exprs = {id(rule): _expr_for(compiler, rule) for rule in compiler.rules}
    # One engine rule for identical applicability / missing-field rules of several policies.
    seen: dict[str, Rule] = {}
    for policy_id, rules in policy_rules.items():
        kept = []
        for rule in rules:
            if rule.meta.role not in ("applicable", "missing"):
                kept.append(rule)
                continue
            checks = [dataclasses.astuple(check)[:-2] for check in rule.meta.checks]
            signature = json.dumps([exprs[id(rule)], checks], sort_keys=True, default=str)
            first = seen.get(signature)
            if first is None:
                seen[signature] = rule
                kept.append(rule)
            else:
                first.meta.also.append(rule.meta)
        policy_rules[policy_id] = kept
    packed = pack([rules for rules in policy_rules.values() if rules], needs, exprs)
    out: list[Shard] = []
    digest = hashlib.sha256()
    for index, rules in enumerate(packed or [[]]):
        ruleset: dict[str, Any] = {}
        metas: dict[str, RuleMeta] = {}
        for rule in rules:
            ruleset[rule.meta.name] = exprs[id(rule)]
            metas[rule.meta.name] = rule.meta
        ruleset["$root"] = root_rule(strata)
        ruleset["$keep"] = KEEP_RULE
        name = f"shard{index}"
        digest.update(json.dumps(ruleset, sort_keys=True, default=str).encode())
        rule_checks = {n: [dataclasses.astuple(c) for c in m.checks] for n, m in metas.items()}
        digest.update(json.dumps(rule_checks, sort_keys=True, default=str).encode())
        shard = Shard(name, ruleset, metas)
        shard.types = frozenset(fact_fields([shard]))
        shard.walks = frozenset(w for meta in metas.values() for w in meta.walks.values())
        shard.gates = tuple(sorted({r.gate for r in rules if r.gate is not None} | {strata}))
        out.append(shard)
    # Tests the facts builder evaluates itself (RE2 patterns): (engine field, pattern, result
    # field)
    regexes: dict[str, set[tuple[str, str, str]]] = {}
    for rule in compiler.rules:
        for atom in rule.atoms:
            for test in atom.tests:
                if isinstance(test.value, Ref):
                    continue
                computed = literal_pattern(test.op, test.ftype.kind, test.value, test.ignore_case)
                if computed is not None:
                    name, pattern = engine_field(test.field), computed[0]
                    regexes.setdefault(atom.fact_type, set()).add(
                        (name, pattern, regex_field(name, pattern))
                    )
    reaches = dict(sorted(compiler.reaches.items()))
    for reach_type, spec in reaches.items():
        digest.update(json.dumps([reach_type, spec.via, sorted(spec.sources), spec.start]).encode())
    fields = {t: f for t, f in fact_fields(out).items() if t != REACH}
    if reaches:  # the walks read every edge, whether or not a rule reads lineage facts
        fields["lineage"] = fields.get("lineage", frozenset()) | {"child", "parent", "relation"}
    return CompiledPolicies(
        policy_set,
        as_of,
        out,
        strata,
        compiler.member_fields,
        digest.hexdigest(),
        fields,
        {kind: sorted(specs) for kind, specs in regexes.items()},
        reaches,
    )
