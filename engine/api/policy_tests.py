"""Policy tests: fixture registries with expected outcomes (``aigov policy test``).

A test file (``*.test.yaml`` next to the policies) looks like::

    as_of: 2025-06-01
    registry:                 # records shared by every case (registry-file format)
      providers: [...]
      models: [...]
    cases:
      - name: production deployment without an approval fails
        registry: {deployments: [...]}   # more records for this case only
        expect:
          - policy: HOST-001
            subject: dep-1
            outcome: fail
            evidence: [dep-1]            # record ids that must appear in the evidence
            path: [edge-1, edge-2]       # optional: the lineage path, in order
            message_contains: no approval

Each case builds a fresh SQLite registry from its records, audits it with the whole policy
set, and checks every expectation: the outcome *and* the evidence, as Cedar's test runner
checks the deciding policies and not just the decision.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from aigov.documents import Document, _child, iter_input_files, load_file, validation_problems
from aigov.errors import InputError, Problem
from aigov.evaluate.pipeline import Pipeline
from aigov.policy.ast import PolicySet
from aigov.policy.loader import BUILTIN_POLICIES, TEST_SUFFIXES, load_policies
from aigov.registry.interchange import validate_documents
from aigov.registry.operations import import_loaded
from aigov.registry.store import open_registry
from aigov.results.findings import Finding, Outcome
from aigov.results.policy_tests import CaseResult, TestReport

FAILING = {Outcome.fail, Outcome.review, Outcome.indeterminate}


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str
    subject: str
    outcome: Literal["fail", "review", "indeterminate", "waived", "pass", "not_applicable"]
    evidence: list[str] = []
    path: list[str] | None = None
    missing: list[str] | None = None
    message_contains: str | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    as_of: dt.date | None = None
    registry: dict[str, Any] = {}
    expect: list[Expectation]


class TestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: dt.date | None = None
    registry: dict[str, Any] = {}
    cases: list[Case]


def _sub_document(document: Document, path: tuple[Any, ...], data: Any) -> Document:
    """A registry document embedded in a test file, keeping the test file's line numbers."""
    document.line_of(())  # composes the node tree if it was parsed as JSON
    node = document._node
    for step in path:
        found = _child(node, step) if node is not None else None
        node = found[0] if found else None
    return Document(document.file, data, document.line_of(path), _node=node)


def _check(finding: Finding | None, expected: Expectation) -> list[str]:
    actual = finding.outcome.value if finding else "pass"
    errors = []
    if actual != expected.outcome:
        shown = f"{actual}" + (f" ({finding.message})" if finding else "")
        errors.append(
            f"{expected.policy} on {expected.subject}: expected {expected.outcome}, got {shown}"
        )
        return errors
    if finding is None:
        return errors
    ids = {r.id for m in finding.evidence for r in m.records}
    ids |= {s.parent for m in finding.evidence for s in m.path}
    ids |= {s.edge for m in finding.evidence for s in m.path}
    if finding.waiver:
        ids.add(finding.waiver.id)
    absent = [i for i in expected.evidence if i not in ids]
    if absent:
        errors.append(
            f"{expected.policy} on {expected.subject}: evidence lacks {', '.join(absent)} "
            f"(has {', '.join(sorted(ids)) or 'nothing'})"
        )
    if expected.path is not None:
        paths = [[s.edge for s in m.path] for m in finding.evidence]
        if expected.path not in paths:
            errors.append(
                f"{expected.policy} on {expected.subject}: path {expected.path} not found "
                f"(paths: {paths})"
            )
    if expected.missing is not None and sorted(expected.missing) != finding.missing:
        errors.append(
            f"{expected.policy} on {expected.subject}: missing {finding.missing}, "
            f"expected {sorted(expected.missing)}"
        )
    if expected.message_contains and expected.message_contains not in finding.message:
        errors.append(
            f"{expected.policy} on {expected.subject}: message {finding.message!r} does not "
            f"contain {expected.message_contains!r}"
        )
    return errors


def run_case(
    policy_set: PolicySet,
    document: Document,
    spec: TestFile,
    index: int,
    workdir: Path,
    pipelines: dict[dt.date, Pipeline] | None = None,
) -> CaseResult:
    """Run one case. ``pipelines`` caches the compiled policies and evaluator per as_of
    date across cases (compiling and loading the rulesets is most of a case's cost; an
    evaluator keeps no state between partitions, so sharing one is safe)."""
    case = spec.cases[index]
    case_path = ("cases", index)
    result = CaseResult(document.file, document.line_of(case_path), case.name)
    documents = [_sub_document(document, ("registry",), {k: v for k, v in spec.registry.items()})]
    if case.registry:
        documents.append(_sub_document(document, (*case_path, "registry"), case.registry))
    loaded, problems = validate_documents(documents)
    if problems:
        raise InputError(problems, f"invalid fixture records in test case '{case.name}'")
    db = workdir / f"case{index}.db"
    as_of = case.as_of or spec.as_of or dt.date.today()
    cache = {} if pipelines is None else pipelines
    if as_of not in cache:
        cache[as_of] = Pipeline(policy_set, as_of)
    pipeline = cache[as_of]
    findings: dict[tuple[str, str], Finding] = {}
    outcomes: dict[tuple[str, str], Outcome] = {}
    with open_registry(f"sqlite:///{db}", create=True) as registry:
        import_loaded(registry, loaded)
        for partition in pipeline.partitions(registry, pipeline.model_ids(registry)):
            evaluated = pipeline.evaluate(partition)
            outcomes.update(evaluated.outcomes)
            findings.update({(f.policy, f.subject): f for f in evaluated.findings})
    known = {p.id for p in policy_set.policies}
    for expected in case.expect:
        key = (expected.policy, expected.subject)
        if expected.policy not in known:
            result.failures.append(f"unknown policy '{expected.policy}'")
        elif key not in outcomes:
            result.failures.append(
                f"{expected.policy}: no subject '{expected.subject}' of kind "
                f"{policy_set.by_id()[expected.policy].subject.kind} in the fixture"
            )
        elif expected.outcome == "not_applicable":
            if outcomes[key] != Outcome.not_applicable:
                result.failures.append(
                    f"{expected.policy} on {expected.subject}: expected not_applicable, "
                    f"got {outcomes[key].value}"
                )
        else:
            result.failures += _check(findings.get(key), expected)
    return result


def test_files(paths: list[Path], include_builtin: bool) -> list[tuple[Path, str]]:
    files = [(p, label) for p, label in iter_input_files(paths) if p.name.endswith(TEST_SUFFIXES)]
    builtin_tests = BUILTIN_POLICIES.with_name("governance.test.yaml")
    if include_builtin and builtin_tests.exists():
        files.insert(0, (builtin_tests, "<builtin>/governance.test.yaml"))
    return files


def run_policy_tests(
    paths: list[Path] | None = None, *, require_tests: bool = False, include_builtin: bool = True
) -> TestReport:
    """Run every ``*.test.yaml`` under ``paths`` against the policies under ``paths``."""
    from aigov.shipped import shipped

    roots = [Path(p) for p in paths] if paths else [shipped("policies")]
    policy_set = load_policies(roots, include_builtin=include_builtin)
    results: list[CaseResult] = []
    coverage: dict[str, set[str]] = {p.id: set() for p in policy_set.policies}
    problems: list[Problem] = []
    pipelines: dict[dt.date, Pipeline] = {}
    with tempfile.TemporaryDirectory(prefix="aigov-policy-test-") as tmp:
        for file_index, (path, label) in enumerate(test_files(roots, include_builtin)):
            try:
                documents = load_file(path, label)
            except InputError as exc:
                problems += exc.problems
                continue
            for document in documents:
                try:
                    spec = TestFile.model_validate(document.data)
                except ValidationError as exc:
                    problems += validation_problems(exc, document, (), "policy test")
                    continue
                workdir = Path(tmp) / f"f{file_index}-{document.start_line}"
                workdir.mkdir()
                for index in range(len(spec.cases)):
                    try:
                        result = run_case(policy_set, document, spec, index, workdir, pipelines)
                    except InputError as exc:
                        problems += exc.problems
                        continue
                    results.append(result)
                    if result.ok:
                        for expected in spec.cases[index].expect:
                            coverage.setdefault(expected.policy, set()).add(expected.outcome)
    if problems:
        raise InputError(problems, "invalid policy tests")
    missing = []
    if require_tests:
        for policy in policy_set.policies:
            outcomes = coverage.get(policy.id, set())
            if not (outcomes & {o.value for o in FAILING}) or "pass" not in outcomes:
                missing.append(policy.id)
    return TestReport(results, coverage, sorted(missing))
