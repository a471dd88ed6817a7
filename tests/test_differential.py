"""Differential test: the compiled Rete rules against a direct reading of the language.

Random policies (field tests of every operator, joins, all/any/not, exists/absent, lineage)
are evaluated twice over a synthetic registry: by the durable-rules engine, as aigov does,
and by the small reference interpreter below, which follows the language's definition in the
README word for word (a test on a missing field is false; `not` inverts; bindings made inside
`any` or `not` do not escape). Every (policy, subject) outcome must agree. This is how the
engine defects listed in the README's engine notes were caught; it guards the compiler
against the next one. ``AIGOV_DIFFERENTIAL_SEEDS=200 pytest tests/test_differential.py``
runs more random policy sets than the default 8 (each seed is a registry and 120 policies).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from aigov.compile.compiler import compile_policies
from aigov.evaluate.facts import PartitionLoader
from aigov.evaluate.outcomes import PartitionEvaluator
from aigov.evaluate.pipeline import iter_partitions, resolve_models
from aigov.policy.ast import TRUE, All, AnyOf, AsOf, Bind, Not, Ref
from aigov.policy.ast import Test as FieldTest
from aigov.policy.loader import load_policies
from aigov.policy.schema import engine_field
from aigov.registry.operations import import_paths
from aigov.registry.store import open_registry
from aigov.results.findings import Outcome
from aigov.results.severity import Severity

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2025, 6, 1)
POLICIES = 120

# (kind, field, type) the generator tests; types: str, enum, number, date, bool, list
FIELDS: dict[str, list[tuple[str, str]]] = {
    "model": [
        ("licence", "str"),
        ("weights", "str"),
        ("release_date", "date"),
        ("training_compute_flop", "number"),
        ("owner", "str"),
        ("distributed", "bool"),
        ("is_gpai", "bool"),
        ("attributions", "list"),
        ("licence_class", "str"),
        ("licence_rank", "number"),
        ("provider", "str"),
    ],
    "deployment": [
        ("platform", "str"),
        ("region", "str"),
        ("environment", "str"),
        ("exposure", "str"),
        ("status", "str"),
        ("guardrails", "list"),
    ],
    "approval": [
        ("status", "str"),
        ("expires_at", "date"),
        ("granted_at", "date"),
        ("scope.platforms", "list"),
        ("scope.regions", "list"),
    ],
    "investigation": [("status", "str"), ("authority_type", "str"), ("opened_at", "date")],
    "dataset": [("synthetic", "bool"), ("licence_class", "str"), ("licences", "list")],
    "lineage": [("relation", "str"), ("confidence", "str")],
}
# joins the generator may make: (kind, field) = (other kind, other field)
JOINS: dict[str, list[tuple[str, str, str]]] = {
    "deployment": [("model", "model", "id")],
    "approval": [
        ("model", "model", "id"),
        ("id", "deployment", "approval"),
        ("scope.platforms", "deployment", "platform"),
    ],
    "investigation": [("subject", "model", "provider"), ("subject", "model", "id")],
    "lineage": [("child", "model", "id")],
    "model": [("provider", "model", "provider")],
}
RELATIONS = [
    "finetune",
    "quantized",
    "merge",
    "adapter",
    "distillation",
    "trained_on_outputs",
    "trained_on",
    "generated_by",
    "derived_from",
    "continued_pretraining",
]


# ----------------------------------------------------------------------------- generator


class Generator:
    def __init__(self, rng: random.Random, values: dict[tuple[str, str], list[Any]]):
        self.rng = rng
        self.values = values
        self.counter = 0
        self.bindings = 0  # patterns the current policy joins

    def literal(self, kind: str, field: str, ftype: str) -> Any:
        seen = self.values.get((kind, field)) or []
        if ftype == "list":
            items = [v for value in seen for v in value] or ["x"]
            return self.rng.choice(items)
        if ftype == "date":
            if self.rng.random() < 0.4:
                days = self.rng.randint(-200, 200)
                return f"as_of {'+' if days >= 0 else '-'} {abs(days)}d"
            return (AS_OF + dt.timedelta(days=self.rng.randint(-600, 300))).isoformat()
        if ftype == "bool":
            return self.rng.random() < 0.5
        if ftype == "number":
            return float(self.rng.choice(seen)) if seen else self.rng.choice([1.0e23, 1.0e25, 3.0])
        return self.rng.choice(seen) if seen else "none"

    def field_test(self, kind: str) -> dict[str, Any]:
        field, ftype = self.rng.choice(FIELDS[kind])
        value = self.literal(kind, field, ftype)
        if ftype == "list":
            op = self.rng.choice(["contains", "contains", "intersects", "contains_all", "missing"])
        elif ftype in ("number", "date"):
            op = self.rng.choice(["eq", "ne", "lt", "le", "gt", "ge", "exists", "missing"])
        elif ftype == "bool":
            op = self.rng.choice(["eq", "ne", "missing"])
        else:
            ops = ["eq", "ne", "in", "not_in", "regex", "exists", "missing", "prefix", "suffix"]
            op = self.rng.choice([*ops, "contains"])
        if op in ("exists", "missing"):
            return {field: {op: True}}
        # ignore_case, with the literal's case changed so that it matters
        fold = ftype in ("str", "list") and self.rng.random() < 0.4
        if fold and isinstance(value, str):
            value = value.swapcase() if self.rng.random() < 0.7 else value
        extra = {"ignore_case": True} if fold else {}
        if op in ("in", "not_in", "intersects", "contains_all"):
            others = [self.literal(kind, field, ftype) for _ in range(2)]
            return {field: {op: list(dict.fromkeys([value, *others])), **extra}}
        if op in ("prefix", "suffix", "contains") and ftype == "str":
            text = str(value)
            cut = self.rng.randint(1, max(1, len(text)))
            part = text[:cut] if op == "prefix" else text[-cut:] if op == "suffix" else text[1:cut]
            return {field: {op: part or text, **extra}}
        if op == "regex":
            text = str(value)
            return {
                field: {
                    "regex": re.escape(text[: self.rng.randint(1, max(1, len(text)))])
                    if self.rng.random() < 0.5
                    else "^" + re.escape(text[:2]),
                    **extra,
                }
            }
        return {field: {op: value, **extra}}

    def text_join(self, kind: str, scope: dict[str, str]) -> dict[str, Any] | None:
        """A test of a field of ``kind`` against a bound record's field that the engine cannot
        make itself: a text operator, ignore_case, membership in or overlap with a list."""
        mine = [(f, t) for f, t in FIELDS.get(kind, []) if t in ("str", "list")]
        theirs = [
            (alias, f, t)
            for alias, k in scope.items()
            for f, t in FIELDS.get(k, [])
            if t in ("str", "list")
        ]
        if not mine or not theirs:
            return None
        field, ftype = self.rng.choice(mine)
        alias, other, otype = self.rng.choice(theirs)
        if ftype == "str" and otype == "str":
            op = self.rng.choice(["eq", "ne", "prefix", "suffix", "contains"])
        elif ftype == "str":
            op = self.rng.choice(["in", "not_in"])
        elif otype == "list":
            op = self.rng.choice(["intersects", "contains_all"])
        else:
            op = "contains"
        spec: dict[str, Any] = {op: {"ref": f"{alias}.{other}"}}
        if self.rng.random() < 0.5 or (op in ("eq", "ne") and ftype == "str"):
            spec["ignore_case"] = self.rng.random() < 0.7 or op in ("eq", "ne")
        return {field: spec}

    def where(self, kind: str, depth: int = 0) -> dict[str, Any]:
        roll = self.rng.random()
        if depth < 2 and roll < 0.15:
            return {"any": [self.where(kind, depth + 1), self.where(kind, depth + 1)]}
        if depth < 2 and roll < 0.25:
            return {"not": self.where(kind, depth + 1)}
        return self.field_test(kind)

    def binding(self, scope: dict[str, str]) -> tuple[dict[str, Any], str, str]:
        self.counter += 1
        kind = self.rng.choice(list(FIELDS))
        alias = f"b{self.counter}"
        where: list[dict[str, Any]] = []
        if self.rng.random() < 0.8:
            where.append(self.where(kind))
        joins = [j for j in JOINS.get(kind, []) if j[1] in scope.values()]
        if joins and self.rng.random() < 0.7:
            field, other_kind, other_field = self.rng.choice(joins)
            other = self.rng.choice([a for a, k in scope.items() if k == other_kind])
            ftype = dict(FIELDS.get(kind, [])).get(field)
            op = "contains" if ftype == "list" else self.rng.choice(["eq", "eq", "ne"])
            where.append({field: {op: {"ref": f"{other}.{other_field}"}}})
        if self.rng.random() < 0.3 and (join := self.text_join(kind, scope)):
            where.append(join)
        spec: dict[str, Any] = {"as": alias, "kind": kind}
        if where:
            spec["where"] = {"all": where} if len(where) > 1 else where[0]
        return spec, alias, kind

    def condition(
        self, scope: dict[str, str], depth: int = 0
    ) -> tuple[dict[str, Any], dict[str, str]]:
        roll = self.rng.random()
        if self.bindings >= 8:  # the engine joins at most 16 records per rule (error 304)
            alias = self.rng.choice(list(scope))
            return {
                "test": {f"{alias}.{k}": v for k, v in self.field_test(scope[alias]).items()}
            }, scope
        if depth < 2 and roll < 0.25:
            parts = []
            for _ in range(self.rng.randint(2, 3)):
                part, scope = self.condition(scope, depth + 1)
                parts.append(part)
            return {"all": parts}, scope
        if depth < 2 and roll < 0.35:
            return {"any": [self.condition(scope, depth + 1)[0] for _ in range(2)]}, scope
        if depth < 2 and roll < 0.45:
            return {"not": self.condition(scope, depth + 1)[0]}, scope
        if roll < 0.55 and "model" in scope.values():
            self.counter += 1
            self.bindings += 2  # a lineage binding is two patterns
            alias = f"a{self.counter}"
            kind = self.rng.choice(["model", "dataset"])
            via = self.rng.sample(RELATIONS, self.rng.randint(1, 5))
            spec = {"as": alias, "kind": kind, "via": via, "min_depth": self.rng.choice([0, 1])}
            if self.rng.random() < 0.7:
                spec["where"] = self.where(kind)
            return {"lineage": spec}, {**scope, alias: kind}
        if roll < 0.6:
            alias = self.rng.choice(list(scope))
            join = self.text_join(scope[alias], scope)
            if join is not None:
                return {"test": {f"{alias}.{k}": v for k, v in join.items()}}, scope
        if roll < 0.65:
            alias = self.rng.choice(list(scope))
            return {
                "test": {f"{alias}.{k}": v for k, v in self.field_test(scope[alias]).items()}
            }, scope
        spec, alias, kind = self.binding(scope)
        self.bindings += 2  # a binding may join a member pattern too
        if self.rng.random() < 0.3:
            return {"absent": spec}, scope
        return {"exists": spec}, {**scope, alias: kind}

    def policy(self, index: int) -> dict[str, Any]:
        self.bindings = 0
        kind = self.rng.choice(["model", "deployment"])
        alias = "model" if kind == "model" else "dep"
        subject: dict[str, Any] = {"kind": kind}
        if kind != "model":
            subject["as"] = alias
        if self.rng.random() < 0.4:
            subject["where"] = self.where(kind)
        scope = {"model": "model", alias: kind}
        when, _ = self.condition(scope)
        return {
            "id": f"R-{index:03d}",
            "title": "random",
            "description": "random",
            "family": "governance",
            "severity": "high",
            "remediation": "none",
            "message": "m",
            "subject": subject,
            "when": when,
            # the matching is compared here; the cap of fails resting on alleged facts (on
            # the generated registries' alleged edges) is tested in test_registry_v2.py
            "on_weak_facts": "fail",
        }


# ----------------------------------------------------------------------------- reference


def _value(test: FieldTest, env: dict[str, dict[str, Any]]) -> tuple[bool, Any]:
    fact = env[test.alias]
    name = engine_field(test.field)
    return name in fact, fact.get(name)


def _operand(value: Any, env: dict[str, dict[str, Any]]) -> tuple[bool, Any]:
    if isinstance(value, Ref):
        fact = env[value.alias]
        name = engine_field(value.field)
        return name in fact, fact.get(name)
    if isinstance(value, AsOf):
        return True, AS_OF.toordinal() + value.days
    if isinstance(value, dt.date):
        return True, value.toordinal()
    return True, value


def _same(a: Any, b: Any, fold: bool) -> bool:
    if fold:
        return not isinstance(a, list | dict) and str(a).lower() == str(b).lower()
    return a == b


def check(test: FieldTest, env: dict[str, dict[str, Any]]) -> bool:
    present, value = _value(test, env)
    fold = test.ignore_case
    if test.op == "exists":
        return present
    if test.op == "missing":
        return not present
    if not present:
        return False
    if test.op in ("in", "not_in", "intersects", "contains_all") and isinstance(test.value, tuple):
        options = [_operand(v, env)[1] for v in test.value]
    else:
        known, options = _operand(test.value, env)
        if not known:
            return False
    if test.op in ("in", "not_in"):
        if not isinstance(options, list | tuple):
            return False
        return any(_same(value, o, fold) for o in options) == (test.op == "in")
    if test.op in ("intersects", "contains_all"):
        if not isinstance(options, list | tuple):
            return False
        quantifier = any if test.op == "intersects" else all
        return quantifier(any(_same(item, o, fold) for item in value) for o in options)
    other = options
    if test.op == "regex":
        flags = re.ASCII | (re.IGNORECASE if fold else 0)
        return re.search(test.value, str(value), flags) is not None
    if test.op == "contains" and isinstance(value, list):
        return any(_same(item, other, fold) for item in value)
    if test.op in ("prefix", "suffix", "contains") or fold:
        if isinstance(other, list | dict):
            return False
        text, part = str(value), str(other)
        if fold:
            text, part = text.lower(), part.lower()
        return {
            "prefix": text.startswith(part),
            "suffix": text.endswith(part),
            "contains": part in text,
            "eq": text == part,
            "ne": text != part,
        }[test.op]
    return {
        "eq": value == other,
        "ne": value != other,
        "lt": value < other,
        "le": value <= other,
        "gt": value > other,
        "ge": value >= other,
    }[test.op]


def where_holds(node: Any, env: dict[str, dict[str, Any]]) -> bool:
    if isinstance(node, FieldTest):
        return check(node, env)
    if isinstance(node, All):
        return all(where_holds(item, env) for item in node.items)
    if isinstance(node, AnyOf):
        return any(where_holds(item, env) for item in node.items)
    if isinstance(node, Not):
        return not where_holds(node.item, env)
    raise TypeError(node)


class Reference:
    def __init__(self, facts: list[dict[str, Any]]):
        self.by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for fact in facts:
            self.by_type[fact["t"]].append(fact)
        self.by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for fact in facts:
            self.by_key[fact["key"]].append(fact)

    def ancestors(self, origin: str, via: tuple[str, ...], min_depth: int) -> set[str]:
        seen, frontier, found = {origin}, [origin], set()
        if min_depth == 0:
            found.add(origin)
        while frontier:
            nxt = []
            for node in frontier:
                for edge in self.by_type["lineage"]:
                    if edge.get("child") == node and edge.get("relation") in via:
                        parent = edge["parent"]
                        found.add(parent)
                        if parent not in seen:
                            seen.add(parent)
                            nxt.append(parent)
            frontier = nxt
        return found

    def solutions(self, node: Any, env: dict[str, Any]) -> list[dict[str, Any]]:
        if node is TRUE or (isinstance(node, All) and not node.items):
            return [env]
        if isinstance(node, FieldTest):
            return [env] if check(node, env) else []
        if isinstance(node, All):
            envs = [env]
            for item in node.items:
                envs = [e2 for e in envs for e2 in self.solutions(item, e)]
            return envs
        if isinstance(node, AnyOf):
            return [env] if any(self.solutions(item, env) for item in node.items) else []
        if isinstance(node, Not):
            return [] if self.solutions(node.item, env) else [env]
        if isinstance(node, Bind):
            if node.is_lineage:
                keys = self.ancestors(env[node.origin]["key"], node.via, node.min_depth)
                candidates = [f for k in keys for f in self.by_key[k] if f["t"] == node.kind]
            else:
                candidates = self.by_type[node.kind]
            out = []
            for fact in candidates:
                env2 = {**env, node.alias: fact}
                if where_holds(node.where, env2):
                    out.append(env2)
            return out
        raise TypeError(node)


# ----------------------------------------------------------------------------- the test


@pytest.mark.parametrize("seed", range(1, 1 + int(os.environ.get("AIGOV_DIFFERENTIAL_SEEDS", "8"))))
def test_engine_agrees_with_the_reference_reading(
    tmp_path: Path, seed: int, bench_generator: Any
) -> None:
    generator = bench_generator
    registry_dir = tmp_path / "registry"
    generator.write(generator.generate(40, seed=seed), registry_dir)
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with open_registry(url, create=True) as registry:
        import_paths(registry, [registry_dir])
        with registry.read() as conn:
            loader = PartitionLoader(conn, AS_OF, set())
            full = list(loader.load(loader.model_ids()))
        values: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for partition in full:
            for fact in partition.facts:
                for key, value in fact.items():
                    values[(fact["t"], key.replace("__", "."))].append(value)
        values = {k: list(dict.fromkeys(map(_hashable, v)))[:30] for k, v in values.items()}
        rng = random.Random(seed)
        gen = Generator(rng, values)
        docs = [gen.policy(i) for i in range(POLICIES)]
        pdir = tmp_path / "policies"
        pdir.mkdir()
        (pdir / "random.yaml").write_text(yaml.safe_dump({"policies": docs}, sort_keys=False))
        policy_set = load_policies([pdir], include_builtin=False)
        compiled = compile_policies(policy_set, AS_OF)
        evaluate = PartitionEvaluator(compiled, Severity.high)
        engine: dict[tuple[str, str], Outcome] = {}
        for partition in iter_partitions(registry, compiled, resolve_models(registry)):
            engine.update(evaluate(partition).outcomes)

    mismatches = []
    fired = 0
    for partition in full:
        reference = Reference(partition.facts)
        root = next(f for f in partition.facts if f["t"] == "model" and f["key"] == partition.model)
        for policy in policy_set.policies:
            subjects = (
                [root]
                if policy.subject.kind == "model"
                else [f for f in partition.facts if f["t"] == "deployment"]
            )
            for subject in subjects:
                env = {"model": root, policy.subject.alias: subject}
                if not where_holds(policy.subject.where, env):
                    expected = Outcome.not_applicable
                elif reference.solutions(policy.when, env):
                    expected = Outcome.fail
                else:
                    expected = Outcome.passed
                fired += expected == Outcome.fail
                actual = engine[(policy.id, subject["key"])]
                if actual != expected:
                    mismatches.append((policy.id, subject["key"], expected.value, actual.value))
    docs_by_id = {d["id"]: d for d in docs}
    assert not mismatches, (
        "\n".join(
            f"{pid} on {subj}: reference {exp}, engine {act}\n"
            + textwrap.indent(yaml.safe_dump(docs_by_id[pid], sort_keys=False), "    ")
            for pid, subj, exp, act in mismatches[:5]
        )
        + f"\n({len(mismatches)} mismatches)"
    )
    assert fired > 50  # the random policies do fail on this data: the test is not vacuous


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
