"""The policy language, end to end through the durable-rules engine.

Every operator and construct has a failing and a passing case; the acceptance scenarios of
the engine issue (lineage, absence, indeterminate, waiver expiry, rejected policies,
sandboxed messages, determinism) are here too.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from aigov.compile.compiler import compile_policies
from aigov.errors import InputError
from aigov.evaluate.pipeline import audit
from aigov.policy.loader import load_policies
from aigov.registry.operations import import_paths
from aigov.registry.store import open_registry
from aigov.results.findings import Finding, Outcome
from aigov.results.severity import Severity
from aigov_testing.evaluation import evaluate_policies

AS_OF = dt.date(2025, 6, 1)

BASE = {
    "providers": [
        {"id": "openai", "name": "OpenAI"},
        {"id": "meta", "name": "Meta"},
        {"id": "acme", "name": "Acme"},
    ],
    "terms": [
        {
            "id": "openai-tou",
            "provider": "openai",
            "kind": "tos",
            "title": "OpenAI Terms of Use",
            "clauses": [
                {
                    "section": "2(c)(iii)",
                    "type": "prohibits_competing_use_of_outputs",
                    "quote": "use output from the Services to develop models that compete",
                    "ambiguity": "compete is undefined",
                }
            ],
        }
    ],
    "models": [
        {"id": "gpt", "name": "GPT-4o", "provider": "openai"},
        {
            "id": "base",
            "name": "Qwen2.5-7B",
            "provider": "acme",
            "licence": "apache-2.0",
            "training_compute_flop": 5.0e24,
            "release_date": "2024-09-19",
        },
    ],
}


class Evaluation:
    def __init__(
        self, outcomes: dict[tuple[str, str], Outcome], findings: dict[tuple[str, str], Finding]
    ):
        self.outcomes = outcomes
        self.findings = findings

    def __getitem__(self, key: tuple[str, str]) -> Outcome:
        return self.outcomes[key]

    def finding(self, policy: str, subject: str) -> Finding:
        return self.findings[(policy, subject)]


def _merge(*parts: dict) -> dict:
    out: dict = {}
    for part in parts:
        for section, items in part.items():
            out.setdefault(section, []).extend(items)
    return out


@pytest.fixture
def evaluate(tmp_path: Path):
    counter = iter(range(1000))

    def run(policies: str, registry: dict, as_of: dt.date = AS_OF, base: bool = True) -> Evaluation:
        data = _merge(BASE, registry) if base else registry
        folder = tmp_path / f"run{next(counter)}"
        return Evaluation(*evaluate_policies(folder, textwrap.dedent(policies), data, as_of))

    return run


def policy(
    when: str = "",
    subject: str = "{kind: model}",
    extra: str = "",
    pid: str = "T-1",
    message: str = "{{ model.name }}",
) -> str:
    body = textwrap.indent(textwrap.dedent(when).strip(), "      ") if when else ""
    return (
        "policies:\n"
        f"  - id: {pid}\n"
        "    title: test\n"
        "    description: test policy\n"
        "    family: governance\n"
        "    severity: high\n"
        "    remediation: fix it\n"
        f'    message: "{message}"\n'
        f"    subject: {subject}\n"
        + (f"    when:\n{body}\n" if body else "")
        + textwrap.indent(textwrap.dedent(extra), "    ")
    )


def models(*items: dict) -> dict:
    return {"models": [{"provider": "acme", "name": m["id"], **m} for m in items]}


# ----------------------------------------------------------------------------- operators

OPERATOR_CASES = [
    # (where on the model, failing model fields, passing model fields)
    ("{licence: mit}", {"licence": "mit"}, {"licence": "apache-2.0"}),
    ("{licence: {eq: mit}}", {"licence": "mit"}, {"licence": "apache-2.0"}),
    ("{licence: {ne: mit}}", {"licence": "apache-2.0"}, {"licence": "mit"}),
    ("{licence: {in: [mit, bsd-3-clause]}}", {"licence": "bsd-3-clause"}, {"licence": "gpl-3.0"}),
    ("{licence: {not_in: [mit, bsd-3-clause]}}", {"licence": "gpl-3.0"}, {"licence": "mit"}),
    ("{name: {regex: '^Llama'}}", {"name": "Llama-3.1-Acme"}, {"name": "Acme-Llama"}),
    ("{name: {regex: '(?i)llama'}}", {"name": "my-LLAMA-tune"}, {"name": "qwen"}),
    ("{name: {regex: 'v\\d+\\.\\d+$'}}", {"name": "model v1.2"}, {"name": "model v1.2-rc"}),
    ("{owner: {exists: true}}", {"owner": "team@x"}, {}),
    ("{owner: {missing: true}}", {}, {"owner": "team@x"}),
    (
        "{training_compute_flop: {gt: 1.0e25}}",
        {"training_compute_flop": 3.0e25},
        {"training_compute_flop": 1.0e25},
    ),
    (
        "{training_compute_flop: {ge: 1.0e25}}",
        {"training_compute_flop": 1.0e25},
        {"training_compute_flop": 9.0e24},
    ),
    (
        "{training_compute_flop: {lt: 1.0e23}}",
        {"training_compute_flop": 1.0e22},
        {"training_compute_flop": 1.0e23},
    ),
    (
        "{training_compute_flop: {le: 1.0e23}}",
        {"training_compute_flop": 1.0e23},
        {"training_compute_flop": 2.0e23},
    ),
    (
        "{release_date: {lt: 2025-01-01}}",
        {"release_date": "2024-12-31"},
        {"release_date": "2025-01-01"},
    ),
    (
        "{release_date: {ge: as_of - 30d}}",
        {"release_date": "2025-05-02"},
        {"release_date": "2025-05-01"},
    ),
    ("{release_date: {gt: as_of}}", {"release_date": "2025-06-02"}, {"release_date": "2025-06-01"}),
    ("{tags: {contains: gpai}}", {"tags": ["x", "gpai"]}, {"tags": ["x"]}),
    ("{is_gpai: true}", {"is_gpai": True}, {"is_gpai": False}),
    ("{weights: {ne: open}}", {"weights": "gated"}, {"weights": "open"}),
    (
        "{any: [{licence: mit}, {owner: {missing: true}}]}",
        {"licence": "mit", "owner": "o"},
        {"licence": "apache-2.0", "owner": "o"},
    ),
    (
        "{all: [{licence: mit}, {owner: {exists: true}}]}",
        {"licence": "mit", "owner": "o"},
        {"licence": "mit"},
    ),
    ("{not: {licence: mit}}", {}, {"licence": "mit"}),
    ("{not: {name: {regex: '^Llama'}}}", {"name": "Acme"}, {"name": "Llama-x"}),
    # text operators on strings, and ignore_case
    ("{name: {prefix: Llama}}", {"name": "Llama-3.1-Acme"}, {"name": "Acme-Llama"}),
    ("{name: {prefix: Llama, ignore_case: true}}", {"name": "llama-acme"}, {"name": "a-llama"}),
    ("{name: {suffix: -GGUF}}", {"name": "acme-8b-GGUF"}, {"name": "acme-8b-gguf"}),
    ("{name: {contains: '.'}}", {"name": "v1.2"}, {"name": "v12"}),  # a literal, not a regex
    ("{name: {contains: LLAMA, ignore_case: true}}", {"name": "my-llama-x"}, {"name": "qwen"}),
    ("{licence: {eq: MIT, ignore_case: true}}", {"licence": "mit"}, {"licence": "apache-2.0"}),
    ("{licence: {ne: MIT, ignore_case: true}}", {"licence": "apache-2.0"}, {"licence": "Mit"}),
    ("{weights: {in: [OPEN], ignore_case: true}}", {"weights": "open"}, {"weights": "gated"}),
    ("{weights: {not_in: [OPEN], ignore_case: true}}", {"weights": "gated"}, {"weights": "open"}),
    ("{name: {regex: '^llama', ignore_case: true}}", {"name": "LLAMA-x"}, {"name": "x-llama"}),
    ("{tags: {contains: GPAI, ignore_case: true}}", {"tags": ["gpai"]}, {"tags": ["gpa"]}),
    ("{tags: {intersects: [a, gpai]}}", {"tags": ["x", "gpai"]}, {"tags": ["x", "GPAI"]}),
    ("{tags: {intersects: [A], ignore_case: true}}", {"tags": ["a"]}, {"tags": ["b"]}),
    ("{not: {name: {prefix: Llama}}}", {"name": "Acme"}, {"name": "Llama-x"}),
    ("{tags: {contains_all: [a, b]}}", {"tags": ["b", "x", "a"]}, {"tags": ["a"]}),
    ("{tags: {contains_all: [A], ignore_case: true}}", {"tags": ["a"]}, {"tags": ["b"]}),
]


@pytest.mark.parametrize(("where", "failing", "passing"), OPERATOR_CASES)
def test_field_operator(evaluate, where: str, failing: dict, passing: dict) -> None:
    """The operator in the subject filter decides applicability; 'when' always holds."""
    result = evaluate(
        policy(subject=f"{{kind: model, where: {where}}}", when="test: {model.id: {exists: true}}"),
        models({"id": "bad", **failing}, {"id": "good", **passing}),
    )
    assert result["T-1", "bad"] == Outcome.fail
    assert result["T-1", "good"] == Outcome.not_applicable


@pytest.mark.parametrize(("where", "failing", "passing"), OPERATOR_CASES)
def test_field_operator_under_exists(evaluate, where: str, failing: dict, passing: dict) -> None:
    """The same operators inside an 'exists' binding joined to the subject."""
    rules = policy(
        when=f"""
    exists:
      as: other
      kind: model
      where: {{all: [{{id: {{ref: model.id}}}}, {where}]}}
    """
    )
    result = evaluate(rules, models({"id": "bad", **failing}, {"id": "good", **passing}))
    assert result["T-1", "bad"] == Outcome.fail
    assert result["T-1", "good"] == Outcome.passed


def test_field_tests_in_when_fail_and_pass(evaluate) -> None:
    result = evaluate(
        policy("test: {model.licence: {in: [cc-by-nc-4.0]}, model.owner: {missing: true}}"),
        models(
            {"id": "bad", "licence": "cc-by-nc-4.0"},
            {"id": "good", "licence": "cc-by-nc-4.0", "owner": "o"},
        ),
    )
    assert result["T-1", "bad"] == Outcome.fail
    assert result["T-1", "good"] == Outcome.passed


def test_ne_on_a_missing_field_is_false_but_not_eq_is_true(evaluate) -> None:
    ne = evaluate(policy("test: {model.licence: {ne: mit}}"), models({"id": "nolicence"}))
    assert ne["T-1", "nolicence"] == Outcome.passed
    negated = evaluate(policy("not: {test: {model.licence: mit}}"), models({"id": "nolicence"}))
    assert negated["T-1", "nolicence"] == Outcome.fail


# ----------------------------------------------------------------------------- joins


INVESTIGATION_POLICY = policy(
    subject="{as: dep, kind: deployment, where: {status: active}}",
    when="""
    exists:
      as: inv
      kind: investigation
      where: {subject: {ref: model.provider}, status: {in: [open, reported]}}
    """,
    message="{{ dep.id }} while {{ inv.authority }} investigates",
)


def _deployments(*deps: dict) -> dict:
    return {
        "deployments": [
            {"platform": "azure", "region": "eastus", "environment": "prod", **d} for d in deps
        ]
    }


def test_join_between_deployment_and_investigation(evaluate) -> None:
    registry = _merge(
        models({"id": "m"}, {"id": "n", "provider": "meta"}),
        _deployments({"id": "d-m", "model": "m"}, {"id": "d-n", "model": "n"}),
        {
            "investigations": [
                {
                    "id": "inv-1",
                    "subject": "acme",
                    "authority": "Garante",
                    "authority_type": "regulator",
                    "allegation": "privacy",
                    "status": "open",
                    "opened_at": "2025-01-30",
                },
                {
                    "id": "inv-2",
                    "subject": "meta",
                    "authority": "Court",
                    "authority_type": "court",
                    "allegation": "old",
                    "status": "closed_unsubstantiated",
                    "opened_at": "2020-01-01",
                },
            ]
        },
    )
    result = evaluate(INVESTIGATION_POLICY, registry)
    assert result["T-1", "d-m"] == Outcome.fail
    assert result["T-1", "d-n"] == Outcome.passed
    finding = result.finding("T-1", "d-m")
    assert finding.message == "d-m while Garante investigates"
    ids = {r.id for r in finding.evidence[0].records}
    assert {"d-m", "m", "inv-1"} <= ids


def test_all_any_not_across_records(evaluate) -> None:
    rules = policy(
        subject="{as: dep, kind: deployment}",
        when="""
        all:
          - exists: {as: appr, kind: approval, where: {id: {ref: dep.approval}}}
          - any:
              - test: {appr.status: {in: [suspended, revoked]}}
              - test: {appr.expires_at: {lt: as_of}}
          - not:
              test: {dep.environment: dev}
        """,
    )
    approvals = {
        "approvals": [
            {
                "id": "a-revoked",
                "model": "m",
                "approver": "b",
                "granted_at": "2025-01-01",
                "status": "revoked",
            },
            {
                "id": "a-expired",
                "model": "m",
                "approver": "b",
                "granted_at": "2024-01-01",
                "expires_at": "2025-05-31",
            },
            {
                "id": "a-good",
                "model": "m",
                "approver": "b",
                "granted_at": "2025-01-01",
                "expires_at": "2026-01-01",
            },
        ]
    }
    registry = _merge(
        models({"id": "m"}),
        approvals,
        _deployments(
            {"id": "d1", "model": "m", "approval": "a-revoked"},
            {"id": "d2", "model": "m", "approval": "a-expired"},
            {"id": "d3", "model": "m", "approval": "a-good"},
            {"id": "d4", "model": "m", "approval": "a-revoked", "environment": "dev"},
        ),
    )
    result = evaluate(rules, registry)
    assert result["T-1", "d1"] == Outcome.fail
    assert result["T-1", "d2"] == Outcome.fail
    assert result["T-1", "d3"] == Outcome.passed
    assert result["T-1", "d4"] == Outcome.passed


# ----------------------------------------------------------------------------- absence

COVERAGE_POLICY = policy(
    subject="{as: dep, kind: deployment, where: {environment: prod}}",
    when="""
    absent:
      as: appr
      kind: approval
      where:
        status: {in: [approved, conditional]}
        expires_at: {ge: as_of}
        scope.platforms: {contains: {ref: dep.platform}}
        scope.regions: {contains: {ref: dep.region}}
        scope.environments: {contains: {ref: dep.environment}}
    """,
)


def _approval(**fields) -> dict:
    scope = {"platforms": ["azure"], "regions": ["eastus"], "environments": ["prod"]}
    scope.update(fields.pop("scope", {}))
    return {
        "approvals": [
            {
                "id": "a",
                "model": "m",
                "approver": "board",
                "granted_at": "2025-01-01",
                "expires_at": "2026-01-01",
                "scope": scope,
                **fields,
            }
        ]
    }


@pytest.mark.parametrize(
    ("approval", "expected"),
    [
        (None, Outcome.fail),
        (_approval(scope={"regions": ["westeurope"]}), Outcome.fail),
        (_approval(), Outcome.passed),
        (_approval(expires_at="2025-05-31"), Outcome.fail),  # expired the day before as_of
        (_approval(expires_at="2025-06-01"), Outcome.passed),  # valid through its last day
        (_approval(status="suspended"), Outcome.fail),
        (_approval(scope={"environments": ["staging"]}), Outcome.fail),
    ],
    ids=[
        "none",
        "other-region",
        "covering",
        "expired-yesterday",
        "expires-today",
        "suspended",
        "other-environment",
    ],
)
def test_absence_of_a_covering_approval(evaluate, approval: dict | None, expected: Outcome) -> None:
    registry = _merge(
        models({"id": "m"}),
        approval or {},
        _deployments(
            {"id": "d", "model": "m"}, {"id": "d-dev", "model": "m", "environment": "dev"}
        ),
    )
    result = evaluate(COVERAGE_POLICY, registry)
    assert result["T-1", "d"] == expected
    assert result["T-1", "d-dev"] == Outcome.not_applicable
    if expected == Outcome.fail:
        absent = result.finding("T-1", "d").absent
        assert (
            absent and "approval" in absent[0] and "scope.regions contains dep.region" in absent[0]
        )


def test_negated_list_join(evaluate) -> None:
    """A required guardrail the deployment lacks: not (list contains a joined value)."""
    rules = policy(
        subject="{as: dep, kind: deployment}",
        when="""
        all:
          - exists: {as: cond, kind: approval_condition, where: {type: requires_guardrail}}
          - exists: {as: appr, kind: approval, where: {id: {ref: cond.approval}}}
          - test: {appr.id: {eq: {ref: dep.approval}}}
          - not:
              test: {dep.guardrails: {contains: {ref: cond.value}}}
        """,
    )
    registry = _merge(
        models({"id": "m"}),
        _approval(conditions=[{"type": "requires_guardrail", "value": "content-safety"}]),
        _deployments(
            {"id": "with", "model": "m", "approval": "a", "guardrails": ["content-safety", "pii"]},
            {"id": "without", "model": "m", "approval": "a", "guardrails": ["pii"]},
            {"id": "none", "model": "m", "approval": "a"},
        ),
    )
    result = evaluate(rules, registry)
    assert result["T-1", "with"] == Outcome.passed
    assert result["T-1", "without"] == Outcome.fail
    assert result["T-1", "none"] == Outcome.fail


def test_subject_where_list_join_on_its_own_fields(evaluate) -> None:
    """A subject test joining a list field with another of the subject's own fields is a
    membership pattern, as anywhere else (it used to reach the compiler as a plain test)."""
    rules = policy(
        subject="{kind: model, where: {tags: {contains: {ref: model.name}}}}",
        when="{test: {model.licence: mit}}",
    )
    registry = models(
        {"id": "m", "licence": "mit", "tags": ["m", "x"]},
        {"id": "n", "licence": "mit", "tags": ["x"]},
    )
    result = evaluate(rules, registry)
    assert result["T-1", "m"] == Outcome.fail
    assert result["T-1", "n"] == Outcome.not_applicable


# ----------------------------------------------------------------------------- lineage

LINEAGE_POLICY = policy(
    when="""
    all:
      - lineage:
          as: teacher
          kind: model
          via: [generated_by, finetune, quantized, merge, trained_on, derived_from]
      - exists:
          as: clause
          kind: clause
          where: {type: prohibits_competing_use_of_outputs, provider: {ref: teacher.provider}}
    """,
)


def test_lineage_four_hops_with_the_full_path(evaluate) -> None:
    registry = _merge(
        {
            "datasets": [
                {"id": "synth", "name": "synthetic chats", "synthetic": True, "generators": ["gpt"]}
            ]
        },
        models({"id": "ft"}, {"id": "q"}, {"id": "merged"}, {"id": "clean"}),
        {
            "lineage": [
                {"id": "e1", "child": "ft", "parent": "synth", "relation": "finetune"},
                {"id": "e2", "child": "q", "parent": "ft", "relation": "quantized"},
                {"id": "e3", "child": "merged", "parent": "q", "relation": "merge"},
                {"id": "e4", "child": "merged", "parent": "base", "relation": "merge"},
                {"id": "e5", "child": "clean", "parent": "base", "relation": "finetune"},
            ]
        },
    )
    result = evaluate(LINEAGE_POLICY, registry)
    assert result["T-1", "merged"] == Outcome.fail
    assert result["T-1", "clean"] == Outcome.passed
    finding = result.finding("T-1", "merged")
    path = finding.evidence[0].path
    assert [s.edge for s in path] == ["e3", "e2", "e1", "synth~generated_by~gpt"]
    assert [(s.child, s.relation, s.parent) for s in path] == [
        ("merged", "merge", "q"),
        ("q", "quantized", "ft"),
        ("ft", "finetune", "synth"),
        ("synth", "generated_by", "gpt"),
    ]
    assert {r.id for r in finding.evidence[0].records} >= {"merged", "gpt", "openai-tou#clauses[0]"}


def test_an_alias_every_branch_of_any_binds_stays_bound(evaluate) -> None:
    """``up`` is an ancestor through weights or a teacher through distillation: either way
    it is bound after the ``any``, and the test on it applies to whichever branch held."""
    when = """
        all:
          - any:
              - lineage: {as: up, kind: model, via: [finetune]}
              - all:
                  - exists: {as: out, kind: lineage, where: {relation: distillation}}
                  - exists: {as: up, kind: model, where: {id: {ref: out.parent}}}
          - test: {up.licence: {eq: cc-by-nc-4.0}}
    """
    registry = _merge(
        models(
            {"id": "nc", "licence": "cc-by-nc-4.0"},
            {"id": "free", "licence": "mit"},
            {"id": "tuned"},
            {"id": "student"},
            {"id": "other"},
        ),
        {
            "lineage": [
                {"id": "e1", "child": "tuned", "parent": "nc", "relation": "finetune"},
                {"id": "e2", "child": "student", "parent": "nc", "relation": "distillation"},
                {"id": "e3", "child": "other", "parent": "free", "relation": "finetune"},
            ]
        },
    )
    result = evaluate(policy(when, message="{{ model.name }} from {{ up.name }}"), registry)
    assert result["T-1", "tuned"] == Outcome.fail
    assert result["T-1", "student"] == Outcome.fail
    assert result["T-1", "other"] == Outcome.passed
    assert result.finding("T-1", "student").message == "student from nc"
    assert [s.edge for s in result.finding("T-1", "tuned").evidence[0].path] == ["e1"]


def test_lineage_respects_the_relations_named(evaluate) -> None:
    registry = _merge(
        models({"id": "student"}),
        {"lineage": [{"child": "student", "parent": "gpt", "relation": "distillation"}]},
    )
    result = evaluate(LINEAGE_POLICY, registry)  # distillation is not in 'via'
    assert result["T-1", "student"] == Outcome.passed


def test_lineage_cycle_terminates_and_is_reported(evaluate, tmp_path: Path) -> None:
    registry = _merge(
        models({"id": "a"}, {"id": "b"}, {"id": "c"}),
        {
            "lineage": [
                {"child": "a", "parent": "b", "relation": "finetune"},
                {"child": "b", "parent": "c", "relation": "merge"},
                {"child": "c", "parent": "a", "relation": "quantized"},
                {"child": "c", "parent": "gpt", "relation": "trained_on_outputs"},
            ]
        },
    )
    result = evaluate(
        LINEAGE_POLICY.replace("derived_from]", "derived_from, trained_on_outputs]"), registry
    )
    assert result["T-1", "a"] == Outcome.fail  # found through the cycle, which terminated
    pdir = tmp_path / "builtin-only"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(policy("test: {model.id: nothing}", pid="NOOP"))
    rfile = tmp_path / "cycle.yaml"
    rfile.write_text(yaml.safe_dump(_merge(BASE, registry)))
    with open_registry(f"sqlite:///{tmp_path / 'cycle.db'}", create=True) as reg:
        import_paths(reg, [rfile])
        audited = audit(reg, load_policies([pdir]), AS_OF)
    cycle = [f for f in audited.findings if f.policy == "AIGOV-LINEAGE-CYCLE"]
    assert {f.subject for f in cycle} == {"a", "b", "c"}
    assert "a, b, c" in cycle[0].message


# ----------------------------------------------------------------------------- derivations


def test_derivation_feeds_another_policy_with_path_and_support(evaluate) -> None:
    rules = textwrap.dedent("""
    derivations:
      - id: restricted_outputs_in_lineage
        description: restricted outputs upstream
        fields: {teacher: teacher.id, section: clause.section}
        when:
          all:
            - lineage: {as: teacher, kind: model, via: [distillation, finetune]}
            - exists: {as: clause, kind: clause,
                       where: {type: prohibits_competing_use_of_outputs,
                               provider: {ref: teacher.provider}}}
    """) + policy(
        when="exists: {as: r, kind: restricted_outputs_in_lineage}",
        message="{{ model.name }} uses outputs of {{ r.teacher }} ({{ r.section }})",
    )
    registry = _merge(
        models({"id": "student"}, {"id": "grandchild"}),
        {
            "lineage": [
                {"id": "d1", "child": "student", "parent": "gpt", "relation": "distillation"},
                {"id": "f1", "child": "grandchild", "parent": "student", "relation": "finetune"},
            ]
        },
    )
    result = evaluate(rules, registry)
    assert result["T-1", "grandchild"] == Outcome.fail
    assert result["T-1", "base"] == Outcome.passed
    finding = result.finding("T-1", "grandchild")
    assert finding.message == "grandchild uses outputs of gpt (2(c)(iii))"
    assert [s.edge for s in finding.evidence[0].path] == ["f1", "d1"]
    roles = {r.role: r.id for r in finding.evidence[0].records}
    assert roles["r.teacher"] == "gpt"
    assert roles["r.clause"] == "openai-tou#clauses[0]"


# ----------------------------------------------------------------------------- outcomes


def test_review_if_turns_a_match_into_review(evaluate) -> None:
    rules = LINEAGE_POLICY.replace(
        "derived_from]", "derived_from, distillation]"
    ) + textwrap.indent("review_if:\n  test: {clause.ambiguity: {exists: true}}\n", "    ")
    registry = _merge(
        models({"id": "student"}),
        {"lineage": [{"child": "student", "parent": "gpt", "relation": "distillation"}]},
    )
    assert evaluate(rules, registry)["T-1", "student"] == Outcome.review
    unambiguous = _merge(registry)
    base = dict(BASE)
    terms = [
        dict(
            BASE["terms"][0],
            clauses=[{k: v for k, v in BASE["terms"][0]["clauses"][0].items() if k != "ambiguity"}],
        )
    ]
    result = evaluate(
        rules,
        _merge({k: v for k, v in base.items() if k != "terms"}, {"terms": terms}, unambiguous),
        base=False,
    )
    assert result["T-1", "student"] == Outcome.fail


def test_outcome_review_policy(evaluate) -> None:
    rules = policy("test: {model.licence: cc-by-nc-4.0}", extra="outcome: review\n")
    result = evaluate(rules, models({"id": "nc", "licence": "cc-by-nc-4.0"}))
    assert result["T-1", "nc"] == Outcome.review


def test_required_field_missing_is_indeterminate_not_pass(evaluate) -> None:
    rules = policy(
        "test: {model.licence: {in: [cc-by-nc-4.0]}}", extra="requires: [model.licence]\n"
    )
    result = evaluate(rules, models({"id": "nolicence"}, {"id": "ok", "licence": "mit"}))
    assert result["T-1", "nolicence"] == Outcome.indeterminate
    assert result.finding("T-1", "nolicence").missing == ["model.licence"]
    assert result["T-1", "ok"] == Outcome.passed


def test_alleged_facts_can_be_distinguished(evaluate) -> None:
    rules = policy(
        """
    lineage: {as: teacher, kind: model, via: [distillation],
              where: {provider: openai}}
    """,
        extra="""
    review_if:
      exists: {as: edge, kind: lineage,
               where: {child: {ref: model.id}, parent: {ref: teacher.id}, confidence: alleged}}
    """,
    )
    registry = _merge(
        models({"id": "alleged"}, {"id": "declared"}),
        {
            "lineage": [
                {
                    "child": "alleged",
                    "parent": "gpt",
                    "relation": "distillation",
                    "confidence": "alleged",
                },
                {"child": "declared", "parent": "gpt", "relation": "distillation"},
            ]
        },
    )
    result = evaluate(rules, registry)
    assert result["T-1", "alleged"] == Outcome.review
    assert result["T-1", "declared"] == Outcome.fail


# ----------------------------------------------------------------------------- waivers


@pytest.mark.parametrize(
    ("as_of", "outcome", "expired_finding"),
    [
        (dt.date(2025, 6, 30), Outcome.waived, False),  # expires_at - 1 day
        (dt.date(2025, 7, 1), Outcome.waived, False),  # on expires_at: still valid
        (dt.date(2025, 7, 2), Outcome.fail, True),  # expires_at + 1 day
    ],
)
def test_waiver_expiry_boundary(
    tmp_path: Path, as_of: dt.date, outcome: Outcome, expired_finding: bool
) -> None:
    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(policy("test: {model.owner: {missing: true}}", pid="GOV-9"))
    registry = _merge(
        BASE,
        models({"id": "m"}),
        {
            "waivers": [
                {
                    "id": "w1",
                    "policy": "GOV-9",
                    "subject": "m",
                    "reason": "owner being hired",
                    "approved_by": "cto",
                    "granted_at": "2025-01-01",
                    "expires_at": "2025-07-01",
                }
            ]
        },
    )
    rfile = tmp_path / "r.yaml"
    rfile.write_text(yaml.safe_dump(registry))
    with open_registry(f"sqlite:///{tmp_path / 'w.db'}", create=True) as reg:
        import_paths(reg, [rfile])
        result = audit(reg, load_policies([pdir]), as_of)
    by_policy = {(f.policy, f.subject): f for f in result.findings}
    finding = by_policy[("GOV-9", "m")]
    assert finding.outcome == outcome
    assert finding.waiver is not None and finding.waiver.id == "w1"
    assert finding.waiver.expired is expired_finding
    assert (("AIGOV-WAIVER-EXPIRED", "w1") in by_policy) is expired_finding


# ----------------------------------------------------------------------------- bound values

# a clause whose params the tests read: the operand of each test is another record's field
PARAMS = {
    "terms": [
        {
            "id": "orbit-licence",
            "provider": "acme",
            "kind": "licence",
            "title": "Orbit licence",
            "clauses": [
                {
                    "section": "3",
                    "type": "name_prefix",
                    "binds": "licensee",
                    "params": {
                        "prefix": "Orbit",
                        "suffix": "-ORB",
                        "part": "orb",
                        "pattern": "^Orbit-[0-9]+$",
                        "phrases": ["Built with Orbit", "Improved using Orbit"],
                        "weights": ["open", "gated"],
                    },
                }
            ],
        }
    ]
}

REF_CASES = [
    # (test on the model against the clause c, failing model fields, passing model fields)
    ("{name: {prefix: {ref: c.params.prefix}}}", {"name": "Orbit-7B"}, {"name": "orbit-7B"}),
    (
        "{name: {prefix: {ref: c.params.prefix}, ignore_case: true}}",
        {"name": "orbit-7B"},
        {"name": "7B-Orbit"},
    ),
    ("{name: {suffix: {ref: c.params.suffix}}}", {"name": "x-ORB"}, {"name": "x-orb"}),
    ("{name: {contains: {ref: c.params.part}}}", {"name": "my-orbit"}, {"name": "my-ORBIT"}),
    (
        "{name: {contains: {ref: c.params.part}, ignore_case: true}}",
        {"name": "my-ORBIT"},
        {"name": "my-orion"},
    ),
    ("{name: {eq: {ref: c.params.prefix}, ignore_case: true}}", {"name": "ORBIT"}, {"name": "O"}),
    ("{name: {ne: {ref: c.params.prefix}, ignore_case: true}}", {"name": "x"}, {"name": "orbit"}),
    ("{name: {regex: {ref: c.params.pattern}}}", {"name": "Orbit-12"}, {"name": "Orbit-12b"}),
    ("{weights: {in: {ref: c.params.weights}}}", {"weights": "gated"}, {"weights": "closed_api"}),
    (
        "{weights: {not_in: {ref: c.params.weights}}}",
        {"weights": "closed_api"},
        {"weights": "open"},
    ),
    (
        "{attributions: {intersects: {ref: c.params.phrases}}}",
        {"attributions": ["NOTICE", "Built with Orbit"]},
        {"attributions": ["built with orbit"]},
    ),
    (
        "{attributions: {intersects: {ref: c.params.phrases}, ignore_case: true}}",
        {"attributions": ["built with orbit"]},
        {"attributions": ["NOTICE"]},
    ),
    ("{not: {name: {prefix: {ref: c.params.prefix}}}}", {"name": "x"}, {"name": "Orbit-x"}),
    (
        "{attributions: {contains_all: {ref: c.params.phrases}}}",
        {"attributions": ["Improved using Orbit", "x", "Built with Orbit"]},
        {"attributions": ["Built with Orbit"]},
    ),
]


@pytest.mark.parametrize(("where", "failing", "passing"), REF_CASES)
def test_a_test_against_a_bound_value(evaluate, where: str, failing: dict, passing: dict) -> None:
    """Each operator with a reference to another record's field, in a binding's 'where'."""
    rules = policy(
        f"""
        all:
          - exists: {{as: c, kind: clause, where: {{type: name_prefix}}}}
          - exists:
              as: same
              kind: model
              where: {{all: [{{id: {{ref: model.id}}}}, {where}]}}
        """
    )
    registry = _merge(PARAMS, models({"id": "bad", **failing}, {"id": "good", **passing}))
    result = evaluate(rules, registry)
    assert result["T-1", "bad"] == Outcome.fail
    assert result["T-1", "good"] == Outcome.passed


def test_bound_value_tests_in_absent_and_review_if(evaluate) -> None:
    """A test against another record under 'absent' (negated existence) and in review_if
    (which compiles to 'when and not review_if' / 'when and review_if')."""
    rules = policy(
        """
        all:
          - exists: {as: c, kind: clause}
          - absent:
              as: other
              kind: clause
              where: {params.prefix: {eq: {ref: model.name}, ignore_case: true}}
        """,
        extra="review_if: {test: {model.name: {prefix: {ref: c.params.prefix}}}}\n",
    )
    registry = _merge(
        PARAMS,
        models(
            {"id": "a", "name": "ORBIT"},  # a clause's prefix is its name: the absence fails
            {"id": "b", "name": "orbit-7b"},  # fail
            {"id": "c", "name": "Orbit-9"},  # the prefix holds: review
        ),
    )
    result = evaluate(rules, registry)
    assert result["T-1", "a"] == Outcome.passed
    assert result["T-1", "b"] == Outcome.fail
    assert result["T-1", "c"] == Outcome.review


def test_an_invalid_pattern_from_the_data_is_an_evaluation_error(evaluate) -> None:
    registry = _merge(PARAMS, models({"id": "m", "name": "Orbit-1"}))
    registry["terms"][0]["clauses"][0]["params"]["pattern"] = "^Orbit-("
    rules = policy(
        "all: [{exists: {as: c, kind: clause}}, "
        "{test: {model.name: {regex: {ref: c.params.pattern}}}}]"
    )
    with pytest.raises(Exception, match=r"p\.yaml:\d+: policy 'T-1'.*invalid regex '\^Orbit-\('"):
        evaluate(rules, registry)


def test_conditional_requires(evaluate) -> None:
    """Indeterminate only when the condition holds and the field is missing."""
    rules = policy(
        extra="requires:\n  - field: model.owner\n    when: {test: {model.distributed: true}}\n"
    )
    result = evaluate(
        rules,
        models(
            {"id": "shipped", "distributed": True},
            {"id": "internal", "distributed": False},
            {"id": "owned", "distributed": True, "owner": "team@x"},
        ),
    )
    assert result["T-1", "shipped"] == Outcome.indeterminate
    assert result.finding("T-1", "shipped").missing == ["model.owner"]
    assert result["T-1", "internal"] == Outcome.passed
    assert result["T-1", "owned"] == Outcome.passed


@pytest.mark.parametrize(
    ("as_of", "severity", "blocking"),
    [(dt.date(2025, 6, 30), Severity.info, False), (dt.date(2025, 7, 1), Severity.high, True)],
)
def test_effective_on_stages_enforcement(
    evaluate, as_of: dt.date, severity: Severity, blocking: bool
) -> None:
    from aigov.results.findings import blocks

    rules = policy("test: {model.licence: mit}", extra="effective_on: 2025-07-01\n")
    result = evaluate(rules, models({"id": "m", "licence": "mit"}), as_of=as_of)
    finding = result.finding("T-1", "m")
    assert finding.outcome == Outcome.fail
    assert finding.severity == severity
    assert blocks(finding, Severity.high) is blocking
    assert finding.message.startswith("[staged: enforced from 2025-07-01]") is not blocking


# ----------------------------------------------------------------------------- rejected policies


BAD_POLICIES = [
    (
        "subject: {as: dep, kind: deployment, where: {enviroment: prod}}",
        "",
        "deployment has no field 'enviroment' (did you mean 'environment'?)",
    ),
    ("{kind: model}", "test: {model.name: {regex: '^Llama('}}", "invalid regex"),
    ("{kind: model}", "test: {model.weights: semi-open}", "'semi-open' is not one of"),
    ("{kind: model}", "test: {model.release_date: {gt: 5}}", "expected a date"),
    ("{kind: model}", "test: {model.name: {between: [1, 2]}}", "unknown operator 'between'"),
    ("{kind: model}", "exists: {as: x, kind: modle}", "unknown record kind 'modle'"),
    ("{kind: model}", "test: {nobody.name: x}", "'nobody' is not bound here"),
    ("{kind: model}", "test: {model.name: {eq: {ref: model.release_date}}}", "cannot compare"),
    (
        "{kind: model}",
        "test: {model.attributions: {contains: {ref: model.tags}}}",
        "'contains' compares a list with one value, but model.tags is a list",
    ),
    (
        "{kind: model}",
        "all: [{exists: {as: c, kind: clause}}, {test: {model.attributions: {contains: {ref: c.params.phrases}}}}]",
        "c.params.phrases is free-form (it may hold a list)",
    ),
    (
        "{kind: model}",
        "test: {model.release_date: {lt: 2025-01-01, ignore_case: true}}",
        "'ignore_case' applies to text",
    ),
    ("{kind: model}", "test: {model.name: {ignore_case: true}}", "none is given"),
    (
        "{kind: model}",
        "test: {model.name: {exists: true, ignore_case: true}}",
        "'ignore_case' does not apply to 'exists'",
    ),
    (
        "{kind: model}",
        "test: {model.name: {prefix: Llama, ignore_case: 1}}",
        "'ignore_case' takes true or false",
    ),
    (
        "{kind: model}",
        "test: {model.attributions: {prefix: Built}}",
        "operator 'prefix' does not apply to attributions",
    ),
    (
        "{kind: model}",
        "test: {model.name: {in: {ref: model.provider}}}",
        "'in' with a reference takes a list field",
    ),
    (
        "{kind: model}",
        "test: {model.tags: {intersects: {ref: model.name}}}",
        "'intersects' with a reference takes a list field",
    ),
    ("{kind: model}", "test: {model.name: {prefix: {ref: model.release_date}}}", "cannot compare"),
    # an alias bound in only one branch of 'any', or to different kinds, stays inside it
    (
        "{kind: model}",
        "all: [{any: [{exists: {as: u, kind: model}}, {test: {model.name: x}}]},"
        " {test: {u.name: y}}]",
        "'u' is not bound here",
    ),
    (
        "{kind: model}",
        "all: [{any: [{exists: {as: u, kind: model}}, {exists: {as: u, kind: dataset}}]},"
        " {test: {u.name: y}}]",
        "'u' is not bound here",
    ),
]


@pytest.mark.parametrize(("subject", "when", "message"), BAD_POLICIES)
def test_invalid_policy_is_rejected_with_file_and_line(
    tmp_path: Path, subject: str, when: str, message: str
) -> None:
    text = policy(when, subject=subject if subject.startswith("{") else "{kind: model}")
    if not subject.startswith("{"):
        text = text.replace("    subject: {kind: model}", "    " + subject)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_policies([tmp_path], include_builtin=False)
    rendered = caught.value.render()
    assert message in rendered
    line = int(rendered.split(f"{path}:")[1].split(":")[0])
    assert line >= 9  # the subject/when lines, not the top of the file
    assert "policy 'T-1'" in rendered


def test_template_errors_and_unknown_names_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(policy("test: {model.id: x}", message="{{ model.name "))
    (tmp_path / "b.yaml").write_text(
        policy("test: {model.id: x}", pid="T-2", message="{{ modle.name }}")
    )
    with pytest.raises(InputError) as caught:
        load_policies([tmp_path], include_builtin=False)
    rendered = caught.value.render()
    assert "2 errors" in rendered
    assert "a.yaml:8: policy 'T-1': field 'message': template syntax error" in rendered
    assert (
        "b.yaml:8: policy 'T-2': field 'message': template uses unknown name(s) modle" in rendered
    )


def test_duplicate_policy_ids_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(policy("test: {model.id: x}"))
    (tmp_path / "b.yaml").write_text(policy("test: {model.id: y}"))
    with pytest.raises(InputError, match="duplicate policy id"):
        load_policies([tmp_path], include_builtin=False)


def test_a_derivation_without_an_id_is_named_by_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(
        textwrap.dedent("""\
        derivations:
          - description: no id here
            fields: {m: model.id}
            when: {test: {model.name: x}}
        """)
    )
    with pytest.raises(InputError) as caught:
        load_policies([tmp_path], include_builtin=False)
    rendered = caught.value.render()
    assert f"{path}:2: derivation: field 'id': required field is missing" in rendered
    assert "None" not in rendered


def test_message_template_cannot_reach_python_internals(evaluate) -> None:
    result = evaluate(
        policy(
            "test: {model.id: m}",
            message="x{{ ''.__class__.__mro__ }}{{ model.__class__ }}{{ model.name }}",
        ),
        models({"id": "m"}),
    )
    message = result.finding("T-1", "m").message
    assert "<class" not in message and "object" not in message
    assert message == "test (message template error: SecurityError)"


# ----------------------------------------------------------------------------- determinism


def test_two_audits_give_identical_json(tmp_path: Path) -> None:
    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "a.yaml").write_text(COVERAGE_POLICY)
    (pdir / "b.yaml").write_text(LINEAGE_POLICY.replace("id: T-1", "id: T-2"))
    rfile = tmp_path / "r.yaml"
    rfile.write_text(
        yaml.safe_dump(
            _merge(
                BASE,
                models({"id": "m"}, {"id": "s"}),
                _deployments({"id": "d", "model": "m"}),
                {"lineage": [{"child": "s", "parent": "base", "relation": "finetune"}]},
            )
        )
    )
    with open_registry(f"sqlite:///{tmp_path / 'd.db'}", create=True) as reg:
        import_paths(reg, [rfile])
        first = audit(reg, load_policies([pdir]), AS_OF).model_dump_json()
        second = audit(reg, load_policies([pdir]), AS_OF).model_dump_json()
    assert first == second
    assert '"T-1"' in first and '"T-2"' in first


# ----------------------------------------------------------------------------- engine limits


def test_many_join_rules_are_sharded_under_the_engines_alpha_limit(tmp_path: Path) -> None:
    """durable-rules fails (error 303) once one fact satisfies more than 64 alpha children of
    a node; 90 policies that each join approvals to the deployment must still evaluate."""
    pdir = tmp_path / "many"
    pdir.mkdir()
    for n in range(90):
        (pdir / f"p{n}.yaml").write_text(
            policy(
                subject="{as: dep, kind: deployment}",
                pid=f"MANY-{n:03d}",
                when=f"""
            exists:
              as: appr
              kind: approval
              where: {{model: {{ref: dep.model}}, approver: {{ne: "board-{n}"}}}}
            """,
            )
        )
    rfile = tmp_path / "r.yaml"
    rfile.write_text(
        yaml.safe_dump(
            _merge(
                BASE,
                models({"id": "m"}, {"id": "n"}),
                _approval(approver="board-7"),
                _deployments({"id": "d", "model": "m"}, {"id": "e", "model": "n"}),
            )
        )
    )
    policy_set = load_policies([pdir], include_builtin=False)
    compiled = compile_policies(policy_set, AS_OF)
    assert len(compiled.shards) >= 2
    with open_registry(f"sqlite:///{tmp_path / 'many.db'}", create=True) as reg:
        import_paths(reg, [rfile])
        result = audit(reg, policy_set, AS_OF)
    failing = {f.policy for f in result.findings if f.subject == "d" and f.outcome == Outcome.fail}
    assert failing == {f"MANY-{n:03d}" for n in range(90)} - {"MANY-007"}
    assert not [f for f in result.findings if f.subject == "e"]  # model n has no approval


@pytest.mark.parametrize("closed_at", [None, "2025-01-15", "2025-03-01"])
def test_ordering_joins_with_a_missing_field(evaluate, closed_at: str | None) -> None:
    """A comparison with a missing field is false (durable-rules would abort with error 311
    without the compiler's guards), in a positive binding, under 'absent' and under 'not'."""
    investigation = {
        "id": "i1",
        "subject": "acme",
        "authority": "X",
        "authority_type": "regulator",
        "allegation": "y",
        "status": "closed_unsubstantiated",
        "opened_at": "2025-01-01",
    }
    if closed_at:
        investigation["closed_at"] = closed_at
    registry = _merge(
        models({"id": "m1"}),
        {"investigations": [investigation]},
        {"approvals": [{"id": "a1", "model": "m1", "approver": "b", "granted_at": "2025-02-01"}]},
    )
    rules = (
        policy(
            pid="POS",
            when="""
    all:
      - exists: {as: inv, kind: investigation}
      - exists: {as: appr, kind: approval, where: {granted_at: {ge: {ref: inv.closed_at}}}}
    """,
        )
        + policy(
            pid="ABSENT",
            when="""
    all:
      - exists: {as: inv, kind: investigation}
      - absent: {as: appr, kind: approval, where: {granted_at: {ge: {ref: inv.closed_at}}}}
    """,
        ).removeprefix("policies:\n")
        + policy(
            pid="NOT",
            when="""
    all:
      - exists: {as: inv, kind: investigation}
      - exists: {as: appr, kind: approval}
      - not: {test: {appr.granted_at: {ge: {ref: inv.closed_at}}}}
    """,
        ).removeprefix("policies:\n")
    )
    result = evaluate(rules, registry)
    granted_after_close = closed_at is not None and closed_at <= "2025-02-01"
    assert result["POS", "m1"] == (Outcome.fail if granted_after_close else Outcome.passed)
    assert result["ABSENT", "m1"] == (Outcome.passed if granted_after_close else Outcome.fail)
    assert result["NOT", "m1"] == (Outcome.passed if granted_after_close else Outcome.fail)


def test_explain_of_a_failed_policy_with_review_if_shows_only_what_held(tmp_path: Path) -> None:
    from aigov.api.explain import explain
    from aigov.reports.explain import render_text

    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "p.yaml").write_text(
        LINEAGE_POLICY.replace("derived_from]", "derived_from, distillation]")
        + textwrap.indent("review_if:\n  test: {clause.ambiguity: {exists: true}}\n", "    ")
    )
    terms = [
        dict(
            BASE["terms"][0],
            clauses=[{"section": "2(c)(iii)", "type": "prohibits_competing_use_of_outputs"}],
        )
    ]
    registry = _merge(
        {k: v for k, v in BASE.items() if k != "terms"},
        {"terms": terms},
        models({"id": "student"}),
        {"lineage": [{"child": "student", "parent": "gpt", "relation": "distillation"}]},
    )
    rfile = tmp_path / "r.yaml"
    rfile.write_text(yaml.safe_dump(registry))
    with open_registry(f"sqlite:///{tmp_path / 'e.db'}", create=True) as reg:
        import_paths(reg, [rfile])
        explanations = explain(
            reg, "student", "T-1", load_policies([pdir], include_builtin=False), as_of=AS_OF
        )
    text = render_text(explanations, AS_OF)
    assert "T-1 [high] FAIL - model student" in text
    assert "absent:" not in text and "Not)" not in text and "not all of" not in text
    assert "1. student (model) --distillation--> gpt (model)" in text


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("retir", "retired", True),  # durable-rules' own automaton rejects this one
        ("^llama\\b", "llama 3", True),
        ("[^a-c]", "abc", False),
        ("(?i)BUILT WITH", "Built with Llama", True),
    ],
)
def test_regex_is_python_re_search(evaluate, pattern: str, name: str, matches: bool) -> None:
    rules = policy(f"test: {{model.name: {{regex: {json.dumps(pattern)}}}}}")
    result = evaluate(rules, models({"id": "m", "name": name}))
    assert result["T-1", "m"] == (Outcome.fail if matches else Outcome.passed)


def test_a_rule_joining_more_records_than_the_engine_allows_is_rejected(tmp_path: Path) -> None:
    bindings = "\n".join(f"  - exists: {{as: d{n}, kind: deployment}}" for n in range(16))
    (tmp_path / "p.yaml").write_text(policy("all:\n" + bindings))
    with pytest.raises(
        InputError, match=r"joins 18 records; the engine's limit is 16 \(error 304\)"
    ):
        compile_policies(load_policies([tmp_path], include_builtin=False), AS_OF)
