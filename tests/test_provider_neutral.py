"""The shipped library names no provider and no licence text (aigov issue #12, item 8).

Every provider-specific duty reads its parameters (name prefix, attribution phrases,
family, threshold) from the typed clause's ``params``: (a) no condition of a shipped policy
or derivation holds a literal that is a provider's id, alias or name, or a clause's
parameter text, of the example registry; (b) renaming providers in the example registry
changes no outcome.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aigov.compile.compiler import compile_policies
from aigov.evaluate.outcomes import PartitionEvaluator
from aigov.evaluate.pipeline import iter_partitions, resolve_models
from aigov.policy.ast import All, AnyOf, Bind, Condition, Not, Ref
from aigov.policy.ast import Test as FieldTest
from aigov.policy.loader import load_policies
from aigov.registry.operations import import_paths
from aigov.registry.store import open_registry
from aigov.results.findings import Outcome
from aigov.results.severity import Severity
from aigov.shipped import shipped

AS_OF = dt.date(2025, 6, 1)
EXAMPLES = shipped("examples")
# clause params whose values are the clause schema's vocabulary, not licence text: a policy
# may test them (``params.match: any`` selects choose-one attribution clauses)
VOCABULARY = {"match", "measured_at"}
RENAMED = {"meta": "meta-platforms", "alibaba-qwen": "qwen-team", "openai": "openai-opco"}


def _example(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)


def forbidden_literals() -> set[str]:
    """Provider ids, aliases and names, and the text of every clause parameter."""
    data = _example("providers-and-terms.yaml")
    out: set[str] = set()
    for provider in data["providers"]:
        out |= {provider["id"], provider["name"], *provider.get("aliases", [])}
    for terms in data["terms"]:
        for clause in terms.get("clauses", []):
            params = clause.get("params") or {}
            out |= set(_texts({k: v for k, v in params.items() if k not in VOCABULARY}))
    return {text.casefold() for text in out if len(text) > 1}


def literals(node: Condition) -> Iterator[tuple[FieldTest, str]]:
    """Every literal text operand of a condition (references are no literals)."""
    if isinstance(node, FieldTest):
        if not isinstance(node.value, Ref):
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            for value in values:
                if isinstance(value, str):
                    yield node, value
    elif isinstance(node, All | AnyOf):
        for item in node.items:
            yield from literals(item)
    elif isinstance(node, Not):
        yield from literals(node.item)
    elif isinstance(node, Bind):
        yield from literals(node.where)


def shipped_conditions() -> Iterator[tuple[str, Condition]]:
    policy_set = load_policies([shipped("policies")], include_builtin=False)
    for policy in policy_set.policies:
        yield f"{policy.id} subject.where", policy.subject.where
        yield f"{policy.id} when", policy.when
        yield f"{policy.id} review_if", policy.review_if
        for requirement in policy.requires:
            yield f"{policy.id} requires", requirement.when
    for derivation in policy_set.derivations:
        yield f"derivation {derivation.id}", derivation.when


def test_the_walk_sees_a_provider_literal() -> None:
    """The check below can fail: a condition naming a provider is caught."""
    test = FieldTest("clause", "provider", "eq", "meta", None, 1)  # type: ignore[arg-type]
    found = [value for _, value in literals(Not(All((test,))))]
    assert found == ["meta"] and "meta" in forbidden_literals()


def test_no_shipped_condition_names_a_provider_or_a_clause_text() -> None:
    forbidden = forbidden_literals()
    assert {"meta", "alibaba-qwen", "built with llama", "llama"} <= forbidden
    named = [
        f"{where}: {test.describe()} (line {test.line})"
        for where, condition in shipped_conditions()
        for test, value in literals(condition)
        if value.casefold() in forbidden
        or (test.op == "regex" and any(text in value.casefold() for text in forbidden))
    ]
    assert not named, "\n".join(named)


def _renamed(value: Any) -> Any:
    if isinstance(value, str):
        return RENAMED.get(value, value)
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    if isinstance(value, dict):
        return {key: _renamed(item) for key, item in value.items()}
    return value


def _outcomes(tmp_path: Path, registry_dir: Path) -> dict[tuple[str, str], Outcome]:
    url = f"sqlite:///{tmp_path / (registry_dir.name + '.db')}"
    compiled = compile_policies(load_policies(), AS_OF)
    evaluate = PartitionEvaluator(compiled, Severity.high)
    outcomes: dict[tuple[str, str], Outcome] = {}
    with open_registry(url, create=True) as registry:
        import_paths(registry, [registry_dir])
        for partition in iter_partitions(registry, compiled, resolve_models(registry)):
            outcomes.update(evaluate(partition).outcomes)
    return outcomes


@pytest.fixture(scope="module")
def renamed_outcomes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    tmp = tmp_path_factory.mktemp("neutral")
    original = tmp / "original"
    shutil.copytree(EXAMPLES, original, ignore=shutil.ignore_patterns("*.md"))
    renamed = tmp / "renamed"
    renamed.mkdir()
    for path in sorted(original.glob("*.yaml")):
        data = _renamed(yaml.safe_load(path.read_text(encoding="utf-8")))
        (renamed / path.name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return _outcomes(tmp, original), _outcomes(tmp, renamed)


def test_the_rename_reaches_the_registry() -> None:
    text = (EXAMPLES / "providers-and-terms.yaml").read_text(encoding="utf-8")
    data = _renamed(yaml.safe_load(text))
    ids = {provider["id"] for provider in data["providers"]}
    assert set(RENAMED.values()) <= ids and not set(RENAMED) & ids


def test_renaming_providers_changes_no_outcome(renamed_outcomes: tuple[dict, dict]) -> None:
    original, renamed = renamed_outcomes
    assert original and set(original) == set(renamed)
    changed = {
        key: (original[key], renamed[key]) for key in original if original[key] != renamed[key]
    }
    assert not changed
    # the duties that used to name a provider still fire on the example registry
    fired = {policy for (policy, _), outcome in renamed.items() if outcome == Outcome.fail}
    assert {"TOS-004", "TOS-005", "TOS-007"} <= fired
