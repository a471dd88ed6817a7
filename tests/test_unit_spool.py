"""``ResultSpool``: partition results collected on disk, read back as a stream or as the
materialised ``AuditResult`` (which must equal the in-memory ``build_result``)."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from aigov.compile.compiler import compile_policies
from aigov.compile.rules import CompiledPolicies
from aigov.evaluate.outcomes import PartitionEvaluator, PartitionResult, policy_catalogue
from aigov.evaluate.pipeline import (
    audit,
    audit_to_spool,
    build_result,
    compute_registry_digest,
    iter_partitions,
    resolve_models,
    spool_entry,
)
from aigov.policy.loader import load_policies
from aigov.registry.operations import import_paths
from aigov.registry.store import Registry, open_registry
from aigov.results.findings import (
    AuditResult,
    InvestigationInfo,
    ModelResult,
    Outcome,
    WaiverInfo,
)
from aigov.results.severity import Severity
from aigov.results.spool import ResultSpool
from aigov_testing.registry_data import write_registry_file
from aigov_testing.reports import CLI_POLICIES

AS_OF = dt.date(2025, 6, 1)
FAIL_ON = Severity.high


class Audited:
    """The sample registry audited with a small policy set, partition by partition."""

    def __init__(self, root: Path, registry: Registry):
        policies = root / "policies"
        policies.mkdir()
        (policies / "p.yaml").write_text(CLI_POLICIES)
        self.policy_set = load_policies([policies])
        self.compiled: CompiledPolicies = compile_policies(self.policy_set, AS_OF)
        self.registry = registry
        self.digest = compute_registry_digest(registry)
        evaluate = PartitionEvaluator(self.compiled, FAIL_ON)
        self.results: list[PartitionResult] = [
            evaluate(p) for p in iter_partitions(registry, self.compiled, resolve_models(registry))
        ]

    def spool(self, directory: Path | None = None) -> ResultSpool:
        return new_spool(self.compiled, self.digest, directory)


def new_spool(
    compiled: CompiledPolicies, digest: str | None = None, directory: Path | None = None
) -> ResultSpool:
    return ResultSpool(
        as_of=compiled.as_of,
        fail_on=FAIL_ON,
        policy_digest=compiled.policy_set.digest,
        policies=policy_catalogue(compiled.policy_set),
        registry_digest=digest,
        directory=directory,
    )


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    root = tmp_path_factory.mktemp("spool")
    registry_file = write_registry_file(root, "registry.yaml")  # the sample registry
    with open_registry(f"sqlite:///{root / 'aigov.db'}", create=True) as registry:
        import_paths(registry, [registry_file])
        yield Audited(root, registry)


# ----------------------------------------------------------------------------- the real audit


def test_the_sample_audit_has_findings_waivers_and_a_shared_investigation(
    audited: Audited,
) -> None:
    # what the other tests rely on
    assert [r.model.id for r in audited.results] == ["deepseek-r1", "gpt-4o", "r1-distill-qwen-7b"]
    assert [(f.model, f.policy, f.outcome) for r in audited.results for f in r.findings] == [
        ("deepseek-r1", "TOS-001", Outcome.review),
        ("gpt-4o", "GOV-001", Outcome.fail),
        ("r1-distill-qwen-7b", "GOV-001", Outcome.fail),
        ("r1-distill-qwen-7b", "HOST-001", Outcome.waived),
        ("r1-distill-qwen-7b", "TOS-001", Outcome.review),
    ]
    assert [[i.id for i in r.investigations] for r in audited.results] == [
        ["inv-openai-deepseek"],
        [],
        ["inv-openai-deepseek"],
    ]


def test_materialised_result_equals_build_result(audited: Audited) -> None:
    with audited.spool() as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
        materialised = spool.result()
    in_memory = build_result(audited.compiled, audited.results, FAIL_ON, audited.digest)
    assert isinstance(materialised, AuditResult)
    assert materialised == in_memory
    assert materialised.model_dump_json() == in_memory.model_dump_json()
    assert in_memory.registry_digest == audited.digest
    assert [i.model_dump() for i in in_memory.investigations] == [
        {
            "id": "inv-openai-deepseek",
            "subject": "deepseek",
            "authority": "OpenAI",
            "authority_type": "vendor_internal",
            "allegation": "use of API outputs to train a competing model",
            "status": "open",
            "opened_at": dt.date(2025, 1, 29),
            "confidence": "declared",
            "models": ["deepseek-r1", "r1-distill-qwen-7b"],
            "hosted_models": ["deepseek-r1", "r1-distill-qwen-7b"],
        }
    ]


def test_audit_to_spool_equals_audit(audited: Audited) -> None:
    spool = audit_to_spool(audited.registry, audited.policy_set, AS_OF)
    try:
        spooled = spool.result()
    finally:
        spool.close()
    assert spooled == audit(audited.registry, audited.policy_set, AS_OF, registry_digest=True)


def test_counts_and_blocking_models(audited: Audited) -> None:
    with audited.spool() as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
        assert spool.model_count == 3
        assert spool.finding_count == 5
        # per (policy, subject): every applicable policy counts, passes included
        assert spool.result().counts == {
            Outcome.fail: 2,
            Outcome.review: 2,
            Outcome.indeterminate: 0,
            Outcome.waived: 1,
            Outcome.passed: 7,
            Outcome.not_applicable: 0,
        }
        assert spool.by_severity == Counter(
            {
                (Outcome.review, Severity.high): 2,
                (Outcome.fail, Severity.low): 2,
                (Outcome.waived, Severity.critical): 1,
            }
        )
        # TOS-001 (high, review) blocks at fail_on=high; GOV-001 (low) does not
        assert spool.blocked == [
            ("deepseek-r1", "DeepSeek R1", 1),
            ("r1-distill-qwen-7b", "R1 Distill Qwen 7B", 1),
        ]
        blocking = (Outcome.fail, Outcome.review)
        assert spool.count_at_or_above(blocking, Severity.high) == 2
        assert spool.count_at_or_above(blocking, Severity.low) == 4
        assert spool.count_at_or_above((Outcome.waived,), Severity.critical) == 1
        assert spool.count_at_or_above((Outcome.indeterminate,), Severity.info) == 0
        assert [w.id for w in spool.waivers] == ["waiver-7b-dev"]


def test_the_json_and_text_reports_stream_a_spool_without_materialising_it(
    audited: Audited, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spooled result of any size goes to JSON or text without being held in memory (the
    JSON renderer once fell back to the materialised result: 1 GB for a 1,000-model chain)."""
    import io

    from aigov.reports import RENDERERS
    from aigov.results.json_stream import write_result

    with audited.spool() as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
        expected = io.StringIO()
        write_result(
            build_result(audited.compiled, audited.results, FAIL_ON, audited.digest), expected
        )

        def refuse() -> AuditResult:
            raise AssertionError("the spool was materialised")

        monkeypatch.setattr(spool, "_materialise", refuse)
        for name in ("json", "text"):
            out = io.StringIO()
            RENDERERS[name].write(spool, out)
            assert out.getvalue(), name
        written = io.StringIO()
        RENDERERS["json"].write(spool, written)
        assert written.getvalue() == expected.getvalue()


def test_streams_read_back_what_was_added(audited: Audited) -> None:
    with audited.spool() as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
        models = [r.model for r in audited.results]
        findings = [f for r in audited.results for f in r.findings]
        assert list(spool.iter_models()) == models
        assert list(spool.iter_findings()) == findings
        assert [line.rstrip("\n") for line in spool.model_lines()] == [
            m.model_dump_json() for m in models
        ]
        assert [line.rstrip("\n") for line in spool.finding_lines()] == [
            f.model_dump_json() for f in findings
        ]
        # streams can be read more than once
        assert len(list(spool.iter_models())) == 3


def test_result_is_built_once(audited: Audited) -> None:
    with audited.spool() as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
        assert spool.result() is spool.result()


# ----------------------------------------------------------------------------- model order


def test_entries_must_arrive_in_model_order(audited: Audited) -> None:
    first, second, third = (spool_entry(r, FAIL_ON) for r in audited.results)
    with audited.spool() as spool:
        spool.add(second)
        with pytest.raises(ValueError, match="must arrive in model order"):
            spool.add(first)
        with pytest.raises(ValueError, match="must arrive in model order"):
            spool.add(second)  # the same model twice
        # a rejected entry leaves nothing behind
        assert spool.model_count == 1
        assert spool.finding_count == 1
        assert [m.id for m in spool.iter_models()] == ["gpt-4o"]
        spool.add(third)
        assert [m.id for m in spool.result().models] == ["gpt-4o", "r1-distill-qwen-7b"]


# ----------------------------------------------------------------------------- merging


def investigation(
    iid: str, models: list[str], hosted: list[str], **extra: str
) -> InvestigationInfo:
    fields = {
        "id": iid,
        "subject": "acme",
        "authority": "Regulator",
        "authority_type": "regulator",
        "allegation": "something",
        "status": "open",
        "opened_at": dt.date(2025, 1, 1),
        "confidence": "declared",
        "models": models,
        "hosted_models": hosted,
    }
    return InvestigationInfo(**{**fields, **extra})


def waiver(wid: str, model: str, reason: str) -> WaiverInfo:
    return WaiverInfo(
        id=wid,
        policy="HOST-001",
        subject=f"dep-{model}",
        model=model,
        reason=reason,
        approved_by="ciso",
        granted_at=dt.date(2025, 1, 1),
        expires_at=dt.date(2026, 1, 1),
        expired=False,
    )


def partition(
    model: str,
    investigations: list[InvestigationInfo] = (),  # type: ignore[assignment]
    waivers: list[WaiverInfo] = (),  # type: ignore[assignment]
) -> PartitionResult:
    return PartitionResult(
        model=ModelResult(id=model, name=model.upper(), status="clean"),
        findings=[],
        outcomes={("GOV-001", model): Outcome.passed},
        waivers=list(waivers),
        investigations=list(investigations),
    )


def test_investigations_are_merged_across_models_and_sorted(audited: Audited) -> None:
    a_second = investigation("inv-2", ["a"], ["a"])
    results = [
        partition("a", [a_second, investigation("inv-1", ["a"], [])]),
        partition("b", [investigation("inv-2", ["b"], [])]),
        partition(
            "c", [investigation("inv-3", ["c"], ["c"]), investigation("inv-2", ["c"], ["c"])]
        ),
    ]
    with new_spool(audited.compiled) as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in results)
        assert [(i.id, i.models, i.hosted_models) for i in spool.investigations] == [
            ("inv-1", ["a"], []),
            ("inv-2", ["a", "b", "c"], ["a", "c"]),
            ("inv-3", ["c"], ["c"]),
        ]
        assert spool.result().investigations == spool.investigations
        assert spool.result().counts[Outcome.passed] == 3
    assert (a_second.models, a_second.hosted_models) == (["a"], ["a"])  # inputs unchanged
    in_memory = build_result(audited.compiled, results, FAIL_ON)
    assert in_memory.investigations == spool.investigations


def test_models_of_a_merged_investigation_are_sorted() -> None:
    results = [
        partition("a", [investigation("inv-1", ["z", "a"], ["z"])]),
        partition("b", [investigation("inv-1", ["m", "b"], ["b", "a"])]),
    ]
    with ResultSpool(as_of=AS_OF, fail_on=FAIL_ON, policy_digest="p", policies=[]) as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in results)
        ((_, models, hosted),) = [(i.id, i.models, i.hosted_models) for i in spool.investigations]
    assert models == ["a", "b", "m", "z"]
    assert hosted == ["a", "b", "z"]


def test_waivers_are_kept_once_by_id_and_sorted() -> None:
    results = [
        partition("a", waivers=[waiver("w-2", "a", "first"), waiver("w-1", "a", "one")]),
        partition("b", waivers=[waiver("w-2", "b", "second")]),
    ]
    with ResultSpool(as_of=AS_OF, fail_on=FAIL_ON, policy_digest="p", policies=[]) as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in results)
        assert [(w.id, w.reason) for w in spool.waivers] == [("w-1", "one"), ("w-2", "second")]


# ----------------------------------------------------------------------------- the directory


def spool_dirs(root: Path) -> list[Path]:
    return sorted(root.glob("aigov-spool-*"))


def test_own_directory_is_removed_on_close(
    audited: Audited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spool = audited.spool()
    spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
    (directory,) = spool_dirs(tmp_path)
    assert sorted(p.name for p in directory.iterdir()) == ["findings.jsonl", "models.jsonl"]
    assert len((directory / "models.jsonl").read_text().splitlines()) == 3
    assert len((directory / "findings.jsonl").read_text().splitlines()) == 5
    spool.close()
    assert spool_dirs(tmp_path) == []


def test_context_manager_closes(
    audited: Audited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with audited.spool() as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
        assert len(spool_dirs(tmp_path)) == 1
    assert spool_dirs(tmp_path) == []


def test_a_given_directory_is_kept(audited: Audited, tmp_path: Path) -> None:
    directory = tmp_path / "mine"
    directory.mkdir()
    with audited.spool(directory) as spool:
        spool.extend(spool_entry(r, FAIL_ON) for r in audited.results)
    assert sorted(p.name for p in directory.iterdir()) == ["findings.jsonl", "models.jsonl"]
    assert len((directory / "models.jsonl").read_text().splitlines()) == 3
