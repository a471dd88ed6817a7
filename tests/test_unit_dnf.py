"""The compiler's disjunctive normal form (``dnf``), on hand-built condition trees.

``dnf(node)`` is a list of conjunctions (lists), each a rule the compiler emits: the empty
list is "false" (no rule), ``[[]]`` is "true" (one rule with no extra patterns). Negation is
pushed down by De Morgan to single tests (``NegTest``, or ``exists``/``missing`` flipped),
to ``Not(Bind)`` for an absence one ``$not`` pattern can express, and to ``Aux`` (an
auxiliary derived fact) for anything larger.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aigov.compile.dnf import Aux, NegTest, dnf, expand
from aigov.policy.ast import TRUE, All, AnyOf, Bind, Not, Ref
from aigov.policy.ast import Test as FieldTest
from aigov.policy.loader import load_policies
from aigov.policy.schema import STR


def t(alias: str, fieldname: str, op: str = "eq", value: object = "x", line: int = 1) -> FieldTest:
    return FieldTest(alias, fieldname, op, value, STR, line)


A = t("model", "licence", "eq", "mit")
B = t("model", "owner", "eq", "team")
C = t("model", "provider", "eq", "acme")
D = t("model", "weights", "eq", "open")


# ----------------------------------------------------------------------------- TRUE / FALSE


def test_true_is_one_empty_conjunction() -> None:
    assert dnf(TRUE) == [[]]
    assert dnf(All(())) == [[]]  # an empty 'all' is TRUE by value, not only by identity


def test_an_empty_any_is_false() -> None:
    assert dnf(AnyOf(())) == []
    assert dnf(All((A, AnyOf(())))) == []  # false absorbs the conjunction


def test_not_true_is_false_and_not_false_is_true() -> None:
    assert dnf(Not(TRUE)) == []
    assert dnf(Not(AnyOf(()))) == [[]]


def test_an_unknown_node_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dnf("licence == mit")


# ----------------------------------------------------------------------------- and / or


def test_a_single_test_bind_or_negated_test_is_its_own_conjunction() -> None:
    bind = Bind("appr", "approval", TRUE, 3)
    assert dnf(A) == [[A]]
    assert dnf(bind) == [[bind]]
    assert dnf(NegTest(A)) == [[NegTest(A)]]


def test_conjunction_keeps_order() -> None:
    assert dnf(All((A, B, C))) == [[A, B, C]]


def test_disjunction_is_one_conjunction_per_branch() -> None:
    assert dnf(AnyOf((A, B, C))) == [[A], [B], [C]]


def test_conjunction_distributes_over_disjunction_in_order() -> None:
    assert dnf(All((AnyOf((A, B)), AnyOf((C, D))))) == [[A, C], [A, D], [B, C], [B, D]]
    assert dnf(All((A, AnyOf((B, C)), D))) == [[A, B, D], [A, C, D]]


def test_nested_any_and_all_flatten() -> None:
    assert dnf(AnyOf((All((A, B)), C))) == [[A, B], [C]]
    assert dnf(AnyOf((A, AnyOf((B, AnyOf((C, D))))))) == [[A], [B], [C], [D]]
    assert dnf(All((A, All((B, All((C,))))))) == [[A, B, C]]
    assert dnf(All((AnyOf((A, All((B, AnyOf((C, D)))))),))) == [[A], [B, C], [B, D]]


# ----------------------------------------------------------------------------- negation


def test_negated_test_becomes_a_neg_test() -> None:
    assert dnf(Not(A)) == [[NegTest(A)]]
    ranged = t("model", "training_compute_flop", "gt", 1e25)
    assert dnf(Not(ranged)) == [[NegTest(ranged)]]


def test_negated_existence_tests_flip_instead_of_negating() -> None:
    exists = t("model", "owner", "exists", True, line=7)
    missing = t("model", "owner", "missing", True, line=8)
    assert dnf(Not(exists)) == [[t("model", "owner", "missing", True, line=7)]]
    assert dnf(Not(missing)) == [[t("model", "owner", "exists", True, line=8)]]


def test_double_negation_cancels() -> None:
    assert dnf(Not(Not(A))) == [[A]]
    assert dnf(Not(Not(AnyOf((A, B))))) == [[A], [B]]
    assert dnf(Not(NegTest(A))) == [[A]]  # a NegTest rebuilt by expand() negates back


def test_de_morgan_not_any_is_all_of_the_negations() -> None:
    assert dnf(Not(AnyOf((A, B, C)))) == [[NegTest(A), NegTest(B), NegTest(C)]]


def test_de_morgan_not_all_is_any_of_the_negations() -> None:
    assert dnf(Not(All((A, B, C)))) == [[NegTest(A)], [NegTest(B)], [NegTest(C)]]


def test_de_morgan_through_nested_any_and_all() -> None:
    # not (A or (B and C))  ==  not A and (not B or not C)
    assert dnf(Not(AnyOf((A, All((B, C)))))) == [
        [NegTest(A), NegTest(B)],
        [NegTest(A), NegTest(C)],
    ]
    # not ((A or B) and C)  ==  (not A and not B) or not C
    assert dnf(Not(All((AnyOf((A, B)), C)))) == [[NegTest(A), NegTest(B)], [NegTest(C)]]
    # not (A and not B)  ==  not A or B
    assert dnf(Not(All((A, Not(B))))) == [[NegTest(A)], [B]]


def test_negation_inside_a_conjunction_distributes() -> None:
    assert dnf(All((A, Not(AnyOf((B, C)))))) == [[A, NegTest(B), NegTest(C)]]
    assert dnf(All((A, Not(All((B, C)))))) == [[A, NegTest(B)], [A, NegTest(C)]]


# ----------------------------------------------------------------------------- negated bindings

APPROVAL_JOIN = t("appr", "model", "eq", Ref("dep", "model"))
APPROVED = t("appr", "status", "eq", "approved")


def test_absence_with_plain_tests_is_one_not_pattern() -> None:
    bind = Bind("appr", "approval", All((APPROVAL_JOIN, APPROVED)), 4)
    assert dnf(Not(bind)) == [[Not(bind)]]
    assert dnf(Not(Bind("appr", "approval", TRUE, 4))) == [[Not(Bind("appr", "approval", TRUE, 4))]]


def test_double_negated_bind_is_the_bind() -> None:
    bind = Bind("appr", "approval", APPROVED, 4)
    assert dnf(Not(Not(bind))) == [[bind]]


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(
            All((APPROVAL_JOIN, AnyOf((APPROVED, t("appr", "status", "eq", "conditional"))))),
            id="any",
        ),
        pytest.param(All((APPROVAL_JOIN, Not(APPROVED))), id="negated-test"),
        pytest.param(
            All((APPROVAL_JOIN, t("appr", "scope.regions", "contains", Ref("dep", "region")))),
            id="list-join",
        ),
        pytest.param(
            All((APPROVAL_JOIN, t("appr", "granted_at", "lt", Ref("dep", "started_at")))),
            id="ordering-join",
        ),
    ],
)
def test_absence_too_large_for_one_not_pattern_is_an_aux(where: object) -> None:
    bind = Bind("appr", "approval", where, 4)
    assert dnf(Not(bind)) == [[Aux(bind, ("dep",))]]


def test_aux_outer_names_only_aliases_bound_outside_the_negation() -> None:
    # the approval's own alias is bound inside: without a join the aux refers to nothing
    bind = Bind("appr", "approval", AnyOf((APPROVED, t("appr", "status", "eq", "x"))), 4)
    assert dnf(Not(bind)) == [[Aux(bind, ())]]


def test_absent_lineage_is_an_aux_over_its_origin() -> None:
    ancestor = Bind("anc", "model", t("anc", "licence", "eq", "gpl"), 5, ("finetune",), "model")
    assert dnf(Not(ancestor)) == [[Aux(ancestor, ("model",))]]


def test_not_of_a_conjunction_with_a_binding_is_one_aux() -> None:
    # not (some approval of dep exists and the model is open): the binding's alias must stay
    # shared between the two parts, so the whole conjunction is derived as one aux fact.
    bind = Bind("appr", "approval", APPROVAL_JOIN, 4)
    node = All((bind, D, t("appr", "approver", "eq", Ref("model", "owner"))))
    assert dnf(Not(node)) == [[Aux(node, ("dep", "model"))]]


def test_not_any_of_bindings_negates_each_binding() -> None:
    first = Bind("a1", "approval", t("a1", "status", "eq", "approved"), 4)
    second = Bind("a2", "approval", AnyOf((t("a2", "status", "eq", "x"), D)), 5)
    assert dnf(Not(AnyOf((first, second)))) == [[Not(first), Aux(second, ("model",))]]


def test_a_positive_bind_with_a_disjunctive_where_stays_whole_until_expanded() -> None:
    bind = Bind("appr", "approval", AnyOf((APPROVED, All((APPROVAL_JOIN, D)))), 4)
    conjs = dnf(All((A, bind)))
    assert conjs == [[A, bind]]
    assert expand(conjs) == [
        [A, Bind("appr", "approval", All((APPROVED,)), 4)],
        [A, Bind("appr", "approval", All((APPROVAL_JOIN, D)), 4)],
    ]


# ----------------------------------------------------------------------------- parsed policies


def test_dnf_of_a_parsed_condition(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        textwrap.dedent("""\
            id: T-1
            title: t
            description: d
            family: governance
            severity: high
            remediation: r
            message: m
            subject: {kind: model}
            when:
              not:
                any:
                  - test: {model.owner: {exists: true}}
                  - all:
                      - test: {model.licence: mit}
                      - test: {model.weights: {ne: open}}
            """)
    )
    (policy,) = load_policies([tmp_path], include_builtin=False).policies
    owner_exists, conjunction = policy.when.item.items
    licence, weights = (item for item in conjunction.items)
    assert (owner_exists.op, licence.op, weights.op) == ("exists", "eq", "ne")
    missing = FieldTest("model", "owner", "missing", True, owner_exists.ftype, owner_exists.line)
    assert dnf(policy.when) == [[missing, NegTest(licence)], [missing, NegTest(weights)]]
