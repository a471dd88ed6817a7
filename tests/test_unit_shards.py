"""The shard packer and its estimate of durable-rules' alpha network.

durable-rules fails at run time (error 303) when one fact satisfies more than 64 children of
one alpha node, and at compile time (error 108) past 256 rules on one alpha node, so the
compiler packs rules into several rulesets (shards) whose :class:`AlphaLoad` stays within
``MAX_ALPHA_FANOUT`` / ``MAX_RULES_PER_ALPHA``. Each shard evaluates on its own, so it holds
every support rule (derivation, reach, aux) its policies' rules read.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aigov.compile.compiler import compile_policies
from aigov.compile.rules import CompiledPolicies, Shard
from aigov.compile.shards import (
    _FIXED_CHAINS,
    MAX_ALPHA_FANOUT,
    MAX_RULES_PER_ALPHA,
    AlphaLoad,
    alpha_chains,
)
from aigov.policy.loader import load_policies

AS_OF = dt.date(2025, 6, 1)
ENGINE_FANOUT = 64  # durable-rules' own limits, which the MAX_* constants stay below
ENGINE_RULES_PER_NODE = 256


def lit(test: dict[str, Any], fieldname: str | None = None) -> tuple[str, str | None]:
    """A literal chain test as alpha_chains gives it."""
    return json.dumps(test, sort_keys=True), fieldname


JOIN = (None, None)


# ----------------------------------------------------------------------------- alpha_chains


def test_alpha_chains_one_chain_per_pattern_tests_in_order() -> None:
    rule = {
        "all": [
            {"g_": {"$and": [{"t": "$gate"}, {"stratum": 2}]}},
            {"dep": {"t": "deployment"}},
            {
                "appr": {
                    "$and": [
                        {"t": "approval"},
                        {"$neq": {"approver": "board"}},
                        {"model": {"dep": "model"}},
                        {"$or": [{"status": "approved"}, {"status": "conditional"}]},
                    ]
                }
            },
            {"n1$not": {"$and": [{"t": "waiver"}, {"$neq": {"id": {"dep": "id"}}}]}},
        ],
        "cap": 1000,
        "dist": 0,
    }
    assert alpha_chains(rule) == (
        (lit({"t": "$gate"}, "t"), lit({"stratum": 2}, "stratum")),
        (lit({"t": "deployment"}, "t"),),
        (
            lit({"t": "approval"}, "t"),
            lit({"$neq": {"approver": "board"}}),  # not an equality: no exclusive field
            JOIN,
            lit({"$or": [{"status": "approved"}, {"status": "conditional"}]}),
        ),
        (lit({"t": "waiver"}, "t"), JOIN),  # a join nested under an operator
    )


def test_alpha_chain_literal_tests_that_are_not_scalar_equalities_have_no_field() -> None:
    rule = {
        "all": [
            {
                "m": {
                    "$and": [
                        {"t": "model"},
                        {"$ex": {"owner": 1}},
                        {"$iany": {"tags": {"$i": "gpai"}}},
                        {"partition_root": True},
                    ]
                }
            }
        ]
    }
    ((_t, exists, contains, root),) = alpha_chains(rule)
    assert exists == lit({"$ex": {"owner": 1}})
    assert contains == lit({"$iany": {"tags": {"$i": "gpai"}}})  # a literal, not a join
    assert root == lit({"partition_root": True}, "partition_root")


# ----------------------------------------------------------------------------- AlphaLoad


def chain(*keys: str) -> tuple[tuple[str, str | None], ...]:
    """Equality tests on field ``t`` (mutually exclusive between siblings)."""
    return tuple(lit({"t": key}, "t") for key in keys)


def other(*keys: str) -> tuple[tuple[str, str | None], ...]:
    """Tests that are not equalities: any number of siblings may match one fact."""
    return tuple(lit({"$ex": {key: 1}}) for key in keys)


def test_empty_load() -> None:
    load = AlphaLoad()
    assert load.widest() == 1
    assert load.ends == 0
    assert load.fits()


def test_one_chain_needs_one_slot_per_level() -> None:
    load = AlphaLoad()
    load.add((chain("a", "b", "c"),))
    assert load.widest() == 2  # the root, then one child pushed at a time
    assert load.ends == 1


def test_identical_literal_tests_share_nodes_and_count_ends() -> None:
    load = AlphaLoad()
    for _ in range(3):
        load.add((chain("model") + other("owner"),))
    assert len(load.root.children) == 1
    assert load.widest() == 2
    assert load.ends == 3  # three rules end on one node


def test_join_tests_never_share_a_node() -> None:
    load = AlphaLoad()
    for _ in range(5):
        load.add(((*chain("approval"), JOIN),))
    (approval,) = load.root.children.values()
    assert len(approval.children) == 5
    assert load.ends == 1  # each rule ends on its own join node
    assert load.widest() == 6  # all five joins are pushed for one approval


def test_equality_siblings_on_one_field_are_exclusive() -> None:
    exclusive = AlphaLoad()
    overlapping = AlphaLoad()
    for n in range(10):
        exclusive.add((chain(f"kind{n}"),))
        overlapping.add((other(f"field{n}"),))
    assert exclusive.widest() == 2  # a fact has one 't': one child matches at most
    assert overlapping.widest() == 11  # every existence test may match


def test_siblings_wait_while_the_last_pushed_is_expanded() -> None:
    # the root pushes its 3 children; the last one's 4 children are pushed on top of the
    # 2 still waiting: a peak of 2 + 4 entries, plus the root's own
    load = AlphaLoad()
    load.add((other("a"), other("b"), other("c", "x")))
    for n in range(3):
        load.add((other("c", f"y{n}"),))
    assert load.widest() == 7


def test_trial_additions_are_undone() -> None:
    load = AlphaLoad()
    load.add((chain("model"),))
    before = (load.widest(), load.ends, set(load.root.children))
    with load.trial():
        for n in range(20):
            load.add((other(f"f{n}"), chain("model")))
        assert load.widest() == 22
        assert load.ends == 21
    assert (load.widest(), load.ends, set(load.root.children)) == before
    load.add((other("f0"),))  # the load still works after a trial
    assert load.widest() == 3


def test_trials_do_not_nest() -> None:
    load = AlphaLoad()
    with load.trial(), pytest.raises(RuntimeError), load.trial():
        pass


def test_fits_at_the_fanout_limit_and_not_one_past_it() -> None:
    load = AlphaLoad()
    for n in range(MAX_ALPHA_FANOUT - 1):
        load.add((other(f"f{n}"),))
    assert load.widest() == MAX_ALPHA_FANOUT
    assert load.fits()
    load.add((other("one-more"),))
    assert load.widest() == MAX_ALPHA_FANOUT + 1
    assert not load.fits()


def test_fits_at_the_rules_per_node_limit_and_not_one_past_it() -> None:
    load = AlphaLoad()
    for _ in range(MAX_RULES_PER_ALPHA):
        load.add((chain("$gate"),))
    assert load.ends == MAX_RULES_PER_ALPHA
    assert load.fits()
    load.add((chain("$gate"),))
    assert not load.fits()


# ----------------------------------------------------------------------------- packing


DEPLOYMENT = {"as": "dep", "kind": "deployment"}
MODEL = {"kind": "model"}


def policy(pid: str, subject: dict[str, Any], when: dict[str, Any]) -> str:
    """One policy; ``subject`` and ``when`` are written as JSON (a YAML flow mapping)."""
    return textwrap.dedent(f"""\
        policies:
          - id: {pid}
            title: test
            description: test policy
            family: governance
            severity: high
            remediation: fix it
            message: "{pid}"
            subject: {json.dumps(subject)}
            when: {json.dumps(when)}
        """)


def compile_dir(directory: Path, texts: list[str]) -> CompiledPolicies:
    directory.mkdir()
    for n, text in enumerate(texts):
        (directory / f"p{n:03d}.yaml").write_text(text)
    return compile_policies(load_policies([directory], include_builtin=False), AS_OF)


def approval_of_dep(alias: str, approver: str) -> dict[str, Any]:
    return {
        "as": alias,
        "kind": "approval",
        "where": {"model": {"ref": "dep.model"}, "approver": {"ne": approver}},
    }


def approval_joins(count: int) -> list[str]:
    """Policies that each join approvals to the deployment with their own literal test: one
    more child per policy under the approval type's alpha node."""
    return [
        policy(f"J-{n:03d}", DEPLOYMENT, {"exists": approval_of_dep("appr", f"board-{n}")})
        for n in range(count)
    ]


def estimate(shard: Shard) -> AlphaLoad:
    """The packer's estimate for a shard: its rules plus the fixed rules' shapes."""
    load = AlphaLoad()
    for chains in _FIXED_CHAINS:
        load.add(chains)
    for name, rule in shard.ruleset.items():
        if name not in ("$root", "$keep"):
            load.add(alpha_chains(rule))
    return load


def engine_load(shard: Shard) -> AlphaLoad:
    """The load of exactly the ruleset the engine is given."""
    load = AlphaLoad()
    for rule in shard.ruleset.values():
        load.add(alpha_chains(rule))
    return load


def roles(shard: Shard) -> dict[str, int]:
    out: dict[str, int] = {}
    for meta in shard.rules.values():
        out[meta.role] = out.get(meta.role, 0) + 1
    return dict(sorted(out.items()))


def policy_rules(compiled: CompiledPolicies) -> list[tuple[str, str, str]]:
    """(policy, role, rule name) of every policy rule, over all shards."""
    return sorted(
        (meta.policy, meta.role, name)
        for shard in compiled.shards
        for name, meta in shard.rules.items()
        if meta.policy is not None
    )


def test_few_rules_fit_one_shard(tmp_path: Path) -> None:
    compiled = compile_dir(tmp_path / "p", approval_joins(3))
    assert [s.name for s in compiled.shards] == ["shard0"]
    (shard,) = compiled.shards
    assert roles(shard) == {"applicable": 1, "fail": 3}
    assert set(shard.ruleset) == {*shard.rules, "$root", "$keep"}
    assert shard.gates == (1,)
    assert compiled.strata == 1


def test_many_join_rules_are_split_at_the_fanout_limit(tmp_path: Path) -> None:
    compiled = compile_dir(tmp_path / "p", approval_joins(90))
    # the approval node has one child per fail rule, and $keep's existence test sits beside
    # the type tests at the root: 54 rules reach a peak of 54 + 1 + 1 = 56
    assert [roles(s) for s in compiled.shards] == [{"applicable": 1, "fail": 54}, {"fail": 36}]
    assert [estimate(s).widest() for s in compiled.shards] == [MAX_ALPHA_FANOUT, 38]
    for shard in compiled.shards:
        assert estimate(shard).fits()
        assert engine_load(shard).widest() <= ENGINE_FANOUT
    # one applicability rule for all 90 (identical rules are merged), one fail rule each
    rules = policy_rules(compiled)
    assert [(p, r) for p, r, _ in rules if r == "fail"] == [
        (f"J-{n:03d}", "fail") for n in range(90)
    ]
    (applicable,) = [
        meta for s in compiled.shards for meta in s.rules.values() if meta.role == "applicable"
    ]
    assert applicable.policy == "J-000"
    assert [m.policy for m in applicable.also] == [f"J-{n:03d}" for n in range(1, 90)]


def test_many_rules_on_one_node_are_split_at_the_rules_limit(tmp_path: Path) -> None:
    texts = [
        policy(f"O-{n:03d}", MODEL, {"test": {"model.owner": {"missing": True}}})
        for n in range(250)
    ]
    compiled = compile_dir(tmp_path / "p", texts)
    # every policy rule's gate pattern ends on the same node (with the one merged rule for
    # an owner known to be unknown, which every policy reads)
    assert [roles(s) for s in compiled.shards] == [
        {"applicable": 1, "missing": 1, "fail": 198},
        {"fail": 52},
    ]
    assert [estimate(s).ends for s in compiled.shards] == [MAX_RULES_PER_ALPHA, 52]
    for shard in compiled.shards:
        assert estimate(shard).fits()
        assert engine_load(shard).ends <= ENGINE_RULES_PER_NODE


def test_a_policy_too_large_for_one_shard_is_placed_rule_by_rule(tmp_path: Path) -> None:
    branches = [{"exists": approval_of_dep(f"a{n}", f"board-{n}")} for n in range(60)]
    compiled = compile_dir(tmp_path / "p", [policy("BIG-1", DEPLOYMENT, {"any": branches})])
    assert [roles(s) for s in compiled.shards] == [{"applicable": 1, "fail": 54}, {"fail": 6}]
    assert {meta.policy for s in compiled.shards for meta in s.rules.values()} == {"BIG-1"}
    assert len(policy_rules(compiled)) == 61


DERIVATION = textwrap.dedent("""\
    derivations:
      - id: taught_by
        description: a teacher of the model
        fields:
          teacher: teacher.id
        when:
          lineage: {as: teacher, kind: model, via: [distillation, trained_on_outputs]}
    """)


def support_heavy(directory: Path) -> CompiledPolicies:
    """70 policies over one reach type, 70 over a derivation (itself over another reach
    type) and 10 with an absence too large for one $not (an aux fact): too many for one
    shard, so support rules must be repeated in every shard that needs them."""
    texts = [DERIVATION]
    texts += [
        policy(
            f"L-{n:03d}",
            MODEL,
            {
                "lineage": {
                    "as": "anc",
                    "kind": "model",
                    "via": ["finetune"],
                    "where": {"licence": {"ne": f"l-{n}"}},
                }
            },
        )
        for n in range(70)
    ]
    texts += [
        policy(
            f"D-{n:03d}",
            MODEL,
            {
                "all": [
                    {"exists": {"as": "tb", "kind": "taught_by"}},
                    {
                        "exists": {
                            "as": "t",
                            "kind": "model",
                            "where": {"id": {"ref": "tb.teacher"}, "owner": {"ne": f"o-{n}"}},
                        }
                    },
                ]
            },
        )
        for n in range(70)
    ]
    texts += [
        policy(
            f"A-{n:03d}",
            DEPLOYMENT,
            {
                "not": {
                    "all": [
                        {
                            "exists": {
                                "as": "appr",
                                "kind": "approval",
                                "where": {"model": {"ref": "dep.model"}},
                            }
                        },
                        {"test": {"appr.approver": f"x-{n}"}},
                    ]
                }
            },
        )
        for n in range(10)
    ]
    return compile_dir(directory, texts)


def derived_types_read(rule: dict[str, Any], derived: set[str]) -> set[str]:
    out = set()
    for pattern in rule["all"]:
        ((_name, expr),) = pattern.items()
        for test in expr.get("$and", [expr]):
            if isinstance(test.get("t"), str) and test["t"] in derived:
                out.add(test["t"])
    return out


def test_every_rule_lands_in_one_shard_with_the_rules_it_depends_on(tmp_path: Path) -> None:
    compiled = support_heavy(tmp_path / "p")
    assert len(compiled.shards) >= 2
    metas = [meta for shard in compiled.shards for meta in shard.rules.values()]
    derived = {m.produces for m in metas if m.produces}
    assert "taught_by" in derived
    assert any(t.startswith("$aux") for t in derived)
    assert compiled.reaches  # lineage walks: computed before the engine, not derived in it

    # every policy rule is in exactly one shard
    rules = policy_rules(compiled)
    names = [name for _p, _r, name in rules]
    assert len(names) == len(set(names))
    fails = sorted({p for p, r, _ in rules if r == "fail"})
    expected = [
        f"{k}-{n:03d}" for k, count in (("A", 10), ("D", 70), ("L", 70)) for n in range(count)
    ]
    assert fails == expected

    # ... together with everything that produces what it reads, transitively
    spread = set()
    for shard in compiled.shards:
        produced = {m.produces for m in shard.rules.values() if m.produces}
        for name, rule in shard.ruleset.items():
            for fact_type in derived_types_read(rule, derived):
                assert fact_type in produced, (shard.name, name, fact_type)
        # the shard is sent the $reach facts of every walk its rules test
        walks = {w for m in shard.rules.values() for w in m.walks.values()}
        assert walks <= shard.walks <= compiled.reaches.keys(), shard.name
        assert not walks or "$reach" in shard.types, shard.name
        support = {n for n, m in shard.rules.items() if m.policy is None}
        spread |= {n for n in support if sum(n in s.rules for s in compiled.shards) > 1}
        assert estimate(shard).fits()
    assert spread  # some support rules had to be repeated in several shards


def test_support_rules_go_only_where_they_are_needed(tmp_path: Path) -> None:
    compiled = compile_dir(
        tmp_path / "p",
        [DERIVATION, *approval_joins(90)],
    )
    # nothing reads taught_by: its derivation rule is in no shard
    assert all(m.role in ("applicable", "fail") for s in compiled.shards for m in s.rules.values())


def test_packing_is_deterministic(tmp_path: Path) -> None:
    first = support_heavy(tmp_path / "a")
    second = support_heavy(tmp_path / "b")
    assert [(s.name, s.ruleset, s.types, s.gates) for s in first.shards] == [
        (s.name, s.ruleset, s.types, s.gates) for s in second.shards
    ]
    assert [list(s.rules) for s in first.shards] == [list(s.rules) for s in second.shards]
    assert first.digest == second.digest
