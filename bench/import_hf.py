"""Benchmark: 10,000 synthetic Hugging Face model cards imported into a new SQLite registry
as ``aigov registry import --from hf`` does (read, map, validate, merge, write), then
imported again (an idempotent re-import: nothing changes).

    python bench/import_hf.py [--cards 10000] [--runs 3]

Prints the median of each stage over the runs. Target: 10k cards in 30 s (read + import).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aigov.registry.operations import import_loaded, import_source, read_source
from aigov.registry.store import open_registry

LICENCES = ["apache-2.0", "mit", "llama3.1", "gemma", "cc-by-nc-4.0", None]
RELATIONS = [None, "finetune", "adapter", "quantized", "merge"]
ORGS = 200


def card(index: int) -> str:
    """One card: a licence (or other + license_name, or none), base models among the cards
    already written and outside, datasets, sometimes a gate."""
    lines = ["---"]
    licence = LICENCES[index % len(LICENCES)]
    if index % 17 == 0:
        lines += ["license: other", f"license_name: custom-licence-{index % 5}"]
    elif licence:
        lines.append(f"license: {licence}")
    relation = RELATIONS[index % len(RELATIONS)]
    if index and relation == "merge":
        lines += [
            "base_model:",
            f"- org{(index - 1) % ORGS}/model-{index - 1}",
            "- external/base-a",
        ]
    elif index:
        lines.append(f"base_model: org{(index * 7) % ORGS}/model-{(index * 7) % index}")
    if relation and relation != "merge" and index:
        lines.append(f"base_model_relation: {relation}")
    lines += ["datasets:", f"- data{index % 50}/set-{index % 300}"]
    lines += ["pipeline_tag: text-generation", "language:", "- en", "tags:", "- synthetic"]
    if index % 11 == 0:
        lines.append("extra_gated_prompt: Accept the licence to access this model.")
    lines += ["---", f"Synthetic card {index}.", ""]
    return "\n".join(lines)


def write_cards(root: Path, count: int) -> None:
    for index in range(count):
        folder = root / f"org{index % ORGS}__model-{index}"
        folder.mkdir()
        (folder / "README.md").write_text(card(index), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"read": [], "import": [], "total": [], "re-import": []}
    with tempfile.TemporaryDirectory() as tmp:
        cards = Path(tmp) / "cards"
        cards.mkdir()
        write_cards(cards, args.cards)
        for run in range(args.runs):
            start = time.perf_counter()
            # what `aigov registry import --from hf` does: read and map the cards, validate
            # them as registry records, then merge with the registry and write
            loaded, problems, imported = read_source("hf", [str(cards)])
            read = time.perf_counter()
            if problems:
                print(*problems[:10], sep="\n", file=sys.stderr)
                return 1
            with open_registry(f"sqlite:///{tmp}/run{run}.db", create=True) as registry:
                report = import_loaded(registry, loaded, imported=imported)
                end = time.perf_counter()
                again = import_source(registry, "hf", [str(cards)])
                assert again.changes == 0, again
            times["read"].append(read - start)
            times["import"].append(end - read)
            times["total"].append(end - start)
            times["re-import"].append(time.perf_counter() - end)
    print(f"{args.cards:,} cards, {report.records:,} records, {args.runs} runs")
    for stage, values in times.items():
        print(f"  {stage:<9} median {statistics.median(values):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
