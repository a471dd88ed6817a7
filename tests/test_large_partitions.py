"""Large partitions: a model with many lineage parents, and a long lineage chain.

The benchmark shapes of bench/generate.py (``wide``, ``chain``; bench/lineage.py measures
them at 10,000 parents and 1,000 models) at a size a test can afford. Lineage walks are
computed outside the engine from the origins rules can bind (aigov.evaluate.reach), and a
finding lists at most MAX_EVIDENCE matches, the shortest lineage paths first: these tests
check that both give the findings the registry calls for, with the evidence they rest on.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from aigov.api.explain import explain
from aigov.evaluate.outcomes import MAX_EVIDENCE
from aigov_testing.cli import Cli

AS_OF = "2025-06-01"


def _audit(cli: Cli, generator: Any, shape: str, models: int) -> dict[str, Any]:
    generator.write(generator.SHAPES[shape](models, 7), cli.cwd / "registry")
    assert cli("registry", "import", "registry").exit_code == 0
    audited = cli("audit", "--as-of", AS_OF, "-q", "--no-record", "--format", "json")
    assert audited.exit_code == 1, audited.stderr
    return json.loads(audited.stdout)


def _explained(folder: Path, model: str) -> dict[str, Any]:
    """``aigov explain MODEL --policy TOS-004``'s finding (every match, none omitted)."""
    [entry] = explain(
        f"sqlite:///{folder / 'aigov.db'}", model, "TOS-004", as_of=dt.date.fromisoformat(AS_OF)
    )
    assert entry.finding is not None
    return entry.finding.model_dump(mode="json")


def test_a_model_with_hundreds_of_parents_lists_the_shortest_matches(
    tmp_path: Path, bench_generator: Any
) -> None:
    cli = Cli(tmp_path)
    registry = bench_generator.generate_wide(300, 7)
    # one Llama-licensed ancestor two hops away, behind a parent under a permissive licence:
    # a match with a longer path than every direct parent's, so the cap leaves it out
    registry["models"] += [
        {"id": "via-parent", "name": "Via", "provider": "prov-00003", "licence": "mit"},
        {"id": "far-llama", "name": "Far", "provider": "prov-00001", "licence": "terms-prov-00001"},
    ]
    registry["lineage"] += [
        {"child": "model-000000", "parent": "via-parent", "relation": "merge", "evidence": "e"},
        {"child": "via-parent", "parent": "far-llama", "relation": "finetune", "evidence": "e"},
    ]
    bench_generator.write(registry, tmp_path / "registry")
    assert cli("registry", "import", "registry").exit_code == 0
    audited = cli("audit", "--as-of", AS_OF, "-q", "--no-record", "--format", "json")
    assert audited.exit_code == 1, audited.stderr
    report = json.loads(audited.stdout)
    (tos004,) = [
        f for f in report["findings"] if f["policy"] == "TOS-004" and f["model"] == "model-000000"
    ]
    upstreams = {
        r["id"] for m in tos004["evidence"] for r in m["records"] if r["role"] == "upstream"
    }
    # the parents under a licence with a name_prefix clause: odd ids (generate_wide), each a
    # direct weight or outputs parent of the root, and far-llama
    restricted = {
        e["parent"]
        for e in registry["lineage"]
        if e["child"] == "model-000000"
        and e["relation"] in ("merge", "finetune", "distillation")
        and e["parent"].startswith("model-")
        and int(e["parent"].rsplit("-", 1)[1]) % 2 == 1
    }
    assert len(tos004["evidence"]) == MAX_EVIDENCE
    assert upstreams <= restricted  # the listed ones: direct parents, one hop
    assert all(len(m["path"]) <= 1 for m in tos004["evidence"])
    listed_and_omitted = len(tos004["evidence"]) + tos004["evidence_omitted"]
    assert listed_and_omitted >= len(restricted) + 1  # far-llama is counted, not listed
    assert "far-llama" not in upstreams

    finding = _explained(tmp_path, "model-000000")
    assert finding["evidence_omitted"] == 0
    every = {r["id"] for m in finding["evidence"] for r in m["records"] if r["role"] == "upstream"}
    assert restricted | {"far-llama"} <= every
    far = [m for m in finding["evidence"] for r in m["records"] if r["id"] == "far-llama"]
    assert far and [s["parent"] for s in far[0]["path"]] == ["via-parent", "far-llama"]


WEIGHTS = {"finetune", "adapter", "quantized", "merge", "continued_pretraining"}
OUTPUTS = {"distillation", "trained_on_outputs"}


def _built_from(model: str, parent_of: dict[str, tuple[str, str]]) -> set[str]:
    """The language's reading of derivation built_from on a chain: the ancestors reached
    through weight edges, and the teacher of the first outputs edge on that way up."""
    out: set[str] = set()
    node = model
    while node in parent_of:
        relation, parent = parent_of[node]
        out.add(parent)
        if relation not in WEIGHTS:
            break  # an outputs hop: the teacher, but not what the teacher was built from
        node = parent
    return out


def test_every_model_of_a_long_chain_is_judged_by_its_whole_ancestry(
    tmp_path: Path, bench_generator: Any
) -> None:
    """A chain of 80 models under the Llama licence, every one distributed: those not named
    "Llama ..." (even ids) are built from an ancestor whose licence requires the prefix -
    except model 0, the licensor's own, which has no ancestor."""
    cli = Cli(tmp_path)
    registry = bench_generator.generate_chain(80, 7)
    parent_of = {e["child"]: (e["relation"], e["parent"]) for e in registry["lineage"]}
    assert {r for r, _ in parent_of.values()} & OUTPUTS  # the chain has outputs hops
    report = _audit(cli, bench_generator, "chain", 80)
    tos004 = {f["model"]: f for f in report["findings"] if f["policy"] == "TOS-004"}
    assert sorted(tos004) == [f"model-{i:06d}" for i in range(2, 80, 2)]
    assert all(1 <= len(f["evidence"]) <= MAX_EVIDENCE for f in tos004.values())
    assert any(f["evidence_omitted"] for f in tos004.values())
    # the deepest models: every upstream the language reaches, and nothing else
    for index in (78, 76, 54):
        model = f"model-{index:06d}"
        every = _explained(tmp_path, model)["evidence"]
        upstreams = {r["id"] for m in every for r in m["records"] if r["role"] == "upstream"}
        assert upstreams == _built_from(model, parent_of), model
        # the audit lists the matches with the shortest paths and counts the rest
        listed = tos004[model]
        assert len(listed["evidence"]) + listed["evidence_omitted"] == len(every)
        shortest = sorted(len(m["path"]) for m in every)[: len(listed["evidence"])]
        assert sorted(len(m["path"]) for m in listed["evidence"]) == shortest
    assert {m["id"] for m in report["models"]} == {f"model-{i:06d}" for i in range(80)}
