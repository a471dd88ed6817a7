"""Shard packing: rules into as few rulesets as durable-rules' limits allow.

durable-rules fails at run time (error 303) when one fact satisfies more than 64 children of
one alpha node, and at compile time (error 108) past 256 rules on one alpha node; shards
keep well below both (P5/P6), using an estimate of the alpha network each ruleset builds
(:class:`AlphaLoad`). Every shard evaluates independently, so it holds the support rules
(derivations, reach, aux) its policies need.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

from aigov.compile.rules import KEEP_RULE, Rule, Shard, root_rule

MAX_ALPHA_FANOUT = 56
MAX_RULES_PER_ALPHA = 200


# ----------------------------------------------------------------------------- alpha network


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
            for test_key, fieldname in chain:
                key = ("join", next(self._unique)) if test_key is None else test_key
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


# ----------------------------------------------------------------------------- packing

# The rules every ruleset holds besides its own (the $root stratum differs per policy set;
# the estimate does not care).
_FIXED_CHAINS = [alpha_chains(KEEP_RULE), alpha_chains(root_rule(0))]


def pack(
    units: list[list[Rule]], needs: dict[str, list[Rule]], exprs: dict[int, dict[str, Any]]
) -> list[list[Rule]]:
    """Pack policies (``units``: each policy's rules) into as few shards as the engine's
    limits allow, placing each where the support rules it needs already are (a shard
    recomputes every derivation it holds, so spreading them costs time on every model).
    Policies with the most support rules are placed first; a policy too large for one
    ruleset is placed rule by rule. ``needs`` is :func:`support_closure`; ``exprs`` holds
    each rule's engine form, by ``id()`` of the rule."""
    units = sorted(units, key=lambda rules: -len(_deps_of(rules, needs)))
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
    return packer.shards


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


def support_closure(producers: dict[str, list[Rule]]) -> dict[str, list[Rule]]:
    """For each derived type, every support rule needed to produce it (transitively), given
    the rules that produce each derived type."""
    needs: dict[str, list[Rule]] = {}
    for fact_type in producers:
        seen: list[Rule] = []
        stack = [fact_type]
        visited: set[str] = set()
        while stack:
            current = stack.pop()
            if current in visited:
                continue
            visited.add(current)
            for rule in producers.get(current, []):
                if rule not in seen:
                    seen.append(rule)
                for atom in rule.atoms:
                    if atom.fact_type in producers:
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


# ----------------------------------------------------------------------------- fact fields


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
    """For each fact type any rule reads (reach types included), the engine fields the rules
    (and their actions) read: the facts builder asserts nothing else."""
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
            reads = [*meta.fields.values(), *(f for c in meta.checks for f in c.fields())]
            for pattern, fieldname in reads:
                if pattern in names:
                    out.setdefault(names[pattern], set()).add(fieldname)
    return {t: frozenset(f) for t, f in out.items()}
